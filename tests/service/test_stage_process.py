"""The run's child process: a death fails the run, not the service; a stop or a kill -9 leaves no run behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from crew.errors import HealcrewError
from crew.service.metrics import Metrics
from crew.service.worker import FlowPipeline

ROOT = Path(__file__).resolve().parents[2]


def _pipeline(tmp_path: Path) -> FlowPipeline:
    return FlowPipeline(tmp_path / "out", Metrics())


def test_a_child_that_dies_fails_its_run_and_the_next_run_gets_a_fresh_one(tmp_path: Path) -> None:
    pipe = _pipeline(tmp_path)
    try:
        with pytest.raises(HealcrewError, match="the run's process died"):
            pipe._call(os._exit, 3)
        assert pipe._call(os.getpid) != os.getpid()  # a new child answers
    finally:
        pipe.close()


def test_close_does_not_wait_for_a_run_in_progress(tmp_path: Path) -> None:
    pipe = _pipeline(tmp_path)
    errors: list[Exception] = []

    def long_run() -> None:
        try:
            pipe._call(time.sleep, 120)
        except HealcrewError as exc:
            errors.append(exc)

    thread = threading.Thread(target=long_run)
    thread.start()
    time.sleep(1.5)
    started = time.monotonic()
    pipe.close()
    thread.join(10)
    assert time.monotonic() - started < 10 and not thread.is_alive() and errors


def _alive(pid: int) -> bool:
    """Running, not merely unreaped: a zombie is dead, only its (new) parent has not reaped it."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_child_dies_with_a_killed_service(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import os, sys, time, threading
        from pathlib import Path
        from crew.service.metrics import Metrics
        from crew.service.worker import FlowPipeline
        if __name__ == "__main__":
            pipe = FlowPipeline(Path(sys.argv[1]), Metrics())
            print(pipe._call(os.getpid), flush=True)
            threading.Thread(target=pipe._call, args=(time.sleep, 120), daemon=True).start()
            time.sleep(120)
    """)
    (tmp_path / "service.py").write_text(script)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "service.py"), str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    alive = _alive(child)
    assert not alive, "the run's process outlived the killed service"
