"""The local supervisor: restarts a crashing command with a growing back-off, logs it, exports metrics."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.metrics import scrape, value

ROOT = Path(__file__).resolve().parents[2]
SUPERVISE = ROOT / "scripts" / "supervise.py"
LABELS = {"namespace": "shop", "pod": "pricing-0", "container": "pricing"}

pytestmark = pytest.mark.timeout(60)


def _start(tmp_path: Path, command: list[str], *extra: str) -> tuple[subprocess.Popen[str], str]:
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, str(SUPERVISE), "--log", str(tmp_path / "app.log"), "--port-file", str(port_file),
         "--namespace", "shop", "--pod", "pricing-0", "--container", "pricing", *extra, "--", *command],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 15
    while not port_file.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "supervisor did not listen"
        time.sleep(0.02)
    return proc, f"http://127.0.0.1:{port_file.read_text()}/metrics"


CRASH = [sys.executable, "-c", "import sys, time; print('starting', time.time(), flush=True); "
         "sys.stderr.write('Traceback (most recent call last):\\nZeroDivisionError: boom\\n'); sys.exit(3)"]


def test_a_crashing_command_is_restarted_with_a_growing_back_off(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, CRASH, "--backoff-initial", "0.2", "--backoff-max", "0.8", "--max-restarts", "4")
    seen_waiting = False
    restarts_seen: list[float] = []
    while proc.poll() is None:
        try:
            samples = scrape(url)
        except httpx.TransportError:  # it stopped between the poll and the scrape
            assert proc.wait(timeout=10) is not None
            break
        restarts_seen.append(value(samples, "kube_pod_container_status_restarts_total", **LABELS) or 0)
        waiting = value(samples, "kube_pod_container_status_waiting_reason", reason="CrashLoopBackOff", **LABELS)
        seen_waiting = seen_waiting or waiting == 1
        time.sleep(0.05)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert seen_waiting
    # Monotonic, every count seen while it lasted (the last one lives only until the final crash).
    assert restarts_seen == sorted(restarts_seen) and {0, 1, 2, 3} <= set(restarts_seen)
    assert "4 restarts, the limit: stopping" in err
    assert "back-off 0.2 s" in err and "back-off 0.4 s" in err and "back-off 0.8 s" in err
    log = (tmp_path / "app.log").read_text()
    starts = [float(line.split()[1]) for line in log.splitlines() if line.startswith("starting")]
    assert len(starts) == 5 and log.count("ZeroDivisionError: boom") == 5
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.8 and gaps[3] >= 0.8


def test_metrics_carry_the_last_exit_code_and_listen_on_loopback_only(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, CRASH, "--backoff-initial", "5", "--backoff-max", "5")
    try:
        deadline = time.monotonic() + 10
        while value(scrape(url), "kube_pod_container_status_waiting_reason", **LABELS) != 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        samples = scrape(url)
        assert value(samples, "kube_pod_container_status_last_terminated_exitcode", **LABELS) == 3
        assert value(samples, "kube_pod_container_status_running", **LABELS) == 0
        port = url.split(":")[2].split("/")[0]
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        local = [line.split()[3] for line in listening.splitlines()]
        assert local == [f"127.0.0.1:{port}"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_sigterm_stops_the_command_and_the_supervisor(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    sleeper = [sys.executable, "-c", f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); "
               "time.sleep(60)"]
    proc, url = _start(tmp_path, sleeper)
    deadline = time.monotonic() + 10
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert value(scrape(url), "kube_pod_container_status_running", **LABELS) == 1
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    child = int(marker.read_text())
    assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text().lower()


def test_a_command_that_succeeds_is_not_restarted(tmp_path: Path) -> None:
    proc, _ = _start(tmp_path, [sys.executable, "-c", "print('done')"], "--backoff-initial", "0.1")
    assert proc.wait(timeout=20) == 0
    assert (tmp_path / "app.log").read_text().count("done") == 1


def test_the_deadline_stops_a_supervisor_in_back_off(tmp_path: Path) -> None:
    started = time.monotonic()
    proc, _ = _start(tmp_path, CRASH, "--backoff-initial", "30", "--backoff-max", "30", "--deadline", "1.5")
    assert proc.wait(timeout=20) == 0
    assert time.monotonic() - started < 10
