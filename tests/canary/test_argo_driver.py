"""The Argo Rollouts driver through the official client, against a loopback server that answers as the API server.

The fake keeps one Rollout and its AnalysisRuns, applies the merge and JSON patches it receives
the way the API server does, and moves the Rollout through scripted frames: one frame per GET,
except that a frame with pause conditions stays until they are cleared by a promote.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from crew.canary.argo import ArgoError, RolloutDriver, run_canary
from tests.replay_server import ReplayServer, Reply, Request, serving

NS, NAME = "shop", "pricing-service"
BASE = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}"
STEPS = [{"setWeight": 20}, {"pause": {}}, {"analysis": {"templates": [{"templateName": "health"}]}},
         {"setWeight": 50}, {"pause": {"duration": "1m"}}, {"setWeight": 100}]
PAUSED = [{"reason": "CanaryPauseStep", "startTime": "2026-12-02T02:00:00Z"}]


def _rollout(paused: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": NAME, "namespace": NS, "resourceVersion": "1"},
        "spec": {"paused": paused, "replicas": 4, "strategy": {"canary": {"steps": STEPS}},
                 "template": {"metadata": {"labels": {"app": NAME}}, "spec": {"containers": [
                     {"name": "envoy", "image": "envoy:1.30"}, {"name": "pricing", "image": "pricing:1.3.0"}]}}},
        "status": {"phase": "Healthy", "currentStepIndex": len(STEPS)},
    }


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 ``test`` and ``replace``, enough for the driver; a failed test is a 422 as on the API server."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [int(p) if p.isdigit() else p for p in op["path"].strip("/").split("/")]
        node = doc
        for part in parents:
            node = node[part]
        if op["op"] == "test" and node[last] != op["value"]:
            raise ValueError(f"test failed at {op['path']}")
        if op["op"] == "replace":
            node[last] = op["value"]
    return doc


class FakeArgo:
    """The API server's rollouts and analysisruns endpoints for one Rollout."""

    def __init__(self, frames: list[dict[str, Any]], paused: bool = False, fail: dict[str, int] | None = None):
        self.rollout = _rollout(paused)
        self.frames = frames
        self.runs: dict[str, str] = {}
        self.fail = fail or {}  # "METHOD suffix" -> status to answer once
        self.patches: list[tuple[str, str, Any]] = []

    def _advance(self) -> None:
        """The controller moves only once the new template is in the spec, and stays at a pause until promoted."""
        if not self.patches or not self.frames or self.rollout["status"].get("pauseConditions"):
            return
        frame = self.frames.pop(0)
        self.runs.update(frame.pop("runs", {}))
        self.rollout["status"] = frame

    def __call__(self, req: Request) -> Reply:
        json_type = {"Content-Type": "application/json"}
        key = f"{req.method} {req.path.rsplit('/', 1)[-1]}"
        if key in self.fail:
            code = self.fail.pop(key)
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                    "reason": "Forbidden" if code == 403 else "InternalError", "message": "scripted failure"}
            return code, json_type, json.dumps(body).encode()
        if req.path == f"{BASE}/analysisruns" and req.method == "GET":
            items = [{"metadata": {"name": n, "ownerReferences": [{"kind": "Rollout", "name": NAME}]},
                      "status": {"phase": p}} for n, p in self.runs.items()]
            items.append({"metadata": {"name": "other", "ownerReferences": [{"kind": "Rollout", "name": "x"}]},
                          "status": {"phase": "Failed"}})  # another rollout's failure is not ours
            return 200, json_type, json.dumps({"kind": "AnalysisRunList", "items": items}).encode()
        if req.path == f"{BASE}/rollouts/{NAME}" and req.method == "GET":
            self._advance()
            return 200, json_type, json.dumps(self.rollout).encode()
        if req.path.startswith(f"{BASE}/rollouts/{NAME}") and req.method == "PATCH":
            kind, body = req.headers.get("content-type", ""), json.loads(req.body)
            self.patches.append((req.path.removeprefix(f"{BASE}/rollouts/{NAME}"), kind, body))
            try:
                if kind == "application/json-patch+json":
                    self.rollout = _json_patch(self.rollout, body)
                else:
                    self.rollout = _merge(self.rollout, body)
            except (ValueError, KeyError, IndexError) as exc:
                return 422, json_type, json.dumps({"kind": "Status", "code": 422, "message": str(exc)}).encode()
            return 200, json_type, json.dumps(self.rollout).encode()
        return 404, json_type, b'{"kind":"Status","code":404,"reason":"NotFound"}'


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with serving() as s:
        yield s


def _driver(server: ReplayServer) -> RolloutDriver:
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = server.url
    cfg.retries = 0
    return RolloutDriver(client.ApiClient(cfg), NS, NAME)


def _fast(server: ReplayServer, **kw: Any) -> Any:
    ticks = iter(range(10_000))
    return run_canary(_driver(server), "pricing", "pricing:1.3.1", poll=0, clock=lambda: float(next(ticks)),
                      sleep=lambda _s: None, **kw)


PROGRESS = [
    {"phase": "Progressing", "currentStepIndex": 0},
    {"phase": "Paused", "currentStepIndex": 1, "pauseConditions": PAUSED},
    {"phase": "Progressing", "currentStepIndex": 2, "runs": {"pricing-health-1": "Running"}},
    {"phase": "Progressing", "currentStepIndex": 3, "runs": {"pricing-health-1": "Successful"}},
    {"phase": "Paused", "currentStepIndex": 4, "pauseConditions": PAUSED},  # a timed pause: left to run out
    {"phase": "Progressing", "currentStepIndex": 5},
    {"phase": "Healthy", "currentStepIndex": 6},
]


def _timed_pause_ends(fake: FakeArgo) -> None:
    """The controller ends a timed pause by itself: the fake clears it on the next GET after it is seen."""
    original = fake._advance

    def advance() -> None:
        status = fake.rollout["status"]
        if status.get("currentStepIndex") == 4 and status.get("pauseConditions"):
            status.pop("pauseConditions")
        original()

    fake._advance = advance  # type: ignore[method-assign]


def test_progressing_paused_healthy_promotes_with_kubectls_patches(server: ReplayServer) -> None:
    fake = FakeArgo(copy.deepcopy(PROGRESS))
    _timed_pause_ends(fake)
    server.handler = fake
    result = _fast(server)
    assert result.decision == "promoted" and result.stable_image == "pricing:1.3.0"
    assert [s.action for s in result.steps if s.action] == ["promoted"]  # only the indefinite pause
    image, promote = fake.patches
    assert image == ("", "application/json-patch+json", [
        {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "pricing"},
        {"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "pricing:1.3.1"}])
    assert promote == ("/status", "application/merge-patch+json", {"status": {"pauseConditions": None}})
    assert fake.rollout["spec"]["template"]["spec"]["containers"][1]["image"] == "pricing:1.3.1"
    assert [s.step_index for s in result.steps] == [0, 1, 2, 3, 4, 5, 6]


def test_a_paused_spec_is_unpaused_before_the_pause_conditions_are_cleared(server: ReplayServer) -> None:
    fake = FakeArgo([{"phase": "Paused", "currentStepIndex": 1, "pauseConditions": PAUSED},
                     {"phase": "Healthy", "currentStepIndex": 6}], paused=True)
    server.handler = fake
    assert _fast(server).decision == "promoted"
    assert [(p[0], p[2]) for p in fake.patches[1:3]] == [
        ("", {"spec": {"paused": False}}), ("/status", {"status": {"pauseConditions": None}})]


def test_an_analysis_failure_aborts_and_puts_the_stable_template_back(server: ReplayServer) -> None:
    fake = FakeArgo([{"phase": "Progressing", "currentStepIndex": 0},
                     {"phase": "Progressing", "currentStepIndex": 2, "runs": {"pricing-health-1": "Failed"}},
                     {"phase": "Degraded", "currentStepIndex": 2, "abort": True, "message": "RolloutAborted"}])
    server.handler = fake
    result = _fast(server)
    assert result.decision == "aborted" and "pricing-health-1 Failed" in result.reason
    abort, rollback = fake.patches[1:]
    assert abort == ("/status", "application/merge-patch+json", {"status": {"abort": True}})
    assert rollback[1] == "application/json-patch+json" and rollback[2][0]["path"] == "/spec/template"
    assert fake.rollout["spec"]["template"]["spec"]["containers"][1]["image"] == "pricing:1.3.0"


def test_a_degraded_rollout_aborts(server: ReplayServer) -> None:
    server.handler = fake = FakeArgo([{"phase": "Degraded", "currentStepIndex": 0,
                                       "message": "ProgressDeadlineExceeded"}])
    result = _fast(server)
    assert result.decision == "aborted" and "ProgressDeadlineExceeded" in result.reason
    assert fake.patches[-1][2][0]["value"]["spec"]["containers"][1]["image"] == "pricing:1.3.0"


def test_no_verdict_in_time_aborts_and_rolls_back(server: ReplayServer) -> None:
    server.handler = fake = FakeArgo([{"phase": "Progressing", "currentStepIndex": 0}])
    result = _fast(server, timeout=5)
    assert result.decision == "timed_out" and "aborted and rolled back" in result.reason
    assert {"status": {"abort": True}} in [p[2] for p in fake.patches]


def test_a_wrong_container_is_refused_and_api_errors_are_one_line(server: ReplayServer) -> None:
    server.handler = fake = FakeArgo([])
    with pytest.raises(ArgoError, match="has no container 'web'"):
        run_canary(_driver(server), "web", "web:2")
    assert fake.patches == []
    fake.fail = {f"GET {NAME}": 500}
    with pytest.raises(ArgoError) as err:
        _driver(server).get()
    assert str(err.value) == f"get rollout {NS}/{NAME}: 500 Internal Server Error" and "\n" not in str(err.value)
    fake.fail = {"PATCH status": 403}
    with pytest.raises(ArgoError, match="promote rollout shop/pricing-service: 403"):
        _driver(server).promote()
