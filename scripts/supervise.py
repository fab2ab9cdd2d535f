"""A small local supervisor: Kubernetes' restart loop and kube-state-metrics' view of it, on one machine.

Runs a command, appends its stdout and stderr to a log file (as a container runtime does), and
restarts it when it exits non-zero, waiting a growing back-off between starts like the kubelet's
CrashLoopBackOff (10 s doubling to 5 min by default, reset after the command has run for 10 min
without crashing). Meanwhile it serves Prometheus metrics on 127.0.0.1, under the names and
labels kube-state-metrics uses, so the rules in deploy/prometheus/ work unchanged:

- ``kube_pod_container_status_restarts_total{namespace, pod, container}``
- ``kube_pod_container_status_waiting_reason{namespace, pod, container, reason="CrashLoopBackOff"}``
  (1 while it waits to restart the command, else 0)
- ``kube_pod_container_status_running`` and ``kube_pod_container_status_last_terminated_exitcode``

It is the stand-in for a cluster in the end-to-end test, and a way to try ``healcrew serve``
against a real Prometheus and Alertmanager on a laptop. A command that exits 0 ends the
supervisor (restartPolicy OnFailure); so do SIGTERM/SIGINT (the command's process group is
stopped first), ``--max-restarts`` and ``--deadline``.

    python scripts/supervise.py --log /tmp/pricing.log --metrics-port 9100 \\
        --namespace shop --pod pricing-0 --container pricing -- uvicorn app.main:app --port 8080
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

LOOPBACK = "127.0.0.1"
REASON = "CrashLoopBackOff"


class Metrics:
    """The kube-state-metrics series of one container."""

    def __init__(self, namespace: str, pod: str, container: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"namespace": namespace, "pod": pod, "container": container}
        names = list(labels)
        self.restarts = Counter("kube_pod_container_status_restarts", "Restarts of the container.", names,
                                registry=self.registry).labels(**labels)
        self.waiting = Gauge("kube_pod_container_status_waiting_reason", "Why the container is waiting.",
                             [*names, "reason"], registry=self.registry).labels(**labels, reason=REASON)
        self.running = Gauge("kube_pod_container_status_running", "Whether the container is running.", names,
                             registry=self.registry).labels(**labels)
        self.exit_code = Gauge("kube_pod_container_status_last_terminated_exitcode",
                               "Exit code of the container's last run.", names, registry=self.registry).labels(**labels)


def backoff(restarts: int, initial: float, maximum: float) -> float:
    """The wait before restart number ``restarts + 1``: ``initial`` doubled per restart, capped."""
    return min(maximum, initial * (2 ** min(restarts, 30)))


class Supervisor:
    """Runs ``command`` until it succeeds, is stopped, or a bound is reached."""

    def __init__(self, command: Sequence[str], log: IO[bytes], metrics: Metrics, *, cwd: Path | None,
                 initial: float, maximum: float, reset_after: float, max_restarts: int | None,
                 deadline: float | None) -> None:
        self.command = list(command)
        self.log = log
        self.metrics = metrics
        self.cwd = cwd
        self.initial, self.maximum, self.reset_after = initial, maximum, reset_after
        self.max_restarts = max_restarts
        self.deadline = time.monotonic() + deadline if deadline else None
        self.stop = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None

    def _note(self, text: str) -> None:
        print(f"supervise: {text}", file=sys.stderr, flush=True)

    def _left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _wait_child(self, child: subprocess.Popen[bytes]) -> int | None:
        """The child's exit code, or None when the supervisor was told to stop first."""
        while True:
            left = self._left()
            if self.stop.is_set() or (left is not None and left <= 0):
                return None
            try:
                return child.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue

    def run(self) -> int:
        """Supervise; the exit code of the supervisor itself."""
        streak = 0  # restarts since the back-off was last reset
        total = 0
        while True:
            started = time.monotonic()
            self.child = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.cwd,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
            self.metrics.running.set(1)
            self.metrics.waiting.set(0)
            code = self._wait_child(self.child)
            self.metrics.running.set(0)
            if code is None:
                self.terminate()
                return 0
            self.metrics.exit_code.set(code)
            if code == 0:
                self._note("command exited 0; not restarting")
                return 0
            if self.max_restarts is not None and total >= self.max_restarts:
                self._note(f"command exited {code}; {total} restarts, the limit: stopping")
                return 1
            if time.monotonic() - started >= self.reset_after:
                streak = 0
            delay = backoff(streak, self.initial, self.maximum)
            self._note(f"command exited {code}; back-off {delay:g} s before restart {total + 1}")
            self.metrics.waiting.set(1)
            left = self._left()
            if self.stop.wait(delay if left is None else max(0.0, min(delay, left))):
                return 0
            left = self._left()
            if left is not None and left <= 0:
                return 0
            total += 1
            streak += 1
            self.metrics.restarts.inc()

    def terminate(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=5)


def _args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--log", type=Path, required=True, help="File the command's output is appended to.")
    parser.add_argument("--metrics-port", type=int, default=0, help="Port on 127.0.0.1 for /metrics (0: any).")
    parser.add_argument("--port-file", type=Path, help="Write the metrics port here once it listens.")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--pod", default="local-0")
    parser.add_argument("--container", default="app")
    parser.add_argument("--cwd", type=Path, help="Directory to run the command in.")
    parser.add_argument("--backoff-initial", type=float, default=10.0, help="First back-off, seconds.")
    parser.add_argument("--backoff-max", type=float, default=300.0, help="Longest back-off, seconds.")
    parser.add_argument("--backoff-reset", type=float, default=600.0,
                        help="A run this long (seconds) without a crash resets the back-off.")
    parser.add_argument("--max-restarts", type=int, help="Stop after this many restarts.")
    parser.add_argument("--deadline", type=float, help="Stop after this many seconds.")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments.")
    args = parser.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command given (put it after --)")
    if args.backoff_initial <= 0 or args.backoff_max < args.backoff_initial:
        parser.error("--backoff-initial must be positive and at most --backoff-max")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _args(sys.argv[1:] if argv is None else argv)
    metrics = Metrics(args.namespace, args.pod, args.container)
    server: Any
    server, _thread = start_http_server(args.metrics_port, addr=LOOPBACK, registry=metrics.registry)
    if args.port_file is not None:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(server.server_port))
        tmp.replace(args.port_file)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with args.log.open("ab", buffering=0) as log:
        sup = Supervisor(args.command, log, metrics, cwd=args.cwd, initial=args.backoff_initial,
                         maximum=args.backoff_max, reset_after=args.backoff_reset,
                         max_restarts=args.max_restarts, deadline=args.deadline)

        def on_signal(signum: int, _frame: object) -> None:
            sup.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            return sup.run()
        finally:
            sup.terminate()  # the same cleanup on every way out
            server.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
