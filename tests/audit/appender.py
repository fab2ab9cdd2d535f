"""A process that appends to an audit log until it is killed: for the ``kill -9`` fault tests.

``start_appender(path)`` starts ``python -m tests.audit.appender PATH`` and returns once it has
written its first record; ``kill_hard(proc)`` sends SIGKILL and reaps it. After that the chain
must still verify and the next append must follow the last record written. The service's own
fault test (``kill -9`` mid-run, then restart) uses the same two steps on ``healcrew serve``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_appender(
    path: Path, *, count: int = 0, actor: str = "appender", timeout: float = 20.0,
) -> subprocess.Popen[bytes]:
    """A child appending records to ``path`` (``count`` of them, 0: until killed), once it has written one."""
    before = path.stat().st_size if path.exists() else 0
    proc = subprocess.Popen([sys.executable, "-m", "tests.audit.appender", str(path), str(count), actor],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > before:
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"appender exited early: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.01)
    proc.kill()
    raise TimeoutError("appender wrote nothing")


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc`` (no handler, no cleanup) and wait for it."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def main(argv: list[str]) -> int:
    from crew.audit import AuditLog

    log = AuditLog(Path(argv[0]))
    count, actor = int(argv[1]), argv[2]
    n = 0
    while count == 0 or n < count:
        n += 1
        log.append("test.step", correlation_id=f"proc-{os.getpid()}", actor=actor,
                   detail={"n": n, "pid": os.getpid(), "note": "x" * (n % 50)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
