"""A real Alertmanager sends its real v4 webhook to a loopback receiver; our parser reads it."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from crew.sources.alertmanager import alert_target, load_payload, parse_webhook, pick_crash_alert
from tests.replay_server import ReplayServer, Request

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
WAIT_SECONDS = 30.0


def _binary() -> str:
    for name in BINARY_NAMES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("Alertmanager binary (Debian package prometheus-alertmanager) is required in CI")
    pytest.skip("Alertmanager binary not installed (apt-get install prometheus-alertmanager)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def alertmanager(tmp_path: Path, replay_server: ReplayServer) -> Iterator[tuple[str, queue.Queue[bytes]]]:
    """Alertmanager on loopback whose only receiver is the test's webhook server."""
    binary = _binary()
    received: queue.Queue[bytes] = queue.Queue()

    def hook(req: Request) -> tuple[int, dict[str, str], bytes]:
        if req.method == "POST" and req.path == "/hook":
            received.put(req.body)
        return 200, {}, b""

    replay_server.handler = hook
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: healcrew\n"
        "  group_by: [alertname, namespace]\n"
        "  group_wait: 1s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: healcrew\n"
        "    webhook_configs:\n"
        f"      - url: {replay_server.url}/hook\n"
        "        send_resolved: true\n"
    )
    port = _free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=debug",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            if proc.poll() is not None:
                output = (tmp_path / "alertmanager.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"alertmanager exited with {proc.returncode}: {output}")
            try:
                if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("alertmanager did not become ready")
            time.sleep(0.1)
        yield url, received
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _next_webhook(received: queue.Queue[bytes], status: str) -> bytes:
    deadline = time.monotonic() + WAIT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            body = received.get(timeout=left)
        except queue.Empty:
            break
        if json.loads(body)["status"] == status:
            return body
    pytest.fail(f"no {status} webhook from alertmanager within {WAIT_SECONDS}s")


def test_real_alertmanager_webhook_round_trip(alertmanager: tuple[str, queue.Queue[bytes]]) -> None:
    url, received = alertmanager
    labels = {
        "alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "pricing-service-6f9c7d8b5-x2kqp",
        "container": "pricing", "reason": "CrashLoopBackOff", "severity": "warning",
    }
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    alert = {
        "labels": labels, "annotations": {"summary": "Pod is crash looping."},
        "startsAt": starts.isoformat().replace("+00:00", "Z"), "generatorURL": "http://prometheus.test/graph",
    }
    resp = httpx.post(f"{url}/api/v2/alerts", json=[alert], timeout=5.0)
    assert resp.status_code == 200, resp.text

    body = _next_webhook(received, "firing")
    model = load_payload(body)
    assert model.version == "4"
    assert model.receiver == "healcrew"
    assert model.group_labels == {"alertname": "KubePodCrashLooping", "namespace": "shop"}
    assert model.truncated_alerts == 0
    (info,) = parse_webhook(body)
    assert info.status == "firing"
    assert info.labels == labels
    assert info.annotations == {"summary": "Pod is crash looping."}
    assert info.starts_at == starts
    assert info.ends_at is None
    assert len(info.fingerprint) == 16 and int(info.fingerprint, 16) >= 0
    assert info.generator_url == "http://prometheus.test/graph"
    picked = pick_crash_alert([info])
    assert picked is not None and alert_target(picked).pod == "pricing-service-6f9c7d8b5-x2kqp"

    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    resolved = {**alert, "endsAt": ended.isoformat().replace("+00:00", "Z")}
    assert httpx.post(f"{url}/api/v2/alerts", json=[resolved], timeout=5.0).status_code == 200
    (done,) = parse_webhook(_next_webhook(received, "resolved"))
    assert done.status == "resolved"
    assert done.fingerprint == info.fingerprint
    assert done.ends_at == ended
