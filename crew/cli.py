"""The ``healcrew`` command line.

Exit codes: 0 ok, 1 the run finished without a fix (or found no crash), 2 bad input, 124 the
run's ``--timeout`` passed, 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM. Errors are one
line on stderr; a traceback is shown only with HEALCREW_DEBUG=1.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from crew import __version__
from crew.errors import BadInputError, HealcrewError
from crew.escape import terminal

app = typer.Typer(
    name="healcrew",
    help="From a crash-looping Python service to a tested, reviewed fix.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the records as JSON on stdout.")]


def cache_dir() -> Path:
    """Where materialized example repos and sandbox images' inputs are kept."""
    return Path(os.environ.get("HEALCREW_CACHE") or Path.home() / ".cache" / "healcrew")


def _finish(state: object, as_json: bool, out_dir: Path | None) -> None:
    from crew.flow import FlowState, to_report
    from crew.render import show_diagnosis, show_evidence
    from crew.report import PatchLeakError, print_json, public, write_fix, write_report

    assert isinstance(state, FlowState)
    raw = to_report(state)
    if state.delivery is None and state.accepted is not None and out_dir is not None:
        try:
            write_fix(raw, out_dir)  # the exact validated patch (delivery wrote it already otherwise)
        except PatchLeakError as exc:
            state.stopped_at, state.error, state.exit_code = "delivery", str(exc), exc.exit_code
            raw = to_report(state)
    # Everything below is shown or written from the redacted report only.
    report = public(raw)
    del raw
    if out_dir is not None:
        json_path, _ = write_report(report, out_dir)
        if not as_json:
            err.print(f"report written to {terminal(json_path.parent, markup=False)}", markup=False, highlight=False)
    if as_json:
        print_json(report)
    elif report.stopped_at is None:
        if report.evidence:
            show_evidence(out, report.evidence)
        if report.diagnosis:
            show_diagnosis(out, report.diagnosis)
    if report.stopped_at is not None:
        err.print(f"healcrew: {terminal(report.error, markup=False)}", style="red", markup=False, highlight=False)
        raise typer.Exit(state.exit_code or 1)
    if state.repair_enabled:
        if not as_json:
            from crew.render import show_repair

            show_repair(out, report)
            _show_delivery(report)
        if state.accepted is None:
            raise typer.Exit(1)


def _show_delivery(report: object) -> None:
    from crew.handoffs import RunReport

    assert isinstance(report, RunReport)
    record = report.delivery
    if record is None:
        return
    for note in record.notes:
        err.print(f"delivery: {terminal(note)}", highlight=False)
    pr = record.pull_request
    if record.pushed:
        out.print(f"Branch [bold]{terminal(record.branch)}[/] at {(record.commit or '')[:12]} on "
                  f"{terminal(record.remote)}", highlight=False)
    if pr is not None:
        what = "opened" if pr.created else ("updated" if record.pushed else pr.state)
        number = f" #{pr.number}" if pr.number is not None else ""
        draft = " (draft)" if pr.draft else ""
        out.print(f"Pull request{number}{draft} {what}: {terminal(pr.url)}", highlight=False)


def _reporter(as_json: bool) -> object:
    from crew.progress import RichReporter, SilentReporter

    return SilentReporter() if as_json else RichReporter(err)


@app.command()
def diagnose(
    log: Annotated[Path, typer.Option("--log", help="Log file holding the crash (text, JSON lines, Loki JSON).")],
    repo: Annotated[Path, typer.Option("--repo", help="The service's git repository.")],
    commit: Annotated[str, typer.Option("--commit", help="Deployed commit (sha or ref).")] = "HEAD",
    as_json: JsonOpt = False,
) -> None:
    """Find the line that broke: extract the crash from the log and locate it in the repo."""
    from crew.bundle import incident_from_log
    from crew.flow import run_stages
    from crew.repo import GitRepo

    GitRepo(repo, commit)  # fail fast on a bad repo or commit, before reading the log
    incident = incident_from_log(repo, log, commit)
    state = run_stages(incident, _reporter(as_json), use_crewai=False)  # type: ignore[arg-type]
    _finish(state, as_json, None)


SandboxOpt = Annotated[
    str, typer.Option("--sandbox", help="Where repo code runs: docker, process (bubblewrap, weaker isolation) or auto "
                                "(docker; never falls back to running repo code outside a container).")
]
PythonOpt = Annotated[str | None, typer.Option(
    "--python", help="Run the repo on Python X.Y in the sandbox instead of the one read from the repository "
    "(requires-python, classifiers, .python-version, tox.ini, CI).", show_default=False)]
AttemptsOpt = Annotated[int, typer.Option("--max-attempts", min=1, max=10, help="Bound of the revise loop.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write report.json and report.md here.")]


DeliverOpt = Annotated[
    str | None, typer.Option("--deliver", help="Deliver an accepted fix: local (default), github or none.",
                             show_default=False),
]
RemoteOpt = Annotated[
    str | None, typer.Option("--remote", help="Push the fix's branch to this git remote: a remote name or a URL/path "
                             "(without it nothing is pushed; the review bundle is written to --out).")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Operator config file (YAML, key delivery:), outside the repo; "
                              "default $HEALCREW_CONFIG. Credentials, endpoints and remotes come only from here "
                              "and the flags.", show_default=False),
]


DEFAULT_TIMEOUT = 1800.0
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", min=1.0, help="Stop the whole run after this many seconds: exit 124, with a report saying where.")]
BrainOpt = Annotated[str, typer.Option(
    "--brain", help="offline, llm (Claude; needs ANTHROPIC_API_KEY) or auto (llm when the key is set).")]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="The llm brain's model (default $HEALCREW_LLM_MODEL, else claude-sonnet-4-5).", show_default=False)]


def _brain(brain: str, model: str | None, as_json: bool) -> tuple[str, dict[str, Any] | None]:
    """The brain, resolved before any work: ``--brain llm`` without a key is a one-line error."""
    from crew.brain.choice import resolve_brain

    chosen, settings, note = resolve_brain(brain, model=model)
    if not as_json:
        err.print(note, markup=False, highlight=False)
    return chosen, settings.model_dump() if settings is not None else None


BudgetOpt = Annotated[float | None, typer.Option(
    "--budget", min=1.0, help="Seconds the whole repair may take; no sandbox run starts that it cannot pay for.",
    show_default=False)]


def _bounded(command: Callable[..., None]) -> Callable[..., None]:
    """Run a repairing command bounded: its deadline, its own temp folder, a report however it stops.

    Leftovers of runs that were killed (``kill -9``) are swept first.
    """

    @functools.wraps(command)
    def bounded(**params: Any) -> None:
        from crew.flow import stopped_state
        from sandbox import signals
        from sandbox.sweep import owned_tempdir

        timeout, sandbox, as_json = params["timeout"], params["sandbox"], params["as_json"]
        _sweep(sandbox)
        expired = signals.StopReason(f"timed out after {timeout:g} s (--timeout)", signals.EXIT_TIMEOUT)
        with signals.stop_guard(hard_exit=False), signals.deadline(timeout, expired), owned_tempdir() as tmp:
            undo = [signals.add_emergency(lambda: _stopped_report(as_json)),
                    signals.add_cleanup(lambda: _rmtree(tmp))]
            if sandbox != "process":
                undo.append(signals.add_cleanup(_remove_own_containers))
            try:
                command(**params)
            except signals.Interrupted as exc:  # stopped outside a stage: before the flow or between stages
                state = stopped_state(exc.reason)
                if state is None or state.out_dir is None:
                    raise
                try:
                    _finish(state, as_json, Path(state.out_dir))
                except typer.Exit as done:
                    raise typer.Exit(done.exit_code) from None
                raise
            finally:
                for remove in undo:
                    remove()

    return bounded


def _stopped_report(as_json: bool) -> None:
    """The report of a run whose stage is stuck, written just before the process is made to exit."""
    import contextlib

    from crew.flow import stopped_state
    from sandbox.signals import stop_reason

    reason = stop_reason()
    state = stopped_state(reason) if reason is not None else None
    if state is not None and state.out_dir is not None:
        with contextlib.suppress(typer.Exit):
            _finish(state, as_json, Path(state.out_dir))


def _sweep(sandbox: str) -> None:
    """Remove containers and temp folders of healcrew runs whose owner is gone or whose deadline passed."""
    from sandbox.sweep import sweep_containers, sweep_tempdirs

    sweep_tempdirs()
    if sandbox == "process":
        return
    from sandbox.docker_backend import connect
    from sandbox.errors import SandboxError

    try:
        client = connect(10, ping_timeout=2)
    except SandboxError:
        return  # no engine: nothing of ours can be running in it
    try:
        sweep_containers(client)
    except Exception:  # the sweep is housekeeping; an engine hiccup must not stop the run
        pass
    finally:
        client.close()


def _remove_own_containers() -> None:
    from sandbox.docker_backend import connect
    from sandbox.sweep import remove_own_containers

    client = connect(5, ping_timeout=1)
    try:
        remove_own_containers(client)
    finally:
        client.close()


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _check_sandbox(sandbox: str, python: str | None = None) -> None:
    if sandbox not in ("docker", "process", "auto"):
        raise BadInputError(f"--sandbox must be docker, process or auto, not {sandbox!r}")
    import re

    if python is not None and not re.fullmatch(r"3\.\d{1,2}", python):
        raise BadInputError(f"--python must be a version such as 3.11, not {python!r}")


def _delivery_settings(repo_path: Path, commit: str, deliver: str | None, remote: str | None,
                       config: Path | None = None) -> tuple[str | None, dict[str, object] | None, list[str]]:
    """(forge or None, DeliveryConfig fields, notes): see ``crew.delivery.settings``.

    Nothing is pushed unless the operator named a remote (``--remote``, the operator config, or
    ``--deliver github``); a materialized example pushes to healcrew's own demo remote.
    """
    from crew.delivery.settings import delivery_settings

    settings = delivery_settings(repo_path, commit, deliver, remote, config, cache_dir())
    return settings.forge, settings.config, settings.notes


@app.command()
@_bounded
def run(
    repo: Annotated[Path, typer.Option("--repo", help="The service's git repository.")],
    log: Annotated[Path, typer.Option("--log", help="Log file holding the crash.")],
    commit: Annotated[str, typer.Option("--commit", help="Deployed commit (sha or ref).")] = "HEAD",
    test_cmd: Annotated[str | None, typer.Option("--test-cmd", help="The repo's test command.")] = None,
    out_dir: OutOpt = None,
    sandbox: SandboxOpt = "auto",
    python: PythonOpt = None,
    max_attempts: AttemptsOpt = 3,
    deliver: DeliverOpt = None,
    remote: RemoteOpt = None,
    config: ConfigOpt = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    budget: BudgetOpt = None,
    brain: BrainOpt = "auto",
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Diagnose, repair, validate in the sandbox, critique and deliver: any git repo plus a log."""
    from crew.bundle import incident_from_log
    from crew.flow import run_stages
    from crew.repo import GitRepo

    chosen, llm_settings = _brain(brain, model, as_json)
    _check_sandbox(sandbox, python)
    GitRepo(repo, commit)
    forge, delivery_config, note = _delivery_settings(repo, commit, deliver, remote, config)
    incident = incident_from_log(repo, log, commit, test_cmd).model_copy(
        update={"repair_budget": budget, "sandbox_python": python})
    out_dir = out_dir or Path("out") / incident.id
    state = run_stages(incident, _reporter(as_json), repair=True, sandbox=sandbox,  # type: ignore[arg-type]
                       max_attempts=max_attempts, deliver=forge, delivery_config=delivery_config, out_dir=out_dir,
                       brain=chosen, llm_settings=llm_settings)
    _skipped(state, note, as_json)
    _finish(state, as_json, out_dir)


def _skipped(state: object, notes: list[str], as_json: bool) -> None:
    """Record the delivery settings' notes (ignored repo settings, the demo remote) as policy decisions."""
    from crew.flow import FlowState

    assert isinstance(state, FlowState)
    for note in notes:
        if note not in state.policy_decisions:
            state.policy_decisions.append(note)
            if not as_json:
                err.print(f"policy: {terminal(note, markup=False)}", markup=False, highlight=False)


@app.command()
@_bounded
def replay(
    bundle: Annotated[Path, typer.Argument(help="Incident bundle folder (holds incident.yaml).")],
    out_dir: OutOpt = None,
    sandbox: SandboxOpt = "auto",
    python: PythonOpt = None,
    max_attempts: AttemptsOpt = 3,
    diagnose_only: Annotated[bool, typer.Option("--diagnose-only", help="Stop after the diagnosis.")] = False,
    deliver: DeliverOpt = None,
    remote: RemoteOpt = None,
    config: ConfigOpt = None,
    repo_path: Annotated[Path | None, typer.Option(
        "--repo", help="The service's repository, instead of the bundle's repo.path (which must stay inside "
        "the bundle unless it is a healcrew example tree).", show_default=False)] = None,
    log_path: Annotated[Path | None, typer.Option(
        "--log", help="The log file, instead of the bundle's logs.", show_default=False)] = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    budget: BudgetOpt = None,
    brain: BrainOpt = "auto",
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-run a past incident from a saved bundle, through repair, reflection and delivery."""
    from crew.bundle import load_bundle
    from crew.flow import run_stages

    chosen, llm_settings = _brain(brain, model, as_json)
    _check_sandbox(sandbox, python)
    incident = load_bundle(bundle, cache_dir(), repo=repo_path, log=log_path).model_copy(
        update={"repair_budget": budget, **({"sandbox_python": python} if python else {})})
    forge, delivery_config, note = (None, None, []) if diagnose_only else _delivery_settings(
        Path(incident.repo), incident.commit, deliver, remote, config)
    out_dir = out_dir or Path("out") / incident.id
    state = run_stages(incident, _reporter(as_json), repair=not diagnose_only,  # type: ignore[arg-type]
                       sandbox=sandbox, max_attempts=max_attempts, deliver=forge, delivery_config=delivery_config,
                       out_dir=out_dir, brain=chosen, llm_settings=llm_settings)
    _skipped(state, note, as_json)
    _finish(state, as_json, out_dir)


@app.command()
def version() -> None:
    """Print healcrew's version."""
    print(__version__)


pr_app = typer.Typer(help="Look at and act on the pull request of a run.", no_args_is_help=True)
RunArg = Annotated[Path, typer.Argument(help="A run's output folder, or its report.json.")]


def _load_run(run_path: Path) -> tuple[Path, object]:
    from pydantic import ValidationError

    from crew.handoffs import RunReport

    folder, report_file = (run_path, run_path / "report.json") if run_path.is_dir() else (run_path.parent, run_path)
    if not report_file.is_file():
        raise BadInputError(f"no report.json in {run_path}")
    try:
        report = RunReport.model_validate_json(report_file.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{report_file.name} is not a healcrew run report: {str(exc).splitlines()[0]}") from None
    return folder, report


@pr_app.command("show")
def pr_show(
    run_path: RunArg,
    raw: Annotated[bool, typer.Option("--raw", help="Print the Markdown source instead of rendering it.")] = False,
) -> None:
    """Print the pull request body as a reviewer sees it."""
    from crew.handoffs import RunReport
    from crew.report import public, public_text

    folder, report = _load_run(run_path)
    assert isinstance(report, RunReport)
    report = public(report)  # a bundle written by an older healcrew may hold secrets
    body_file = folder / "PR.md"
    if body_file.is_file():
        body = body_file.read_text(encoding="utf-8")
    elif report.delivery is not None:
        from crew.delivery.config import DeliveryConfig
        from crew.delivery.deliver import pr_body

        body = pr_body(report, report.delivery, DeliveryConfig(forge=report.delivery.forge))
    else:
        from crew.report import to_markdown

        body = to_markdown(report)
    body = public_text(body)
    if raw or not out.is_terminal:
        sys.stdout.write(body if body.endswith("\n") else body + "\n")
        return
    from rich.markdown import Markdown

    out.print(Markdown(body))


@pr_app.command("close")
def pr_close(run_path: RunArg) -> None:
    """Mark the run's local pull request closed, as a reviewer closing it would."""
    from crew.delivery import local_forge
    from crew.handoffs import RunReport

    _, report = _load_run(run_path)
    assert isinstance(report, RunReport)
    record = report.delivery
    if record is None or record.remote is None or record.pull_request is None:
        raise BadInputError(f"run {report.run_id} opened no pull request")
    if record.forge != "local":
        raise BadInputError(f"the pull request of run {report.run_id} is on {record.forge}; close it there")
    pr = local_forge.close(record.remote, report.incident.id)
    print(f"closed local PR #{pr.number} ({pr.branch}); healcrew will neither reopen it nor open a new one "
          "for this incident during the cool-down")


def _mount_subcommands() -> None:
    app.add_typer(pr_app, name="pr")
    from crew.cli_audit import audit_app

    app.add_typer(audit_app, name="audit")
    from crew.cli_serve import serve_app

    app.add_typer(serve_app, name="serve")
    try:
        from crew.cli_sandbox import sandbox_app
    except ImportError:
        return
    app.add_typer(sandbox_app, name="sandbox")


_mount_subcommands()


def _interrupt_behind(exc: BaseException) -> BaseException | None:
    """The ``KeyboardInterrupt`` typer turned into exit 130 without a word, if that is what happened."""
    seen: BaseException | None = exc
    for _ in range(8):
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__) if seen else None
        if isinstance(seen, KeyboardInterrupt):
            return seen
    return None


def main() -> None:
    """Console entry point: one line per error, the documented exit codes.

    SIGINT and SIGTERM stop a run within two seconds (``sandbox.signals``), as does ``--timeout``.
    """
    from sandbox.signals import stop_guard, stop_reason

    with stop_guard():
        try:
            app()
        except SystemExit as exc:
            interrupt = _interrupt_behind(exc)
            if interrupt is not None:
                _interrupted(interrupt)
            if stop_reason() is not None:  # stopped, reported and cleaned up: do not wait for teardown
                _exit_now(exc.code if isinstance(exc.code, int) else 1)
            raise
        except HealcrewError as exc:
            err.print(f"healcrew: {terminal(exc, markup=False)}", style="red", markup=False, highlight=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            _interrupted(exc)
        except Exception as exc:  # an unexpected bug: one line, traceback only on request
            if os.environ.get("HEALCREW_DEBUG") == "1":
                raise
            err.print(f"healcrew: internal error: {type(exc).__name__}: {terminal(exc, markup=False)} "
                      "(HEALCREW_DEBUG=1 shows more)", style="red", markup=False, highlight=False)
            sys.exit(3)


def _interrupted(exc: BaseException) -> None:
    reason = getattr(exc, "reason", None)
    err.print(f"healcrew: {reason.message if reason else 'interrupted'}", style="red", highlight=False)
    _exit_now(reason.exit_code if reason else 130)


def _exit_now(code: int) -> None:
    """Exit at once: the interpreter's teardown after importing crewai alone takes seconds.

    Only for a run told to stop, once its report is written and its containers and temp folders
    are gone; the output streams and log handlers are flushed first.
    """
    import logging

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    main()


