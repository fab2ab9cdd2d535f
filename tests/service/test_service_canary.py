"""Service mode's canary: after delivery, only when the service has one and its policy allows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crew.audit import AuditLog, verify_chain
from crew.errors import BadInputError
from crew.handoffs import CanaryResult
from crew.policy.repair_policy import PolicyDecision
from crew.service.config import load_service_config
from tests.service.helpers import AUTH, RecordingPipeline, alert_payload, make


class CanaryPipeline(RecordingPipeline):
    """A recording pipeline whose canary answers ``decision``."""

    def __init__(self, decision: str = "promoted", fail: str | None = None) -> None:
        super().__init__(signature=None)
        self.decision, self.fail = decision, fail
        self.canaries: list[tuple[str, float | None, dict[str, Any] | None]] = []

    def canary(self, handle: Any, backend: str, time_scale: float | None,
               argo: dict[str, Any] | None) -> CanaryResult:
        from crew.errors import HealcrewError

        self.canaries.append((backend, time_scale, argo))
        if self.fail:
            raise HealcrewError(self.fail)
        return CanaryResult(backend=backend, decision=self.decision, reason=f"judge says {self.decision}",  # type: ignore[arg-type]
                            stable="abc", candidate="def", final_weight=100 if self.decision == "promoted" else 0)


class Allow:
    """The policy decision: deliver, with or without canary_autostart."""

    def __init__(self, autostart: bool) -> None:
        self.autostart = autostart

    def __call__(self, policy: Any, report: Any, *, attempts_last_hour: int) -> PolicyDecision:
        return PolicyDecision(action="deliver", reasons=["ok"], canary_autostart=self.autostart)


def _run(tmp_path: Path, pipe: RecordingPipeline, canary: dict[str, Any], autostart: bool,
         labels: dict[str, str] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    log = tmp_path / "audit.jsonl"
    app = make(tmp_path, pipe, start_workers=False, decider=Allow(autostart), audit=AuditLog(log))
    entry = app.state.workers.config.services[0]
    app.state.workers.config.services[0] = entry.model_copy(
        update={"canary": type(entry.canary).model_validate(canary)})
    with TestClient(app) as c:
        iid = c.post("/alerts", json=alert_payload("c1", **(labels or {})), headers=AUTH).json()["incidents"][0]
        assert app.state.store.claim("w") == iid
        app.state.workers.process(iid)
        incident = c.get(f"/incidents/{iid}", headers=AUTH).json()
        metrics = c.get("/metrics").text
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert verify_chain(log).ok
    return incident, records, metrics


def test_a_delivered_fix_gets_its_canary_when_the_policy_allows(tmp_path: Path) -> None:
    pipe = CanaryPipeline("promoted")
    incident, records, metrics = _run(tmp_path, pipe, {"backend": "local", "time_scale": 0.1}, autostart=True)
    assert pipe.canaries == [("local", 0.1, None)]
    assert incident["status"] == "fixed" and incident["stage"] is None
    assert incident["canary"]["decision"] == "promoted" and incident["canary"]["final_weight"] == 100
    steps = [r["detail"]["step"] for r in records if r["action"] == "canary_step"]
    assert steps == ["started", "finished"]
    assert [r["action"] for r in records].index("pr_opened") < [r["action"] for r in records].index("canary_step")
    assert 'healcrew_canaries_total{decision="promoted"} 1.0' in metrics


def test_an_aborted_canary_is_the_incidents_record_and_the_fix_stays_delivered(tmp_path: Path) -> None:
    incident, records, metrics = _run(tmp_path, CanaryPipeline("aborted"), {"backend": "local"}, autostart=True)
    assert incident["status"] == "fixed" and incident["pr_url"]
    assert incident["canary"]["decision"] == "aborted" and incident["canary"]["final_weight"] == 0
    assert records[-1]["detail"]["decision"] == "aborted"
    assert 'healcrew_canaries_total{decision="aborted"} 1.0' in metrics


def test_without_canary_autostart_the_canary_is_held_with_the_reason(tmp_path: Path) -> None:
    pipe = CanaryPipeline()
    incident, records, _ = _run(tmp_path, pipe, {"backend": "local"}, autostart=False)
    assert pipe.canaries == []
    assert incident["canary"]["decision"] == "not_run" and "canary_autostart" in incident["canary"]["reason"]
    assert records[-1]["action"] == "canary_step" and records[-1]["detail"]["step"] == "held"


def test_no_canary_configured_means_no_canary_and_no_record(tmp_path: Path) -> None:
    pipe = CanaryPipeline()
    incident, records, _ = _run(tmp_path, pipe, {"backend": "off"}, autostart=True)
    assert pipe.canaries == [] and incident["canary"] is None
    assert "canary_step" not in {r["action"] for r in records}


def test_a_canary_that_cannot_start_is_not_run_with_its_reason(tmp_path: Path) -> None:
    pipe = CanaryPipeline(fail="no kubeconfig and not in a cluster")
    incident, _, metrics = _run(tmp_path, pipe, {"backend": "local"}, autostart=True)
    assert incident["status"] == "fixed"
    assert incident["canary"] == {"backend": "local", "decision": "not_run",
                                  "reason": "no kubeconfig and not in a cluster"}
    assert 'healcrew_canaries_total{decision="not_run"} 1.0' in metrics


def test_the_argo_canary_targets_the_alerts_rollout_with_the_configured_image(tmp_path: Path) -> None:
    pipe = CanaryPipeline()
    _run(tmp_path, pipe, {"backend": "argo", "image": "registry.example.com/pricing:{commit}"}, autostart=True,
         labels={"namespace": "shop", "container": "api"})
    assert pipe.canaries == [("argo", None, {"namespace": "shop", "rollout": "pricing-service", "container": "api",
                                             "image": "registry.example.com/pricing:{commit}"})]


def test_an_argo_canary_without_an_image_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "service.yaml"
    config.write_text("services:\n- name: pricing-service\n  repo: {path: .}\n  logs: {file: x.log}\n"
                      "  canary: {backend: argo}\n")
    with pytest.raises(BadInputError, match="image"):
        load_service_config(config)


def test_the_stage_fills_the_delivered_commit_into_the_argo_image(tmp_path: Path, monkeypatch: Any) -> None:
    from crew import flow
    from crew.handoffs import DeliveryRecord
    from crew.service import stage_process

    seen: dict[str, Any] = {}
    monkeypatch.setattr(flow.Stages, "canary", lambda self: seen.update(argo=self.state.canary_argo,
                                                                       allowed=self.state.canary_allowed))
    state = flow.FlowState(id="x", delivery=DeliveryRecord(incident_id="x", forge="local", branch="healcrew/fix-1",
                                                               base_commit="ba5e", commit="c0ffee"))
    argo = {"namespace": "shop", "rollout": "pricing", "container": "api", "image": "reg/pricing:{commit}-{branch}"}
    stage_process.canary(state.model_dump_json(), "argo", None, argo)
    assert seen == {"argo": {**argo, "image": "reg/pricing:c0ffee-healcrew/fix-1"}, "allowed": True}


def test_an_argo_image_naming_a_commit_the_delivery_lacks_is_not_run(tmp_path: Path) -> None:
    from crew import flow
    from crew.handoffs import DeliveryRecord
    from crew.service import stage_process

    unpushed = flow.FlowState(id="x", delivery=DeliveryRecord(incident_id="x", forge="local", branch="healcrew/fix-1",
                                                              base_commit="ba5e", commit=None))
    argo = {"namespace": "shop", "rollout": "pricing", "container": "api", "image": "reg/pricing:{commit}"}
    state = flow.FlowState.model_validate_json(stage_process.canary(unpushed.model_dump_json(), "argo", None, argo))
    assert state.canary is not None and state.canary.decision == "not_run"
    assert "not pushed" in state.canary.reason and "reg/pricing:{commit}" in state.canary.reason
    assert state.canary_argo == argo  # nothing half-filled reaches a Rollout
