"""Runs a command as a local process, for machines with no Docker engine. Isolation is weaker.

Only under bubblewrap: new namespaces for everything (network included), only system dirs and
the Python installation visible read-only, the repo copy and a scratch ``/tmp`` writable, uid
65534, rlimits (address space, processes, CPU seconds) and a wall-clock timeout that kills the
whole process group. The host's Python environment is what the command imports. Without
bubblewrap the backend refuses to run: ``unshare --net`` or a plain process would run the
repository's code as the host user with the host's files, which is not a sandbox.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.errors import EngineUnavailableError, SandboxError
from sandbox.output import HeadTailBuffer
from sandbox.results import RunResult

NOTES = {
    "bwrap": "process backend (bubblewrap): private namespaces, no network, read-only system dirs, rlimits; "
             "WEAKER than docker: shares the host kernel's and Python's view, no cgroup memory/pids accounting",
    "unshare": "process backend unavailable: only unshare was found, which would run the command as your "
               "user with the host's files; install bubblewrap",
    "plain": "process backend unavailable: no isolation tool found (network and the host's files would be "
             "reachable); install bubblewrap",
}
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
_ETC = ("/etc/alternatives", "/etc/ssl", "/etc/ca-certificates", "/etc/ld.so.cache", "/etc/localtime",
        "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/mime.types")


@cache
def available_mode() -> str:
    """``bwrap`` when bubblewrap can create namespaces here, else ``unshare``, else ``plain``."""
    if shutil.which("bwrap"):
        probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--", "true"],
                               capture_output=True, check=False, timeout=20)
        if probe.returncode == 0:
            return "bwrap"
    if shutil.which("unshare"):
        probe = subprocess.run(["unshare", *_unshare_flags(), "--", "true"], capture_output=True, check=False,
                               timeout=20)
        if probe.returncode == 0:
            return "unshare"
    return "plain"


def require_isolation(mode: str | None = None) -> None:
    """Refuse unless bubblewrap can isolate the command (``unshare`` and ``plain`` are not enough)."""
    found = mode or available_mode()
    if found != "bwrap":
        raise EngineUnavailableError(
            f"the process backend needs bubblewrap able to create namespaces, and this machine offers only "
            f"'{found}' (the repo's code would run as your user with your files); install bubblewrap "
            f"(apt-get install bubblewrap) or use --sandbox docker"
        )


def _unshare_flags() -> list[str]:
    return ["--net"] if os.geteuid() == 0 else ["--user", "--net"]


def _python_roots() -> list[str]:
    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots |= {sys.prefix}
    return sorted(r for r in roots if not any(r == d or r.startswith(d + "/") for d in _SYSTEM_DIRS))


class ProcessBackend:
    """Runs in a private copy of the repo, with the best isolation tool this machine has."""

    name = "process"

    def __init__(self, config: SandboxConfig, mode: str | None = None) -> None:
        self.config = config
        self.mode = mode or available_mode()
        require_isolation(self.mode)

    @property
    def isolation_note(self) -> str:
        return NOTES[self.mode]

    def run(
        self, repo_copy: Path, command: list[str], timeout: float, junit_path: str | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[RunResult, bytes | None]:
        """Run ``command`` in ``repo_copy`` (which it may change freely); returns result and JUnit XML."""
        cfg = self.config
        scratch = Path(tempfile.mkdtemp(prefix="healcrew-scratch-"))
        try:
            workdir = self._workdir(repo_copy)
            environment = {
                "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
                "HOME": "/tmp" if self.mode == "bwrap" else str(scratch),
                "TMPDIR": "/tmp" if self.mode == "bwrap" else str(scratch),
                "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": f"{workdir}:{workdir}/src", "PIP_NO_INDEX": "1",
                **cfg.env, **(env or {}),
            }
            if self.mode != "bwrap":
                environment["VIRTUAL_ENV"] = sys.prefix
            argv, host_junit = self._argv(command, repo_copy, scratch, workdir, environment, junit_path)
            out, err = HeadTailBuffer(cfg.output_cap_bytes), HeadTailBuffer(cfg.output_cap_bytes)
            code, timed_out, duration = self._spawn(argv, repo_copy, environment, timeout, out, err)
            junit = host_junit.read_bytes() if host_junit and host_junit.is_file() and not timed_out else None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        memory_error = b"MemoryError" in err.tail or b"MemoryError" in bytes(err.head)
        result = RunResult(
            command=command, backend="process", isolation_note=self.isolation_note, image=None,
            exit_code=None if timed_out else code,
            stdout=out.text(), stderr=err.text(), stdout_bytes=out.total, stderr_bytes=err.total,
            stdout_truncated=out.truncated, stderr_truncated=err.truncated, duration=round(duration, 3),
            timed_out=timed_out, oom_killed=memory_error and not timed_out and code != 0, junit_path=junit_path,
            workdir=workdir,
        )
        return result, junit

    def _workdir(self, repo_copy: Path) -> str:
        """``config.workdir`` under bubblewrap unless the Python installation lives below it."""
        wanted = self.config.workdir.rstrip("/") or "/work"
        if self.mode != "bwrap" or any(r == wanted or r.startswith(wanted + "/") for r in _python_roots()):
            return str(repo_copy)
        return wanted

    def _argv(
        self, command: list[str], repo_copy: Path, scratch: Path, workdir: str, environment: dict[str, str],
        junit_path: str | None,
    ) -> tuple[list[str], Path | None]:
        host_junit: Path | None = None
        if junit_path:
            host_junit = self._host_path(junit_path, repo_copy, scratch, workdir)
        if self.mode == "bwrap":  # the only mode __init__ accepts
            args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                    "--uid", "65534", "--gid", "65534", "--hostname", "sandbox"]
            for d in _SYSTEM_DIRS:
                if os.path.islink(d):
                    args += ["--symlink", os.readlink(d), d]
                elif os.path.isdir(d):
                    args += ["--ro-bind", d, d]
            for f in _ETC:
                if os.path.exists(f):
                    args += ["--ro-bind", f, f]
            # the private /tmp first: a Python installation that lives under /tmp is bound over it
            args += ["--proc", "/proc", "--dev", "/dev", "--bind", str(scratch), "/tmp"]
            for root in _python_roots():
                args += ["--ro-bind", root, root]
            args += ["--bind", str(repo_copy), workdir, "--chdir", workdir, "--clearenv"]
            for key, value in environment.items():
                args += ["--setenv", key, value]
            return [*args, "--", *command], host_junit
        raise SandboxError(f"the process backend runs only under bubblewrap, not {self.mode!r}")

    def _host_path(self, path: str, repo_copy: Path, scratch: Path, workdir: str) -> Path:
        if path.startswith("/tmp/"):
            return scratch / path[len("/tmp/"):]
        for base in {workdir, self.config.workdir}:
            if path.startswith(base.rstrip("/") + "/"):
                return repo_copy / path[len(base.rstrip("/")) + 1:]
        if not path.startswith("/"):
            return repo_copy / path
        raise SandboxError(f"the JUnit path must be under /tmp or the work dir, not {path}")

    def _spawn(
        self, argv: list[str], cwd: Path, environment: dict[str, str], timeout: float,
        out: HeadTailBuffer, err: HeadTailBuffer,
    ) -> tuple[int | None, bool, float]:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, preexec_fn=self._limits(timeout),
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
        pumps = [threading.Thread(target=_pump, args=(stream, buf), daemon=True)
                 for stream, buf in ((proc.stdout, out), (proc.stderr, err))]
        for t in pumps:
            t.start()
        timed_out = False
        try:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
        finally:  # timeout, Ctrl-C or any error: nothing of the run may survive
            _kill_group(proc)
            proc.wait()
            for t in pumps:
                t.join(5)
        return proc.returncode, timed_out, time.monotonic() - start

    def _limits(self, timeout: float) -> Callable[[], None]:
        cfg = self.config
        memory = cfg.memory_mb * 1024 * 1024
        cpu_seconds = int(timeout * max(cfg.cpus, 1.0)) + 5
        # RLIMIT_NPROC counts every process of the user, so allow what runs already plus ``pids``.
        # Root outside a user namespace ignores it; under bubblewrap's namespace it holds.
        _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        nproc = _process_count() + cfg.pids
        if hard != resource.RLIM_INFINITY:
            nproc = min(nproc, hard)

        def apply() -> None:  # runs in the child between fork and exec: no locks, no logging
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        return apply


def _process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def _pump(stream: Any, buf: HeadTailBuffer) -> None:
    read = getattr(stream, "read1", None) or stream.read
    while True:
        chunk = read(65536)
        if not chunk:
            return
        buf.write(chunk)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
