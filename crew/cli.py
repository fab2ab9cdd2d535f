"""The ``healcrew`` command line.

Exit codes: 0 ok, 1 the run finished without a fix (or found no crash), 2 bad input, 3 an
internal error (a bug in healcrew), 124 the run's ``--timeout`` passed, 130 interrupted by
SIGINT (Ctrl-C), 143 by SIGTERM. Every error is one line on stderr (``healcrew: ...``); a
traceback is shown only with HEALCREW_DEBUG=1.

Inputs are checked first (``crew.cli_inputs``), before any heavy import or work and before
anything is written; monitoring and diagnosis run before crewai is loaded, and the diagnosis is
shown as soon as it is known. A run that stops there because of its input (no crash in the
log, a traceback from another repository) writes no report folder: there is nothing to review.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from crew.cli_inputs import LogArgs
from crew.errors import BadInputError, HealcrewError
from crew.escape import terminal

app = typer.Typer(
    name="healcrew",
    help="From a crash-looping Python service to a tested, reviewed fix.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

INTERNAL_ERROR = 3
INPUT_STAGES = ("monitoring", "diagnostic")
"""A run that stops in these with exit 1 or 2 stopped on its input; it writes no report."""


class _Said:
    """Whether this process already printed its one error line."""

    error = False


def say_error(message: object) -> None:
    """The one error line of a command (``healcrew: ...``), redacted and made inert."""
    from crew.delivery.redact import redact

    _Said.error = True
    text = " ".join(redact(terminal(message, markup=False)).split())
    err.print(f"healcrew: {text}", style="red", markup=False, highlight=False)


def cache_dir() -> Path:
    """Where materialized example repos and sandbox images' inputs are kept."""
    return Path(os.environ.get("HEALCREW_CACHE") or Path.home() / ".cache" / "healcrew")


def _version_line() -> str:
    from crew import __version__

    return f"healcrew {__version__}"


def _print_version(value: bool) -> None:
    if value:
        print(_version_line())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_print_version, is_eager=True, help="Print healcrew's version and exit.")] = False,
) -> None:
    """From a crash-looping Python service to a tested, reviewed fix."""


@app.command()
def version() -> None:
    """Print healcrew's version."""
    print(_version_line())


# --------------------------------------------------------------------------- options

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the records as JSON on stdout.")]
RepoOpt = Annotated[Path, typer.Option("--repo", help="The service's git repository.")]
CommitOpt = Annotated[str, typer.Option("--commit", help="Deployed commit (sha or ref).")]
LogOpt = Annotated[Path | None, typer.Option(
    "--log", help="Log file holding the crash (text, JSON lines, docker json-file, Loki JSON, Sentry events).",
    show_default=False)]
AlertOpt = Annotated[Path | None, typer.Option(
    "--alert", help="The Alertmanager webhook payload (JSON) of the crash: names the pod, places the crash in time.",
    show_default=False)]
LokiOpt = Annotated[str | None, typer.Option(
    "--loki", metavar="URL", help="Fetch the logs from Loki at URL (query_range; credentials from "
    "$HEALCREW_LOKI_TOKEN, or $HEALCREW_LOKI_USERNAME and $HEALCREW_LOKI_PASSWORD).", show_default=False)]
LokiQueryOpt = Annotated[str | None, typer.Option(
    "--loki-query", metavar="LOGQL", help="LogQL selector for --loki; default: the --alert's pod.", show_default=False)]
LokiOrgOpt = Annotated[str | None, typer.Option(
    "--loki-org-id", metavar="TENANT", help="Tenant for --loki, sent as X-Scope-OrgID.", show_default=False)]
KubernetesOpt = Annotated[str | None, typer.Option(
    "--kubernetes", metavar="NAMESPACE/POD[/CONTAINER]",
    help="Read the crashed container's previous logs from the Kubernetes API (the kubeconfig, or in-cluster).",
    show_default=False)]
SandboxOpt = Annotated[
    str, typer.Option("--sandbox", help="Where repo code runs: docker, process (bubblewrap, weaker isolation) or auto "
                                "(docker; never falls back to running repo code outside a container).")
]
PythonOpt = Annotated[str | None, typer.Option(
    "--python", help="Run the repo on Python X.Y in the sandbox instead of the one read from the repository "
    "(requires-python, classifiers, .python-version, tox.ini, CI).", show_default=False)]
AttemptsOpt = Annotated[int, typer.Option("--max-attempts", min=1, max=10, help="Bound of the revise loop.")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", help="Write report.json and report.md here (default out/<incident-id>).", show_default=False)]
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
BudgetOpt = Annotated[float | None, typer.Option(
    "--budget", min=1.0, help="Seconds the whole repair may take; no sandbox run starts that it cannot pay for.",
    show_default=False)]
BrainOpt = Annotated[str, typer.Option(
    "--brain", help="offline, llm (Claude; needs ANTHROPIC_API_KEY) or auto (llm when the key is set).")]
CanaryOpt = Annotated[str, typer.Option(
    "--canary", help="After delivering a fix: a canary of it against the deployed commit, local (on this machine), "
    "argo (the cluster's Rollout; needs --canary-image) or off.")]
CanaryImageOpt = Annotated[str | None, typer.Option(
    "--canary-image", help="--canary argo: the image built from the fix's branch; the Rollout is the incident's "
    "service in its namespace, the container the incident's.", show_default=False)]
CanaryScaleOpt = Annotated[float | None, typer.Option(
    "--canary-time-scale", min=0.001, max=100.0, help="--canary local: factor on every pause, interval and range.",
    show_default=False)]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="The llm brain's model (default $HEALCREW_LLM_MODEL, else claude-sonnet-4-5).", show_default=False)]


def _brain(brain: str, model: str | None) -> tuple[str, dict[str, Any] | None, str]:
    """The brain, resolved before any work: ``--brain llm`` without a key is a one-line error.

    Returns the brain, the llm brain's settings and the line that says which brain runs and why;
    the caller prints that line once every input is checked, so a bad input stays one line.
    """
    from crew.brain.choice import resolve_brain

    chosen, settings, note = resolve_brain(brain, model=model)
    return chosen, settings.model_dump() if settings is not None else None, note


# --------------------------------------------------------------------------- commands


@app.command()
def diagnose(
    repo: RepoOpt,
    log: LogOpt = None,
    alert: AlertOpt = None,
    loki: LokiOpt = None,
    loki_query: LokiQueryOpt = None,
    loki_org_id: LokiOrgOpt = None,
    kubernetes: KubernetesOpt = None,
    commit: CommitOpt = "HEAD",
    as_json: JsonOpt = False,
) -> None:
    """Find the line that broke: extract the crash from the logs and locate it in the repo."""
    from crew import cli_inputs

    args = LogArgs(log=log, loki=loki, loki_query=loki_query, loki_org_id=loki_org_id, kubernetes=kubernetes,
                   alert=alert)
    with _starting(as_json):
        cli_inputs.check_repo(repo)
        cli_inputs.check_log_args(args)
        from crew.repo import GitRepo

        GitRepo(repo, commit)
        incident = cli_inputs.incident_for(repo, commit, args)
    from crew.flow import run_stages

    _quiet_logs()
    state = run_stages(incident, _reporter(as_json), use_crewai=False)  # type: ignore[arg-type]
    _finish(state, as_json, None)


@app.command()
def run(
    repo: RepoOpt,
    log: LogOpt = None,
    alert: AlertOpt = None,
    loki: LokiOpt = None,
    loki_query: LokiQueryOpt = None,
    loki_org_id: LokiOrgOpt = None,
    kubernetes: KubernetesOpt = None,
    commit: CommitOpt = "HEAD",
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
    canary: CanaryOpt = "off",
    canary_image: CanaryImageOpt = None,
    canary_time_scale: CanaryScaleOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Diagnose, repair, validate in the sandbox, critique and deliver: any git repo plus its logs."""
    from crew import cli_inputs

    _sweep_due(sandbox)
    args = LogArgs(log=log, loki=loki, loki_query=loki_query, loki_org_id=loki_org_id, kubernetes=kubernetes,
                   alert=alert)
    with _starting(as_json):
        chosen, llm_settings, brain_note = _brain(brain, model)
        cli_inputs.check_options(sandbox, python, deliver)
        cli_inputs.check_repo(repo)
        cli_inputs.check_out(out_dir)
        cli_inputs.check_log_args(args)
        from crew.repo import GitRepo

        GitRepo(repo, commit)
        forge, delivery_config, notes = _delivery_settings(repo, commit, deliver, remote, config)
        cli_inputs.check_delivery(forge, delivery_config, config, repo, commit)
        incident = cli_inputs.incident_for(repo, commit, args, test_cmd).model_copy(
            update={"repair_budget": budget, "sandbox_python": python})
        canary_options = _canary_options(canary, canary_image, canary_time_scale, incident, forge)
    _begin_sweep()
    _run(incident, out_dir or Path("out") / incident.id, as_json, timeout=timeout, sandbox=sandbox, notes=notes,
         brain_note=brain_note,
         repair=True, max_attempts=max_attempts, deliver=forge, delivery_config=delivery_config,
         brain=chosen, llm_settings=llm_settings, **canary_options)


@app.command()
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
    canary: CanaryOpt = "off",
    canary_image: CanaryImageOpt = None,
    canary_time_scale: CanaryScaleOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-run a past incident from a saved bundle, through repair, reflection and delivery."""
    from crew import cli_inputs

    if not diagnose_only:
        _sweep_due(sandbox)
    with _starting(as_json):
        chosen, llm_settings, brain_note = _brain(brain, model)
        cli_inputs.check_options(sandbox, python, deliver)
        cli_inputs.check_bundle(bundle)
        cli_inputs.check_out(out_dir)
        if repo_path is not None:
            cli_inputs.check_repo(repo_path)
        if log_path is not None:
            cli_inputs.check_log(log_path)
        from crew.bundle import load_bundle

        incident = load_bundle(bundle, cache_dir(), repo=repo_path, log=log_path).model_copy(
            update={"repair_budget": budget, **({"sandbox_python": python} if python else {})})
        if incident.logs is not None and incident.logs.file:
            cli_inputs.check_log(Path(incident.logs.file))
        forge, delivery_config, notes = (None, None, []) if diagnose_only else _delivery_settings(
            Path(incident.repo), incident.commit, deliver, remote, config)
        cli_inputs.check_delivery(forge, delivery_config, config, Path(incident.repo), incident.commit)
        canary_options = _canary_options("off" if diagnose_only else canary, canary_image, canary_time_scale,
                                         incident, forge)
    _begin_sweep()
    _run(incident, out_dir or Path("out") / incident.id, as_json, timeout=timeout, sandbox=sandbox, notes=notes,
         brain_note=brain_note,
         repair=not diagnose_only, max_attempts=max_attempts, deliver=forge, delivery_config=delivery_config,
         brain=chosen, llm_settings=llm_settings, **canary_options)


def _canary_options(canary: str, image: str | None, time_scale: float | None, incident: Any,
                    forge: str | None) -> dict[str, Any]:
    """The flow's canary settings, checked with the other inputs (``crew.cli_inputs`` conventions)."""
    if canary not in ("local", "argo", "off"):
        raise BadInputError(f"--canary must be local, argo or off, not {canary!r}")
    if canary == "off":
        return {}
    if forge is None:
        raise BadInputError(f"--canary {canary} runs after delivery; it cannot run with --deliver none")
    argo = None
    if canary == "argo":
        missing = [f for f, v in (("--canary-image", image), ("the incident's namespace", incident.namespace),
                                  ("its service", incident.service), ("its container", incident.container)) if not v]
        if missing:
            raise BadInputError(f"--canary argo needs {', '.join(missing)}")
        argo = {"namespace": incident.namespace, "rollout": incident.service, "container": incident.container,
                "image": image}
        from crew.canary.run import ArgoTarget, kubernetes_client

        kubernetes_client(ArgoTarget.model_validate(argo))  # no credentials: one line now, not after the repair
    return {"canary": canary, "canary_time_scale": time_scale, "canary_argo": argo}


def _delivery_settings(repo_path: Path, commit: str, deliver: str | None, remote: str | None,
                       config: Path | None = None) -> tuple[str | None, dict[str, object] | None, list[str]]:
    """(forge or None, DeliveryConfig fields, notes): see ``crew.delivery.settings``.

    Nothing is pushed unless the operator named a remote (``--remote``, the operator config, or
    ``--deliver github``); a materialized example pushes to healcrew's own demo remote.
    """
    from crew.delivery.settings import delivery_settings

    settings = delivery_settings(repo_path, commit, deliver, remote, config, cache_dir())
    return settings.forge, settings.config, settings.notes


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def _starting(as_json: bool) -> Iterator[None]:
    """A spinner while the inputs are checked and read, so a terminal shows something at once."""
    if as_json or not err.is_terminal:
        yield
        return
    with err.status("[bold]checking the inputs[/] …"):
        yield


def _quiet_logs() -> None:
    """A failed stage is said once, by the error line: the structured log's warning would repeat it.

    ``HEALCREW_LOG_LEVEL`` still turns the structured logs on.
    """
    import logging

    from crew.logs import configure_logging

    configure_logging()
    if not os.environ.get("HEALCREW_LOG_LEVEL"):
        logging.getLogger("healcrew").setLevel(logging.ERROR)


def _reporter(as_json: bool, brain_note: str | None = None) -> object:
    """Stage lines on stderr; the crash and its diagnosis on stdout the moment the diagnosis is known.

    ``brain_note`` (which brain repairs, and why) follows the diagnosis, so a bad input stays one line.
    """
    from crew.progress import RichReporter, SilentReporter

    if as_json:
        return SilentReporter()
    seen: dict[str, object] = {}

    def on_result(stage: str, value: object) -> None:
        seen[stage] = value
        if stage != "diagnostic":
            return
        from crew.delivery.redact import redact_report
        from crew.handoffs import CrashEvidence, Diagnosis
        from crew.render import show_diagnosis, show_evidence

        evidence = seen.get("monitoring")
        if isinstance(evidence, CrashEvidence):
            show_evidence(out, redact_report(evidence))
        if isinstance(value, Diagnosis):
            show_diagnosis(out, redact_report(value))
        if brain_note:
            err.print(brain_note, markup=False, highlight=False)

    return RichReporter(err, on_result, hold=INPUT_STAGES[:-1])


def _run(incident: Any, out_dir: Path, as_json: bool, *, timeout: float, sandbox: str, notes: list[str],
         brain_note: str | None = None, **stage_options: Any) -> None:
    """Run the stages bounded: the deadline, a temp folder of the run's own, a report however it stops."""
    from crew.flow import run_stages, stopped_state
    from sandbox import signals
    from sandbox.sweep import owned_tempdir

    _quiet_logs()
    expired = signals.StopReason(f"timed out after {timeout:g} s (--timeout)", signals.EXIT_TIMEOUT)
    with signals.stop_guard(hard_exit=False), signals.deadline(timeout, expired), owned_tempdir() as tmp:
        undo = [signals.add_emergency(lambda: _stopped_report(as_json)),
                signals.add_cleanup(lambda: _rmtree(tmp))]
        if sandbox != "process":
            undo.append(signals.add_cleanup(_remove_own_containers))
        try:
            state = run_stages(incident, _reporter(as_json, brain_note), sandbox=sandbox, out_dir=out_dir,  # type: ignore[arg-type]
                               **stage_options)
            _note(state, notes)
            _finish(state, as_json, out_dir, notes)
        except signals.Interrupted as exc:  # stopped outside a stage: before the flow or between stages
            stopped = stopped_state(exc.reason)
            if stopped is None or stopped.out_dir is None:
                raise
            try:
                _finish(stopped, as_json, Path(stopped.out_dir))
            except typer.Exit as done:
                raise typer.Exit(done.exit_code) from None
            raise
        finally:
            for remove in undo:
                remove()


def _note(state: object, notes: list[str]) -> None:
    """Record the delivery settings' notes (ignored repo settings, the demo remote) as policy decisions."""
    from crew.flow import FlowState

    assert isinstance(state, FlowState)
    for note in notes:
        if note not in state.policy_decisions:
            state.policy_decisions.append(note)


def _finish(state: object, as_json: bool, out_dir: Path | None, notes: list[str] | None = None) -> None:
    """Write the report, show the repair, and end with the documented exit code."""
    from crew.flow import FlowState, to_report
    from crew.report import PatchLeakError, print_json, public, write_fix, write_report

    assert isinstance(state, FlowState)
    raw = to_report(state)
    on_input = state.stopped_at in INPUT_STAGES and state.exit_code in (1, 2)
    if state.delivery is None and state.accepted is not None and out_dir is not None:
        try:
            write_fix(raw, out_dir)  # the exact validated patch (delivery wrote it already otherwise)
        except PatchLeakError as exc:
            state.stopped_at, state.error, state.exit_code = "delivery", str(exc), exc.exit_code
            raw = to_report(state)
    # Everything below is shown or written from the redacted report only.
    report = public(raw)
    del raw
    written: Path | None = None
    if out_dir is not None and not on_input:
        json_path, _ = write_report(report, out_dir)
        written = json_path.parent
    if as_json:
        print_json(report)
    if report.stopped_at is not None:
        where = "" if written is None else f" (stopped in {report.stopped_at}; report in {written})"
        say_error(f"{report.error}{where}")
        raise typer.Exit(state.exit_code or 1)
    if not as_json:
        for note in notes or []:
            err.print(f"policy: {terminal(note, markup=False)}", markup=False, highlight=False)
        if state.repair_enabled:
            from crew.render import show_repair

            show_repair(out, report)
            _show_delivery(report)
            if report.canary is not None and report.canary.decision == "promoted":
                out.print(f"Canary promoted: {terminal(report.canary.reason, markup=False)}", highlight=False)
        if written is not None:
            err.print(f"report written to {terminal(written, markup=False)}", markup=False, highlight=False)
    if state.repair_enabled and state.accepted is None:
        raise typer.Exit(1)
    if report.canary is not None and report.canary.decision != "promoted":
        say_error(f"canary {report.canary.decision.replace('_', ' ')}: {report.canary.reason}")
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


def _stopped_report(as_json: bool) -> None:
    """The report of a run whose stage is stuck, written just before the process is made to exit."""
    from crew.flow import stopped_state
    from sandbox.signals import stop_reason

    reason = stop_reason()
    state = stopped_state(reason) if reason is not None else None
    if state is not None and state.out_dir is not None:
        with contextlib.suppress(typer.Exit):
            _finish(state, as_json, Path(state.out_dir))


class _Sweeper:
    sandbox: str | None = None
    thread: threading.Thread | None = None


SWEEP_WAIT = 10.0
"""Seconds the process waits at exit for the start-up sweep (bounded by its engine timeouts)."""


def _sweep_due(sandbox: str) -> None:
    """Every run sweeps the leftovers of killed runs (``kill -9``), even one that fails on its input."""
    _Sweeper.sandbox = sandbox


def _begin_sweep() -> None:
    """Start the sweep in a daemon thread once the inputs are checked: housekeeping must delay
    neither the run nor an error line. It only removes what belongs to runs whose process is gone
    or whose deadline passed, so it cannot race this run's own containers and folders.
    """
    import tempfile

    if _Sweeper.sandbox is None or _Sweeper.thread is not None:
        return
    base = Path(tempfile.gettempdir())  # before the run's own temp folder becomes the default
    _Sweeper.thread = threading.Thread(target=_sweep, args=(_Sweeper.sandbox, base), name="healcrew-sweep",
                                       daemon=True)
    _Sweeper.thread.start()


def _end_sweep() -> None:
    """At exit: wait for the sweep, or make it now when the run ended before it started."""
    _begin_sweep()
    if _Sweeper.thread is not None:
        _Sweeper.thread.join(SWEEP_WAIT)


def _sweep(sandbox: str, base: Path | None = None) -> None:
    """Remove containers and temp folders of healcrew runs whose owner is gone or whose deadline passed."""
    from sandbox.sweep import sweep_containers, sweep_tempdirs

    sweep_tempdirs(base)
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


# --------------------------------------------------------------------------- sub-commands and main


def _mount_subcommands() -> None:
    from crew.cli_pr import pr_app

    app.add_typer(pr_app, name="pr")
    from crew.cli_audit import audit_app

    app.add_typer(audit_app, name="audit")
    from crew.cli_serve import serve_app

    app.add_typer(serve_app, name="serve")
    from crew.cli_canary import canary_app

    app.add_typer(canary_app, name="canary")
    from crew.cli_workflow import stage_cmd, workflow_app

    app.add_typer(workflow_app, name="workflow")
    app.command("stage", hidden=True)(stage_cmd)  # what each Argo Workflow step runs
    try:
        from crew.cli_sandbox import sandbox_app
    except ImportError:
        return
    app.add_typer(sandbox_app, name="sandbox")


_mount_subcommands()


def main() -> None:
    """Console entry point: one line per error, the documented exit codes.

    Typer runs without its own error handling, so a usage error is one line here too. SIGINT
    and SIGTERM stop a run within two seconds (``sandbox.signals``), as does ``--timeout``.
    """
    from typer._click.exceptions import ClickException

    from sandbox.signals import stop_guard, stop_reason

    with stop_guard():
        try:
            code = app(standalone_mode=False)
        except ClickException as exc:
            _usage_error(exc)
        except HealcrewError as exc:
            say_error(exc)
            _exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            _interrupted(exc)
        except Exception as exc:  # an unexpected bug: one line, traceback only on request
            if os.environ.get("HEALCREW_DEBUG") == "1":
                raise
            say_error(f"internal error: {type(exc).__name__}: {exc} (HEALCREW_DEBUG=1 shows more)")
            _exit(INTERNAL_ERROR)
        code = code if isinstance(code, int) else 0
        reason = stop_reason()
        if reason is not None:  # stopped, reported and cleaned up: do not wait for teardown
            if not _Said.error:  # typer turned the interrupt into an exit code without a word
                say_error(reason.message)
                code = reason.exit_code
            _exit_now(code)
        _exit(code)


def _exit(code: int) -> None:
    _end_sweep()
    sys.exit(code)


def _usage_error(exc: Any) -> None:
    """A usage error of the command line, as one line (the help is one ``--help`` away)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        message = exc.format_message()
        if message.strip():
            exc.show()
        sys.exit(exc.exit_code)
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    say_error(f"{exc.format_message()}{hint}")
    sys.exit(exc.exit_code)


def _interrupted(exc: BaseException) -> None:
    reason = getattr(exc, "reason", None)
    if not _Said.error:
        say_error(reason.message if reason else "interrupted")
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
