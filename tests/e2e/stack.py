"""The real monitoring stack on loopback for the end-to-end tests: Prometheus, Alertmanager and the
crash-looping flagship pod under the local supervisor.

Everything binds to 127.0.0.1 on free ports, keeps its state in the test's temp folder, and is
stopped when the ``Stack`` context ends (processes terminated, then killed; the pod's
containers removed by label). The configs are the shipped ones in deploy/prometheus/ with the
timers cut to seconds: scrape and evaluation every second, the rule's ``for:`` a few seconds,
Alertmanager's ``group_wait``/``group_interval`` one second.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"
FLAGSHIP = ROOT / "examples" / "pricing-service"
DEPLOYED = "755d4d7d14f8272059b2183deb61df1f37d217ef"  # examples/incidents/pricing-zero-division
POD = {"namespace": "shop", "pod": "pricing-service-6f9c7d8b5-x2kqp", "container": "pricing",
       "service": "pricing-service"}
POD_LABEL = "healcrew.e2e.pod"

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.25) -> T:
    """The first truthy result of ``check()``; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args], cwd=cwd,
                          capture_output=True, text=True, check=True, timeout=60)
    return proc.stdout.strip()


def flagship_repo(tmp: Path) -> tuple[Path, Path]:
    """(the service's repository with its history, a checkout of the deployed commit for the pod)."""
    from crew.history import materialize

    repo = materialize(FLAGSHIP, tmp / "materialized")
    pod_tree = tmp / "pod-app"
    git(tmp, "clone", "-q", str(repo), str(pod_tree))
    git(pod_tree, "checkout", "-q", DEPLOYED)
    return repo, pod_tree


def env_image(checkout: Path, cache: Path) -> str:
    """The environment image the sandbox builds for the service's dependencies (built on first use)."""
    import docker

    from sandbox.images import ensure_env_image, find_base_image

    client = docker.from_env(timeout=300)
    try:
        base = find_base_image(client)
        assert base is not None, "no sandbox base image (healcrew sandbox build-image)"
        return ensure_env_image(client, base, checkout, cache).tag
    finally:
        client.close()


def pod_command(image: str, checkout: Path, run_id: str) -> list[str]:
    """``docker run`` of the pricing pod: the checkout read-only at /app, no network, locked down."""
    harness = Path(__file__).parent / "pricing_pod.py"
    return [
        "docker", "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp",
        "--user", "65534:65534", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--memory", "512m", "--pids-limit", "128", "--label", f"{POD_LABEL}={run_id}",
        "-e", "PYTHONDONTWRITEBYTECODE=1", "-e", "PYTHONUNBUFFERED=1",
        "-v", f"{checkout}:/app:ro", "-v", f"{harness}:/harness/pricing_pod.py:ro", "-w", "/app",
        image, "python", "/harness/pricing_pod.py",
    ]


def remove_pods(run_id: str) -> None:
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={POD_LABEL}={run_id}"], capture_output=True,
                         text=True, check=False, timeout=30).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False, timeout=60)


def prometheus_config(tmp: Path, supervisor_port: int, alertmanager_port: int, hold: str) -> Path:
    """prometheus.yml and the shipped rules with ``for: <hold>``; the path of prometheus.yml."""
    rules = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["for"] = hold
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [{"job_name": "kube-state-metrics", "scrape_interval": "1s",
                            # As a cluster's relabelling would: the workload's service on every series.
                            "static_configs": [{"targets": [f"127.0.0.1:{supervisor_port}"],
                                                "labels": {"service": POD["service"]}}]}],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def alertmanager_config(tmp: Path, webhook_url: str, token_file: Path) -> Path:
    """The shipped receiver pointed at ``webhook_url``, its token in ``token_file``, timers in seconds."""
    config = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    route = next(r for r in config["route"]["routes"] if r["receiver"] == "healcrew")
    route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    config["route"].update(group_wait="1s", group_interval="1s")
    hook = next(r for r in config["receivers"] if r["name"] == "healcrew")["webhook_configs"][0]
    hook["url"] = webhook_url
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Stack:
    """The running components; ``url`` of each, and the pod's log file."""

    tmp: Path
    log: Path
    prometheus: str = ""
    alertmanager: str = ""
    metrics: str = ""
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def start(self, name: str, argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        out = (self.tmp / f"{name}.out").open("ab")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, **kw)
        out.close()
        self.procs.append((name, proc))
        return proc

    def output(self, name: str) -> str:
        path = self.tmp / f"{name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        remove_pods(self.run_id)

    def firing(self) -> list[dict[str, Any]]:
        """Prometheus' firing KubePodCrashLooping alerts."""
        data = httpx.get(f"{self.prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return [a for a in data if a["labels"].get("alertname") == "KubePodCrashLooping" and a["state"] == "firing"]

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.alertmanager}/api/v2/alerts", timeout=5).json())


@contextlib.contextmanager
def monitoring_stack(
    tmp: Path, *, pod: Callable[[str], list[str]], webhook_url: str, token: str, hold: str = "3s",
    deadline: float = 240,
) -> Iterator[Stack]:
    """Supervisor (running ``pod(run_id)``), Prometheus and Alertmanager on loopback; all stopped on exit.

    ``pod`` gets the stack's run id, to label what it starts (``pod_command``) so that it is removed.
    """
    prometheus = _need("prometheus")
    alertmanager = _need("prometheus-alertmanager")
    stack = Stack(tmp=tmp, log=tmp / "pod.log")
    try:
        port_file = tmp / "supervisor.port"
        stack.start("supervisor", [
            sys.executable, str(ROOT / "scripts" / "supervise.py"), "--log", str(stack.log),
            "--port-file", str(port_file), "--namespace", POD["namespace"], "--pod", POD["pod"],
            "--container", POD["container"], "--backoff-initial", "1", "--backoff-max", "4",
            "--deadline", str(deadline), "--", *pod(stack.run_id),
        ])
        port_text: str = wait_until(lambda: port_file.read_text() if port_file.exists() else None, 30,
                                    "the supervisor's metrics port")
        supervisor_port = int(port_text)
        stack.metrics = f"http://127.0.0.1:{supervisor_port}/metrics"
        am_port, prom_port = free_port(), free_port()
        token_file = tmp / "webhook-token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        am_config = alertmanager_config(tmp, webhook_url, token_file)
        stack.start("alertmanager", [
            alertmanager, f"--config.file={am_config}", f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
            "--log.level=info",
        ])
        stack.alertmanager = f"http://127.0.0.1:{am_port}"
        prom_config = prometheus_config(tmp, supervisor_port, am_port, hold)
        stack.start("prometheus", [
            prometheus, f"--config.file={prom_config}", f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn",
        ])
        stack.prometheus = f"http://127.0.0.1:{prom_port}"
        wait_until(lambda: httpx.get(f"{stack.alertmanager}/-/ready", timeout=2).status_code == 200, 30,
                   f"Alertmanager to be ready: {stack.output('alertmanager')[-2000:]}")
        wait_until(lambda: httpx.get(f"{stack.prometheus}/-/ready", timeout=2).status_code == 200, 30,
                   f"Prometheus to be ready: {stack.output('prometheus')[-2000:]}")
        yield stack
    finally:
        stack.stop()


def _need(name: str) -> str:
    from tests.e2e.conftest import need_binary

    return need_binary(name)
