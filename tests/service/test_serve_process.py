"""``healcrew serve`` as a real subprocess on loopback: the flagship end to end, and an alert storm."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.helpers import FLAGSHIP_ALERT, ROOT

TOKEN = "serve-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEND_RATE = 250


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp_path: Path, policy: Path | None = None) -> Path:
    text = (ROOT / "examples" / "service" / "healcrew-service.yaml").read_text()
    base = ROOT / "examples" / "service"
    text = text.replace("../../out/service", str(tmp_path / "out"))
    text = text.replace("../pricing-service", str(base.parent / "pricing-service"))
    text = text.replace("../incidents/", str(base.parent / "incidents") + "/")
    text = text.replace("repair-policy.yaml", str(policy or base / "repair-policy.yaml"))
    path = tmp_path / "service.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path, _config(tmp_path))


@pytest.fixture
def serve_with_canaries(tmp_path: Path) -> Iterator[str]:
    """The example service with a policy that lets the delivered fix's canary start by itself."""
    text = (ROOT / "examples" / "service" / "repair-policy.yaml").read_text()
    assert "canary_autostart: false" in text
    policy = tmp_path / "repair-policy.yaml"
    policy.write_text(text.replace("canary_autostart: false", "canary_autostart: true"))
    config = _config(tmp_path, policy)
    config.write_text(config.read_text().replace("backend: local ", "backend: local\n      time_scale: 0.08 ", 1))
    yield from _serve(tmp_path, config)


def _serve(tmp_path: Path, config: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "HEALCREW_WEBHOOK_TOKEN": TOKEN, "HEALCREW_CACHE": str(tmp_path / "cache"),
           "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crew.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--config", str(config), "--state", f"sqlite:///{tmp_path / 'state.db'}",
         "--audit-log", str(tmp_path / "audit.jsonl")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(f"serve did not come up: {proc.stderr.read().decode() if proc.stderr else ''}")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _incidents(url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = httpx.get(f"{url}/incidents", headers=AUTH, timeout=5).json()["items"]
    return items


@pytest.mark.docker
@pytest.mark.timeout(180)
def test_flagship_alert_becomes_a_fixed_incident_with_a_review_bundle(serve: str, docker_client: Any) -> None:
    body = FLAGSHIP_ALERT.read_bytes()
    assert httpx.get(f"{serve}/healthz", timeout=5).status_code == 200
    assert httpx.post(f"{serve}/alerts", content=body, timeout=5).status_code == 401
    r = httpx.post(f"{serve}/alerts", content=body, headers=AUTH, timeout=5)
    assert r.status_code == 202
    deadline = time.monotonic() + 120
    items = _incidents(serve)
    while time.monotonic() < deadline and not (items and items[0]["status"] in ("fixed", "failed", "rejected")):
        time.sleep(1)
        items = _incidents(serve)
    assert len(items) == 1 and items[0]["status"] == "fixed", items
    bundle = Path(items[0]["pr_url"])
    assert (bundle / "PR.md").is_file() and (bundle / "fix.patch").is_file()
    assert "pricing" in (bundle / "fix.patch").read_text()
    canary = items[0]["canary"]  # the example config has a canary, its policy does not let it start alone
    assert canary["decision"] == "not_run" and "canary_autostart" in canary["reason"], canary


@pytest.mark.docker
@pytest.mark.timeout(420)
def test_with_canary_autostart_the_delivered_fix_is_promoted_by_a_local_canary(serve_with_canaries: str,
                                                                              docker_client: Any) -> None:
    url = serve_with_canaries
    assert httpx.post(f"{url}/alerts", content=FLAGSHIP_ALERT.read_bytes(), headers=AUTH, timeout=5).status_code == 202
    deadline = time.monotonic() + 360
    items = _incidents(url)
    while time.monotonic() < deadline and not (items and items[0]["canary"] and items[0]["stage"] is None):
        assert not (items and items[0]["status"] in ("failed", "rejected")), items
        time.sleep(2)
        items = _incidents(url)
    assert len(items) == 1 and items[0]["status"] == "fixed", items
    canary = items[0]["canary"]
    assert canary["backend"] == "local" and canary["decision"] == "promoted", canary
    assert canary["steps"] >= 3 and canary["final_weight"] == 100
    report = json.loads((Path(items[0]["report_path"])).read_text())
    assert report["canary"]["decision"] == "promoted" and report["canary"]["steps"]
    assert "Canary" in (Path(items[0]["pr_url"]) / "PR.md").read_text()  # the outcome reached the PR


@pytest.mark.timeout(120)
def test_alert_storm_of_duplicates_makes_one_incident(serve: str, tmp_path: Path) -> None:
    payload = json.loads(FLAGSHIP_ALERT.read_text())
    payload["alerts"][0]["labels"].update(service="not-configured", namespace="elsewhere")  # intake only: no run
    body = json.dumps(payload).encode()
    latencies: list[float] = []

    async def storm() -> tuple[float, float]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=serve, headers=AUTH, limits=limits, timeout=30) as client:
            async def one(at: float) -> None:
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                start = time.perf_counter()
                r = await client.post("/alerts", content=body)
                latencies.append(time.perf_counter() - start)
                assert r.status_code == 202

            began = time.perf_counter()
            # open loop: one request every 4 ms (250 req/s), whatever the server's answers take
            await asyncio.gather(*(one(began + i / SEND_RATE) for i in range(1000)))
            return began, time.perf_counter() - began

    _began, seconds = asyncio.run(storm())
    latencies.sort()
    p50, p99 = latencies[499] * 1000, latencies[989] * 1000
    print(f"1000 duplicate alerts sent at {SEND_RATE} req/s, all answered in {seconds:.2f}s "
          f"({1000 / seconds:.0f} req/s); intake p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    items = _incidents(serve)
    assert len(items) == 1 and items[0]["status"] == "rejected"
    one = httpx.get(f"{serve}/incidents/{items[0]['id']}", headers=AUTH, timeout=5).json()
    assert one["alerts"][0]["received"] == 1000
    assert seconds < 30  # the intake kept (nearly) up with the storm
