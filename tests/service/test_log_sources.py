"""The service's log sources: an alert's labels reach Loki or the Kubernetes API, and the run finds the crash.

The real monitoring stage runs (in the run's child process, as under ``healcrew serve``) against
loopback servers that answer as Loki's query_range and the API server's pod log endpoints do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crew.handoffs import AlertInfo
from crew.policy.model import Policy
from crew.service.config import ServiceConfig
from crew.service.metrics import Metrics
from crew.service.store import IncidentRow
from crew.service.worker import FlowPipeline, incident_for
from tests.replay_server import ReplayServer, Reply, Request, serving
from tests.service.helpers import FLAGSHIP_ALERT
from tests.sources.test_kubernetes import LOG, NS, POD, PRICING, TOKEN, FakeApiServer

TRACEBACK = [line.split(" ", 1)[1] for line in LOG.splitlines()]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _loki(req: Request) -> Reply:
    """query_range: the crash's lines inside whatever window was asked for, as one stream."""
    assert req.path == "/loki/api/v1/query_range"
    start = int(req.query["start"][0])
    values = [[str(start + i * 1000), text] for i, text in enumerate(TRACEBACK)][::-1]  # backward
    body = {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"namespace": NS, "pod": POD, "container": "pricing"}, "values": values}]}}
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _alerts() -> tuple[dict[str, str], list[AlertInfo]]:
    raw = json.loads(FLAGSHIP_ALERT.read_text())["alerts"][0]
    alert = AlertInfo(status="firing", alertname=raw["labels"]["alertname"], labels=raw["labels"],
                      annotations=raw["annotations"], fingerprint=raw["fingerprint"], starts_at=raw["startsAt"])
    return raw["labels"], [alert]


def _monitor(tmp_path: Path, logs: dict[str, Any]) -> tuple[Any, str | None]:
    entry = ServiceConfig.model_validate({"services": [{
        "name": "pricing-service", "repo": {"path": str(tmp_path)}, "logs": logs}]}).services[0]
    labels, alerts = _alerts()
    row = IncidentRow(id="inc1", service=entry.name, labels=labels)
    pipe = FlowPipeline(tmp_path / "out", Metrics())
    try:
        return pipe.monitor(incident_for(row, entry, alerts, Policy()))
    finally:
        pipe.close()


def test_a_loki_source_is_queried_with_the_alerts_pod_and_the_crash_is_found(tmp_path: Path) -> None:
    with serving() as server:
        server.handler = _loki
        run, signature = _monitor(tmp_path, {"loki_url": server.url, "loki_selector": '{namespace="shop"}'})
    assert signature and "ZeroDivisionError" in run.state_json
    assert server.requests and server.requests[0].query["query"] == ['{namespace="shop"}']


def test_the_kubernetes_source_reads_the_previous_container_of_the_alerts_pod(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server: ReplayServer
    with serving() as server:
        server.handler = FakeApiServer([PRICING])
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "c", "cluster": {"server": server.url}}],
            "users": [{"name": "u", "user": {"token": TOKEN}}],
            "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}]}))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        run, signature = _monitor(tmp_path, {"kubernetes": True})
    assert signature and "ZeroDivisionError" in run.state_json
    logs = [r for r in server.requests if r.path.endswith("/log")]
    assert logs and logs[0].path == f"/api/v1/namespaces/{NS}/pods/{POD}/log"
    assert logs[0].query["previous"][0].lower() == "true" and logs[0].query.get("container") == ["pricing"]
    assert logs[0].headers.get("authorization") == f"Bearer {TOKEN}"
