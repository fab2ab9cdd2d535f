"""``run`` and ``diagnose`` read the crash from ``--log``, ``--loki`` or ``--kubernetes``, with ``--alert``.

Loki and the Kubernetes API are loopback servers replaying their documented responses
(``tests/sources``); the command line runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crew.bundle import load_bundle
from tests.e2e_helpers import ROOT
from tests.replay_server import serving
from tests.sources.test_kubernetes import NS, POD, PRICING, FakeApiServer
from tests.sources.test_loki import FakeLoki

FLAGSHIP = ROOT / "examples" / "incidents" / "pricing-zero-division"
ALERT = FLAGSHIP / "alert.json"


def flagship_entries() -> list[tuple[int, str, dict[str, str]]]:
    """The flagship's saved Loki response as (ns, line, labels) entries for the fake Loki."""
    data = json.loads((FLAGSHIP / "logs.json").read_text())
    return [(int(ts), line, stream["stream"]) for stream in data["data"]["result"] for ts, line in stream["values"]]


def flagship_k8s_log() -> str:
    """The flagship's crash as ``kubectl logs --previous --timestamps`` prints it, oldest first."""
    def stamp(ns: int) -> str:
        return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"

    return "".join(f"{stamp(ts)} {line}\n" for ts, line, _ in sorted(flagship_entries()))


@pytest.fixture(scope="module")
def flagship_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(load_bundle(FLAGSHIP, tmp_path_factory.mktemp("cache")).repo)


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")
           and k not in ("HEALCREW_DEBUG", "HEALCREW_LOKI_TOKEN", "KUBERNETES_SERVICE_HOST")}
    return {**env, "HEALCREW_CACHE": str(tmp_path / "cache"), "COLUMNS": "200", **extra}


def healcrew(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crew.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout, check=False)


def kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "bot"}}],
        "users": [{"name": "bot", "user": {"token": "kube-token-for-the-test"}}],
    }))
    return path


def test_diagnose_from_loki_with_the_alert_naming_the_pod(tmp_path: Path, flagship_repo: Path) -> None:
    with serving(FakeLoki(flagship_entries())) as loki:
        proc = healcrew(["diagnose", "--repo", str(flagship_repo), "--commit", "755d4d7d14f8",
                         "--loki", loki.url, "--loki-org-id", "tenant-a", "--alert", str(ALERT), "--json"],
                        cli_env(tmp_path, HEALCREW_LOKI_TOKEN="loki-token-for-the-test"), tmp_path)
        requests = list(loki.requests)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["diagnosis"]["fault_frame"]["repo_path"] == "app/pricing.py"
    assert report["incident"]["pod"] == "pricing-service-6f9c7d8b5-x2kqp"
    assert report["incident"]["logs"]["loki"]["url"] == loki.url
    assert report["incident"]["alerts"][0]["alertname"] == "KubePodCrashLooping"
    query = requests[0].query["query"][0]
    assert 'pod="pricing-service-6f9c7d8b5-x2kqp"' in query and 'namespace="shop"' in query
    assert requests[0].headers["x-scope-orgid"] == "tenant-a"
    assert requests[0].headers["authorization"] == "Bearer loki-token-for-the-test"


def test_diagnose_from_the_kubernetes_api(tmp_path: Path, flagship_repo: Path) -> None:
    with serving(FakeApiServer([PRICING], log=flagship_k8s_log())) as api:
        env = cli_env(tmp_path, KUBECONFIG=str(kubeconfig(tmp_path, api.url)))
        proc = healcrew(["diagnose", "--repo", str(flagship_repo), "--kubernetes", f"{NS}/{POD}/pricing"], env,
                        tmp_path)
        paths = [r.path for r in api.requests]
        auth = {r.headers.get("authorization") for r in api.requests}
    assert proc.returncode == 0, proc.stderr
    assert "return p / d" in proc.stdout and "division_by_zero" in proc.stdout
    assert f"/api/v1/namespaces/{NS}/pods/{POD}/log" in paths
    assert auth == {"Bearer kube-token-for-the-test"}


def test_diagnose_takes_the_alert_with_a_log_file(tmp_path: Path, flagship_repo: Path) -> None:
    proc = healcrew(["diagnose", "--repo", str(flagship_repo), "--log", str(FLAGSHIP / "logs.json"),
                     "--alert", str(ALERT), "--json"], cli_env(tmp_path), tmp_path)
    assert proc.returncode == 0, proc.stderr
    incident = json.loads(proc.stdout)["incident"]
    assert incident["service"] == "pricing-service" and incident["container"] == "pricing"
    assert incident["started_at"].startswith("2026-11-04T02:13:47")


def _timed_run(argv: list[str], env: dict[str, str], cwd: Path, limit: float) -> list[tuple[float, str, str]]:
    """Run the CLI and return its output as (seconds since start, stream, line), in arrival order."""
    proc = subprocess.Popen([sys.executable, "-m", "crew.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert proc.stdout is not None and proc.stderr is not None
    start = time.monotonic()
    names = {proc.stdout: "stdout", proc.stderr: "stderr"}
    lines: list[tuple[float, str, str]] = []
    rest: dict[Any, bytes] = {proc.stdout: b"", proc.stderr: b""}
    with selectors.DefaultSelector() as sel:
        for stream in names:
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map() and time.monotonic() - start < limit:
            for key, _ in sel.select(timeout=1):
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[arg-type]
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                now = time.monotonic() - start
                *whole, rest[key.fileobj] = (rest[key.fileobj] + chunk).split(b"\n")
                lines.extend((now, names[key.fileobj], w.decode(errors="replace")) for w in whole)  # type: ignore[index]
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    lines.append((time.monotonic() - start, "exit", str(proc.returncode)))
    return lines


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_run_from_loki_shows_the_diagnosis_before_the_repair_and_each_step(
    tmp_path: Path, flagship_repo: Path, docker_client: Any,
) -> None:
    out = tmp_path / "out"
    env = cli_env(tmp_path, HEALCREW_CACHE=os.environ.get("HEALCREW_CACHE") or str(tmp_path / "cache"))
    with serving(FakeLoki(flagship_entries())) as loki:
        lines = _timed_run(["run", "--repo", str(flagship_repo), "--commit", "755d4d7d14f8", "--loki", loki.url,
                            "--alert", str(ALERT), "--sandbox", "docker", "--deliver", "none", "--out", str(out)],
                           env, tmp_path, limit=800)
    text = "\n".join(f"{t:7.2f} {s}: {line}" for t, s, line in lines)
    assert lines[-1][2] == "0", text

    def first(stream: str, fragment: str) -> float:
        return next(t for t, s, line in lines if s == stream and fragment in line)

    diagnosis_shown = first("stdout", "return p / d")
    repair_done = first("stderr", "✓ repair")
    assert diagnosis_shown < first("stderr", "repair: reproducing the crash") < repair_done, text
    assert first("stderr", "repair: crash reproduced") < first("stderr", "repair: candidate 1 of") < repair_done, text
    assert first("stderr", "repair: reflection on") < repair_done, text
    assert first("stderr", "report written to") > repair_done, text
    assert not [line for _, s, line in lines if s == "stderr" and line.startswith(("healcrew:", "{"))], text
    report = json.loads((out / "report.json").read_text())
    assert report["outcome"] == "fixed"
    assert report["incident"]["logs"]["loki"]["url"] == loki.url
    assert report["incident"]["pod"] == "pricing-service-6f9c7d8b5-x2kqp"
