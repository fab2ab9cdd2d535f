"""Kubernetes contract: the official client against a loopback server replaying documented REST responses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crew.errors import SourceError
from crew.handoffs import KubernetesSource
from crew.sources.kubernetes import (
    DEFAULT_TAIL_LINES,
    MAX_LOG_BYTES,
    load_configuration,
    parse_timestamped,
    read_previous_logs,
    read_termination,
)
from tests.replay_server import ReplayServer, Reply, Request

NS, POD = "shop", "pricing-service-6f9c7d8b5-x2kqp"
TOKEN = "test-bearer-token"
LOG = (
    "2026-11-04T02:13:39.301002003Z INFO:     Started server process [1]\n"
    "2026-11-04T02:13:39.309339547Z Traceback (most recent call last):\n"
    '2026-11-04T02:13:39.309340000Z   File "/app/app/pricing.py", line 27, in calc\n'
    "2026-11-04T02:13:39.309353531Z ZeroDivisionError: float division by zero\n"
)


def container_status(name: str, restarts: int, last: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "name": name, "ready": False, "restartCount": restarts, "image": f"registry.test/{name}:1",
        "imageID": f"registry.test/{name}@sha256:{'0' * 64}", "containerID": f"containerd://{name}",
        "started": False,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": last} if last else {},
    }


def pod_body(statuses: list[dict[str, Any]]) -> bytes:
    return json.dumps({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": POD, "namespace": NS, "uid": "4f0c2a7e-93b1-4d5e-8a6f-2c1d9e7b3a50"},
        "spec": {"containers": [{"name": s["name"], "image": s["image"]} for s in statuses]},
        "status": {"phase": "Running", "containerStatuses": statuses},
    }).encode()


def status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    }).encode()


OOM = {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2026-11-04T02:10:00Z",
       "finishedAt": "2026-11-04T02:13:40Z", "containerID": "containerd://pricing"}
PRICING = container_status("pricing", 6, OOM)
ENVOY = container_status("envoy", 0, None)


class FakeApiServer:
    """GET pod and GET pod log, as the API server answers them."""

    def __init__(self, statuses: list[dict[str, Any]], log: str = LOG) -> None:
        self.statuses, self.log = statuses, log

    def __call__(self, req: Request) -> Reply:
        json_type = {"Content-Type": "application/json"}
        base = f"/api/v1/namespaces/{NS}/pods/"
        if not req.path.startswith(base):
            return 404, json_type, status_body(404, "NotFound", "the server could not find the requested resource")
        name, _, sub = req.path[len(base):].partition("/")
        if name != POD:
            return 404, json_type, status_body(404, "NotFound", f'pods "{name}" not found')
        if sub == "":
            return 200, json_type, pod_body(self.statuses)
        if sub == "log":
            container = req.query.get("container", [""])[0]
            if not container and len(self.statuses) > 1:
                names = " ".join(s["name"] for s in self.statuses)
                msg = f"a container name must be specified for pod {POD}, choose one of: [{names}]"
                return 400, json_type, status_body(400, "BadRequest", msg)
            return 200, {"Content-Type": "text/plain"}, self.log.encode()
        return 404, json_type, status_body(404, "NotFound", "no such subresource")


def configuration(server: ReplayServer, key: str = "BearerToken") -> Any:
    """A client Configuration for the fake API server, as kubernetes 36 documents it."""
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = server.url
    cfg.api_key = {key: TOKEN}
    cfg.api_key_prefix = {key: "Bearer"}
    cfg.retries = 0
    return cfg


@pytest.mark.parametrize("key", ["BearerToken", "authorization"])
def test_bearer_token_is_sent_in_both_spellings(replay_server: ReplayServer, key: str) -> None:
    # "authorization" is the pre-36 spelling that kubernetes 36 sends without its prefix
    replay_server.handler = FakeApiServer([PRICING])
    read_termination(KubernetesSource(namespace=NS, pod=POD, container="pricing"),
                     configuration=configuration(replay_server, key))
    assert replay_server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_previous_logs_with_timestamps(replay_server: ReplayServer) -> None:
    replay_server.handler = FakeApiServer([PRICING])
    source = KubernetesSource(namespace=NS, pod=POD, container="pricing")
    lines = read_previous_logs(source, configuration=configuration(replay_server))
    assert [ln.text for ln in lines] == [
        "INFO:     Started server process [1]", "Traceback (most recent call last):",
        '  File "/app/app/pricing.py", line 27, in calc', "ZeroDivisionError: float division by zero",
    ]
    assert lines[-1].timestamp == datetime(2026, 11, 4, 2, 13, 39, 309353, tzinfo=UTC)
    assert lines[-1].stream == f"{POD}/pricing"
    (req,) = replay_server.requests
    assert req.path == f"/api/v1/namespaces/{NS}/pods/{POD}/log"
    assert req.query["container"] == ["pricing"]
    assert req.query["previous"][0].lower() == "true"
    assert req.query["timestamps"][0].lower() == "true"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    # the body is held in memory before parsing: the API server is asked for a bounded tail
    assert req.query["tailLines"] == [str(DEFAULT_TAIL_LINES)]
    assert req.query["limitBytes"] == [str(MAX_LOG_BYTES)]


def test_a_log_that_is_one_json_document_is_not_mangled(replay_server: ReplayServer) -> None:
    replay_server.handler = FakeApiServer([PRICING], log='2026-11-04T02:13:39Z {"event": "boom", "n": 1}\n')
    lines = read_previous_logs(KubernetesSource(namespace=NS, pod=POD, container="pricing"),
                               configuration=configuration(replay_server))
    assert [ln.text for ln in lines] == ['{"event": "boom", "n": 1}']


def test_without_a_container_the_restarting_one_is_chosen(replay_server: ReplayServer) -> None:
    replay_server.handler = FakeApiServer([ENVOY, PRICING])
    lines = read_previous_logs(KubernetesSource(namespace=NS, pod=POD), configuration=configuration(replay_server))
    assert len(lines) == 4
    pod_req, log_req = replay_server.requests
    assert pod_req.path == f"/api/v1/namespaces/{NS}/pods/{POD}"
    assert log_req.query["container"] == ["pricing"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in replay_server.requests)


def test_termination_from_last_state(replay_server: ReplayServer) -> None:
    replay_server.handler = FakeApiServer([ENVOY, PRICING])
    term = read_termination(KubernetesSource(namespace=NS, pod=POD, container="pricing"),
                            configuration=configuration(replay_server))
    assert term is not None
    assert (term.kind, term.reason, term.exit_code) == ("oom_killed", "OOMKilled", 137)
    assert "pricing" in term.detail
    assert replay_server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ({"exitCode": 137, "reason": "Error"}, ("oom_killed", 137)),
        ({"exitCode": 1, "reason": "Error", "message": "config missing"}, ("exit", 1)),
        ({"exitCode": 0, "reason": "Completed"}, None),
        (None, None),
    ],
)
def test_termination_kinds(replay_server: ReplayServer, last: dict[str, Any] | None, expected: Any) -> None:
    replay_server.handler = FakeApiServer([container_status("pricing", 3, last)])
    term = read_termination(KubernetesSource(namespace=NS, pod=POD), configuration=configuration(replay_server))
    if expected is None:
        assert term is None
    else:
        assert term is not None and (term.kind, term.exit_code) == expected


def test_missing_pod_is_a_source_error(replay_server: ReplayServer) -> None:
    replay_server.handler = FakeApiServer([PRICING])
    cfg = configuration(replay_server)
    gone = KubernetesSource(namespace=NS, pod="pricing-gone", container="pricing")
    with pytest.raises(SourceError, match='not found.*pods "pricing-gone" not found') as err:
        read_previous_logs(gone, configuration=cfg)
    assert "\n" not in str(err.value)
    with pytest.raises(SourceError, match="not found"):
        read_termination(gone, configuration=cfg)


def test_bad_request_carries_the_api_message(replay_server: ReplayServer) -> None:
    def handler(req: Request) -> Reply:
        msg = f'previous terminated container "pricing" in pod "{POD}" not found'
        return 400, {"Content-Type": "application/json"}, status_body(400, "BadRequest", msg)

    replay_server.handler = handler
    with pytest.raises(SourceError, match="400: previous terminated container"):
        read_previous_logs(KubernetesSource(namespace=NS, pod=POD, container="pricing"),
                           configuration=configuration(replay_server))


def test_unauthorized_is_a_source_error(replay_server: ReplayServer) -> None:
    replay_server.handler = lambda req: (401, {"Content-Type": "application/json"},
                                         status_body(401, "Unauthorized", "Unauthorized"))
    with pytest.raises(SourceError, match="access denied"):
        read_termination(KubernetesSource(namespace=NS, pod=POD, container="x"),
                         configuration=configuration(replay_server))


def test_unreachable_api_server_is_a_source_error(replay_server: ReplayServer) -> None:
    cfg = configuration(replay_server)
    cfg.host = "http://127.0.0.1:1"
    with pytest.raises(SourceError, match="unreachable"):
        read_previous_logs(KubernetesSource(namespace=NS, pod=POD, container="pricing"), configuration=cfg)


def test_kubeconfig_file_is_loaded_and_its_token_sent(replay_server: ReplayServer, tmp_path: Path) -> None:
    replay_server.handler = FakeApiServer([PRICING])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "c", "cluster": {"server": replay_server.url}}],
        "users": [{"name": "u", "user": {"token": "from-kubeconfig"}}],
        "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u", "namespace": NS}}],
    }))
    cfg = load_configuration(str(kubeconfig))
    cfg.retries = 0
    lines = read_previous_logs(KubernetesSource(namespace=NS, pod=POD, container="pricing"), configuration=cfg)
    assert lines[0].text.startswith("INFO:")
    assert replay_server.requests[0].headers["authorization"] == "Bearer from-kubeconfig"


def test_unusable_configuration_is_a_source_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceError, match="cannot load Kubernetes configuration"):
        load_configuration(str(tmp_path / "missing-kubeconfig"))
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    with pytest.raises(SourceError, match="cannot load Kubernetes configuration"):
        load_configuration(str(broken))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "1")
    with pytest.raises(SourceError, match="in-cluster|cannot load"):
        load_configuration()


def test_parse_timestamped_handles_offsets_and_unprefixed_lines() -> None:
    lines = parse_timestamped("2026-11-04T03:13:39.5+01:00 hello\nno stamp here\n2026-11-04T02:13:39Z \n")
    assert lines[0].text == "hello"
    assert lines[0].timestamp == datetime(2026, 11, 4, 2, 13, 39, 500000, tzinfo=UTC)
    assert lines[1].text == "no stamp here" and lines[1].timestamp is None
    assert lines[2].text == ""
