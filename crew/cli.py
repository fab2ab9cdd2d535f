"""The ``healcrew`` command line.

Exit codes: 0 ok, 1 the run finished without a fix (or found no crash), 2 bad input. Errors
are one line on stderr; a traceback is shown only with HEALCREW_DEBUG=1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crew import __version__
from crew.errors import BadInputError, HealcrewError

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
    from crew.report import write_report

    assert isinstance(state, FlowState)
    report = to_report(state)
    if state.accepted is not None and out_dir is not None:
        from crew.report import write_fix

        write_fix(report, out_dir)
    if out_dir is not None:
        json_path, _ = write_report(report, out_dir)
        if not as_json:
            err.print(f"report written to {json_path.parent}", highlight=False)
    if as_json:
        print(report.model_dump_json(indent=2))
    elif state.stopped_at is None:
        if state.evidence:
            show_evidence(out, state.evidence)
        if state.diagnosis:
            show_diagnosis(out, state.diagnosis)
    if state.stopped_at is not None:
        err.print(f"healcrew: {state.error}", style="red", highlight=False)
        raise typer.Exit(state.exit_code or 1)
    if state.repair_enabled:
        if not as_json:
            from crew.render import show_repair

            show_repair(out, report)
        if state.accepted is None:
            raise typer.Exit(1)


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
    str, typer.Option("--sandbox", help="Where repo code runs: docker, process (weaker isolation) or auto.")
]
AttemptsOpt = Annotated[int, typer.Option("--max-attempts", min=1, max=10, help="Bound of the revise loop.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write report.json and report.md here.")]


def _check_sandbox(sandbox: str) -> None:
    if sandbox not in ("docker", "process", "auto"):
        raise BadInputError(f"--sandbox must be docker, process or auto, not {sandbox!r}")


@app.command()
def run(
    repo: Annotated[Path, typer.Option("--repo", help="The service's git repository.")],
    log: Annotated[Path, typer.Option("--log", help="Log file holding the crash.")],
    commit: Annotated[str, typer.Option("--commit", help="Deployed commit (sha or ref).")] = "HEAD",
    test_cmd: Annotated[str | None, typer.Option("--test-cmd", help="The repo's test command.")] = None,
    out_dir: OutOpt = None,
    sandbox: SandboxOpt = "auto",
    max_attempts: AttemptsOpt = 3,
    as_json: JsonOpt = False,
) -> None:
    """Diagnose, repair, validate in the sandbox and critique: any git repo plus a log."""
    from crew.bundle import incident_from_log
    from crew.flow import run_stages
    from crew.repo import GitRepo

    _check_sandbox(sandbox)
    GitRepo(repo, commit)
    incident = incident_from_log(repo, log, commit, test_cmd)
    state = run_stages(incident, _reporter(as_json), repair=True, sandbox=sandbox,  # type: ignore[arg-type]
                       max_attempts=max_attempts)
    _finish(state, as_json, out_dir or Path("out") / incident.id)


@app.command()
def replay(
    bundle: Annotated[Path, typer.Argument(help="Incident bundle folder (holds incident.yaml).")],
    out_dir: OutOpt = None,
    sandbox: SandboxOpt = "auto",
    max_attempts: AttemptsOpt = 3,
    diagnose_only: Annotated[bool, typer.Option("--diagnose-only", help="Stop after the diagnosis.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-run a past incident from a saved bundle, through repair and reflection."""
    from crew.bundle import load_bundle
    from crew.flow import run_stages

    _check_sandbox(sandbox)
    incident = load_bundle(bundle, cache_dir())
    state = run_stages(incident, _reporter(as_json), repair=not diagnose_only,  # type: ignore[arg-type]
                       sandbox=sandbox, max_attempts=max_attempts)
    _finish(state, as_json, out_dir or Path("out") / incident.id)


@app.command()
def version() -> None:
    """Print healcrew's version."""
    print(__version__)


def _mount_subcommands() -> None:
    try:
        from crew.cli_sandbox import sandbox_app
    except ImportError:
        return
    app.add_typer(sandbox_app, name="sandbox")


_mount_subcommands()


def main() -> None:
    """Console entry point: one line per error, the documented exit codes."""
    try:
        app()
    except HealcrewError as exc:
        err.print(f"healcrew: {exc}", style="red", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("healcrew: interrupted", style="red")
        sys.exit(130)
    except Exception as exc:  # an unexpected bug: one line, traceback only on request
        if os.environ.get("HEALCREW_DEBUG") == "1":
            raise
        err.print(f"healcrew: internal error: {type(exc).__name__}: {exc} (HEALCREW_DEBUG=1 shows more)",
                  style="red", highlight=False)
        sys.exit(3)


if __name__ == "__main__":
    main()


