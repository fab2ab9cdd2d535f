"""``healcrew sandbox ...``: check the machine, build the base image, run a command in a sandbox.

Mounted by ``crew/cli.py``. Bad input ends with one line on stderr and exit code 2; ``run``
exits with the command's own exit code (124 when it timed out). Heavy imports stay inside the
commands so ``healcrew --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

sandbox_app = typer.Typer(
    name="sandbox",
    help="Run untrusted code in a sandbox: check the machine, build the image, run a command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

BACKENDS = ("docker", "process", "auto")
TIMEOUT_EXIT = 124


@contextmanager
def _boundary() -> Iterator[None]:
    """Sandbox errors become one line and exit 2; Ctrl-C and SIGTERM exit 130 after cleanup."""
    from sandbox.errors import SandboxError
    from sandbox.signals import sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            yield
    except SandboxError as exc:
        _err.print(f"healcrew: {exc}", style="red")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        _err.print("healcrew: interrupted", style="red")
        raise typer.Exit(130) from None


def _config(sandbox: str = "auto", **fields: Any) -> Any:
    from pydantic import ValidationError

    from sandbox.config import SandboxConfig
    from sandbox.errors import SandboxError

    if sandbox not in BACKENDS:
        raise SandboxError(f"--sandbox must be docker, process or auto, not {sandbox!r}")
    try:
        return SandboxConfig(backend=sandbox, **{k: v for k, v in fields.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SandboxError(f"invalid {first['loc'][0]}: {first['msg']}") from None


def _log(as_json: bool) -> Callable[[str], None]:
    def log(line: str) -> None:
        if not as_json:
            _err.print(f"sandbox: {line}", style="dim")

    return log


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
ImageOpt = Annotated[str | None, typer.Option("--image", help="Base image to use instead of healcrew's own.")]
PythonOpt = Annotated[str | None, typer.Option(
    "--python", help="Python X.Y for the sandbox (3.9 bullseye, 3.11 bookworm, 3.13 trixie, or any python:X.Y-slim a "
    "registry offers) instead of the one read from the repository.", show_default=False)]


@sandbox_app.command()
def doctor(as_json: JsonOpt = False, image: ImageOpt = None) -> None:
    """Is a Docker engine reachable, which image is ready, which backend `auto` picks and why."""
    from sandbox.api import doctor as run_doctor

    with _boundary():
        report = run_doctor(_config(image=image))
    if as_json:
        print(report.model_dump_json(indent=2))
        return
    out = Console(highlight=False, soft_wrap=True)
    engine = f"reachable (Docker {report.engine_version})" if report.engine_reachable else (
        f"not reachable ({report.engine_error})")
    out.print(f"engine:        {engine}")
    if report.engine_reachable:
        out.print(f"base image:    {report.base_image or 'not built yet (run: healcrew sandbox build-image)'}")
    out.print(f"process mode:  {report.process_mode}")
    out.print(f"auto picks:    {report.backend} ({report.reason})")
    out.print(f"isolation:     {report.isolation_note}")


@sandbox_app.command("build-image")
def build_image(
    repo: Annotated[Path | None, typer.Option("--repo", help="Also build the environment image for this repo.")] = None,
    image: ImageOpt = None,
    python: PythonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pull or build the base image (and a repo's environment image); cached images are reused.

    Without --python the default base image is built; with --repo the repo's own Python is chosen."""
    from sandbox.api import build_base_image, build_env_image

    with _boundary():
        cfg = _config("docker", image=image, python=python)
        infos = [] if repo is not None and python is None else [build_base_image(cfg, _log(as_json))]
        if repo is not None:
            infos.append(build_env_image(repo, cfg, _log(as_json)))
    if as_json:
        rows = [{**info.__dict__, "refused": [r.model_dump() for r in info.refused]} for info in infos]
        print(json.dumps(rows, indent=2))
        return
    for info in infos:
        how = "cached, nothing rebuilt" if info.cached else f"{info.how} in {info.seconds:.1f} s"
        print(f"{info.tag}: {how}")
        for refusal in info.refused:
            print(f"  {refusal.note()}")


MAX_PATCH_BYTES = 16 << 20


def _read_patch(path: Path) -> str:
    """The diff text of ``--patch``: a file that is not UTF-8 text (a binary, an archive) is one line."""
    from sandbox.errors import SandboxError

    if not path.is_file():
        raise SandboxError(f"patch file not found: {path}" if not path.exists() else f"patch {path} is not a file")
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_PATCH_BYTES + 1)
    except OSError as exc:
        raise SandboxError(f"cannot read patch file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PATCH_BYTES:
        raise SandboxError(f"patch file {path} is larger than {MAX_PATCH_BYTES >> 20} MiB")
    if b"\0" in data:
        raise SandboxError(f"patch file {path} is binary, not a unified diff")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SandboxError(f"patch file {path} is not UTF-8 text, not a unified diff") from None


@sandbox_app.command(context_settings={"allow_interspersed_args": False})
def run(
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.", show_default=False)],
    repo: Annotated[Path, typer.Option("--repo", help="The repository (a git repo or a plain directory).")],
    commit: Annotated[str | None, typer.Option("--commit", help="Run the repo at this commit (git only).")] = None,
    patch: Annotated[Path | None, typer.Option("--patch", help="A unified diff to apply first.")] = None,
    sandbox: Annotated[str, typer.Option(
        "--sandbox", help="docker, process (bubblewrap, weaker isolation) or auto (a container; fails without Docker)."
    )] = "auto",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before the command is killed.")] = 300.0,
    image: ImageOpt = None,
    python: PythonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run CMD on a copy of the repo in a sandbox; exit with its exit code (124 on timeout)."""
    from sandbox.api import prepare

    with _boundary():
        cfg = _config(sandbox, image=image, timeout=timeout, python=python)
        diff = _read_patch(patch) if patch is not None else None
        with prepare(repo, commit=commit, patch=diff, config=cfg, log=_log(as_json)) as box:
            result = box.run(command, timeout=timeout)
            reason = box.choice.reason
            if box.python is not None:
                reason += f"; python {box.python.version}: {box.python.reason}"
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        status = f"exit {result.exit_code}"
        if result.timed_out or result.oom_killed:
            status = "timed out" if result.timed_out else "OOM-killed"
        tests = ""
        if result.tests:
            counts = {k: result.count(k) for k in ("passed", "failed", "error", "skipped")}
            tests = ", " + " ".join(f"{v} {k}" for k, v in counts.items() if v)
        where = f"docker, {result.image}" if result.backend == "docker" else "process, weaker isolation"
        _err.print(f"sandbox: {status} in {result.duration:.2f} s ({where}; {reason}){tests}", style="dim")
    if result.timed_out:
        raise typer.Exit(TIMEOUT_EXIT)
    code = result.exit_code if result.exit_code is not None else 1
    raise typer.Exit(code if code >= 0 else 128 - code)
