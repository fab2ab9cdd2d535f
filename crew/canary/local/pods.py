"""The two pods of the local canary: a locked-down container per build, restarted like a kubelet does.

Each side runs its build's start command in the build's environment image, with the checkout
mounted read-only, as a non-root user with every capability dropped, no new privileges,
``--network none``, a read-only root and the Rollout's memory and CPU limits. Our bridge
(``bridge.py``, mounted read-only) starts the command and offers the service's loopback port as
a Unix socket in a bind-mounted folder. A container that exits is replaced after a back-off
that doubles (the kubelet's 10 s to 5 min, times the canary's time scale), and every restart is
counted on a kube-state-metrics-style exporter. Containers carry the sandbox's owner labels and
a deadline, so the start-up sweep removes any that a killed run leaves behind.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter

from sandbox.images import LABEL
from sandbox.sweep import owner_labels

RUN_LABEL = "org.healcrew.canary.run"
SIDE_LABEL = "org.healcrew.canary.side"
BRIDGE = Path(__file__).with_name("bridge.py")
SOCKET_DIR = "/healcrew/sock"
SOCKET_NAME = "svc.sock"
USER = "65534:65534"
BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
_KEEP_ENV_OUT = {"PATH", "HOME", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "LD_PRELOAD", "LD_LIBRARY_PATH"}


class RestartExporter:
    """``kube_pod_container_status_restarts_total`` of both pods, as kube-state-metrics names it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.restarts = Counter("kube_pod_container_status_restarts", "Restarts of the container.",
                                ["namespace", "pod", "container"], registry=self.registry)

    def series(self, namespace: str, pod: str, container: str) -> Any:
        """The pod's counter, created at 0 so Prometheus sees the first restart as an increase."""
        return self.restarts.labels(namespace=namespace, pod=pod, container=container)


@dataclass
class PodSpec:
    """How to run one side."""

    side: str
    pod: str
    namespace: str
    container: str
    image: str
    checkout: Path
    workdir: str
    command: tuple[str, ...]
    port: int
    socket_dir: Path
    run_id: str
    lifetime: float
    time_scale: float
    memory_bytes: int | None = None
    cpus: float | None = None
    env: dict[str, str] = field(default_factory=dict)


class Pod:
    """One side's container, kept running (restarted with back-off) until ``stop``."""

    def __init__(self, client: Any, spec: PodSpec, restarts: Any, note: Callable[[str], None]) -> None:
        self.client = client
        self.spec = spec
        self.restart_counter = restarts
        self.note = note
        self.restarts = 0
        self.exits: list[int] = []
        self.last_logs = ""
        self._stop = threading.Event()
        self._container: Any = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"canary-pod-{spec.side}", daemon=True)

    @property
    def socket(self) -> Path:
        return self.spec.socket_dir / SOCKET_NAME

    def start(self) -> None:
        self._thread.start()

    def _create(self) -> Any:
        s = self.spec
        deadline = time.time() + s.lifetime
        env = {k: v for k, v in s.env.items() if k not in _KEEP_ENV_OUT}
        env |= {"HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1"}
        limits: dict[str, Any] = {}
        if s.memory_bytes:
            limits |= {"mem_limit": s.memory_bytes, "memswap_limit": s.memory_bytes}
        if s.cpus:
            limits["nano_cpus"] = int(s.cpus * 1e9)
        return self.client.containers.create(
            s.image,
            ["python", "/healcrew/bridge.py", "--socket", f"{SOCKET_DIR}/{SOCKET_NAME}", "--port", str(s.port),
             "--deadline", str(int(s.lifetime)), "--", *s.command],
            labels={**owner_labels(deadline), LABEL: "canary", RUN_LABEL: s.run_id, SIDE_LABEL: s.side},
            user=USER, working_dir=s.workdir, environment=env, network_mode="none", read_only=True,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=64m,mode=1777"}, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], pids_limit=256, init=True,
            volumes={str(s.checkout): {"bind": s.workdir, "mode": "ro"},
                     str(BRIDGE): {"bind": "/healcrew/bridge.py", "mode": "ro"},
                     str(s.socket_dir): {"bind": SOCKET_DIR, "mode": "rw"}},
            **limits,
        )

    def _loop(self) -> None:
        streak = 0
        while not self._stop.is_set():
            try:
                with self._lock:
                    if self._stop.is_set():
                        return
                    self._container = self._create()
                    self._container.start()
                code = self._wait(self._container)
            except Exception as exc:  # the engine refused or lost the container: count it as a crash
                self.note(f"{self.spec.side}: container failed: {str(exc).splitlines()[0][:200]}")
                code = -1
            if code is None:
                return
            self.exits.append(code)
            self._remove()
            if self._stop.is_set():
                return
            self.restarts += 1
            self.restart_counter.inc()
            wait = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** min(streak, 30)) * self.spec.time_scale
            streak += 1
            self.note(f"{self.spec.side}: container exited {code}; restart {self.restarts} in {wait:.1f} s")
            self._stop.wait(wait)

    def _wait(self, container: Any) -> int | None:
        """The container's exit code, or None when told to stop first."""
        while not self._stop.is_set():
            try:
                container.reload()
            except Exception:
                return -1
            if container.status in ("exited", "dead"):
                with contextlib.suppress(Exception):
                    self.last_logs = container.logs(tail=40).decode(errors="replace")
                return int(container.attrs.get("State", {}).get("ExitCode", -1))
            self._stop.wait(0.2)
        return None

    def _remove(self) -> None:
        with self._lock:
            if self._container is not None:
                with contextlib.suppress(Exception):
                    self._container.remove(force=True, v=True)
                self._container = None

    def ready(self, path: str) -> bool:
        """Whether the service answers ``GET path`` with a 2xx or 3xx through its socket right now."""
        if not self.socket.exists():
            return False
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)), timeout=2.0) as c:
                return c.get(f"http://{self.spec.pod}{path}").status_code < 400
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop restarting and remove the container (idempotent)."""
        self._stop.set()
        self._remove()
        if self._thread.is_alive():
            self._thread.join(timeout=15)


def remove_run_containers(client: Any, run_id: str) -> int:
    """Remove every container of canary run ``run_id`` (whatever state it is in); how many."""
    removed = 0
    with contextlib.suppress(Exception):
        for c in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
            with contextlib.suppress(Exception):
                c.remove(force=True, v=True)
                removed += 1
    return removed
