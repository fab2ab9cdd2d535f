"""The same incident through the local executor and through the argo executor gives the same records.

The argo side runs the service for real (FastAPI app, workers, SQLite store, the policy) with
``ArgoPipeline`` against the loopback Argo Server, whose steps run ``healcrew stage`` (with the
Docker sandbox) as subprocesses; ``GET /incidents/{id}`` must show the Workflow and its steps.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from crew.flow import FlowState
from crew.service.metrics import Metrics
from crew.service.worker import FlowPipeline
from crew.workflows.executor import ArgoPipeline, store_progress
from crew.workflows.settings import ArgoSettings
from tests.replay_server import ReplayServer
from tests.workflows.argo_replay import FakeArgo
from tests.workflows.conftest import BUNDLE

pytestmark = pytest.mark.docker


CLOCK: Any = {"seconds": True, "test_on_original": {"seconds"}}


def _records(state: FlowState) -> dict[str, Any]:
    """What the run found and decided, without timings (clock) and sandbox durations."""
    assert state.accepted is not None and state.diagnosis is not None and state.evidence is not None
    return {
        "evidence": state.evidence.model_dump(mode="json"),
        "diagnosis": state.diagnosis.model_dump(mode="json"),
        "patch": state.accepted.proposal.diff, "test": state.accepted.proposal.model_dump(mode="json").get("test"),
        "strategy": state.accepted.proposal.strategy,
        "verdicts": [a.critique.verdict if a.critique else None for a in state.attempts],
        "reproduction": state.reproduction.model_dump(mode="json", exclude=CLOCK) if state.reproduction else None,
        "stages": [t.stage for t in state.timings], "stopped_at": state.stopped_at,
    }


def test_local_and_argo_executors_give_the_same_records_and_the_api_shows_the_workflow(
        docker_client: Any, argo: tuple[FakeArgo, ReplayServer], tmp_path: Path, incident: Any) -> None:
    from fastapi.testclient import TestClient

    from crew.policy.repair_policy import PolicyDecision
    from crew.service.app import create_app
    from crew.service.auth import Secrets
    from crew.service.config import ServiceConfig
    from crew.service.store import Store
    from tests.service.helpers import AUTH, TOKEN

    def deliver_with_canary(policy: Any, report: Any, *, attempts_last_hour: int) -> PolicyDecision:
        return PolicyDecision(action="deliver", reasons=["test"], canary_autostart=True)

    fake, server = argo
    remote = tmp_path / "remote.git"  # the fix is pushed, so the canary's image can name its commit
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True, timeout=30)
    config = ServiceConfig.model_validate({
        "services": [{"name": "pricing-service", "repo": {"path": incident.repo, "branch": incident.commit},
                      "logs": {"file": str(BUNDLE / "logs.json")}, "test_command": incident.test_command,
                      "delivery": {"remote_url": str(remote), "push": True},
                      "canary": {"backend": "argo", "image": "registry.example.com/pricing:{commit}"}}],
        "out_dir": str(tmp_path / "out")})
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    pipeline = ArgoPipeline(ArgoSettings(server=server.url, namespace="healcrew", poll_seconds=0.1),
                            tmp_path / "out", Metrics(), progress=store_progress(store))
    app = create_app(store, config, Secrets(token=TOKEN, hmac_key="k3y"), pipeline, check_docker=False,
                     decider=deliver_with_canary)
    with TestClient(app) as client:
        answer = client.post("/alerts", content=(BUNDLE / "alert.json").read_bytes(),
                             headers={**AUTH, "Content-Type": "application/json"})
        assert answer.status_code == 202, answer.text
        incident_id = client.get("/incidents", headers=AUTH).json()["items"][0]["id"]
        deadline = time.monotonic() + 240
        while ((row := client.get(f"/incidents/{incident_id}", headers=AUTH).json())["status"] in ("queued", "running")
               or row["stage"] is not None):  # the canary runs after the delivered fix is "fixed"
            assert time.monotonic() < deadline, row
            time.sleep(0.5)
    assert row["status"] == "fixed", row
    workflow = row["workflow"]
    assert workflow["name"] == "healcrew-" + f"pricing-service-{incident_id}"[:50].lower()
    assert workflow["phase"] == "Succeeded"
    assert [(n["name"], n["phase"]) for n in workflow["nodes"]] == [
        (step, "Succeeded") for step in sorted(["monitor", "diagnose", "repair", "reflect", "decide", "deliver",
                                                "canary"])]
    delivery = json.loads(next(p["value"] for n in fake.workflows[("healcrew", workflow["name"])]["status"]
                               ["nodes"].values() if n["displayName"] == "decide"
                               for p in n["outputs"]["parameters"]))
    assert delivery["forge"] == "local"  # the service's decision reached the deliver step through the gate
    argo_state = FlowState.model_validate_json(pipeline_state(fake, workflow["name"], "reflect"))
    # The planned canary ran as the Workflow's last step, on the delivered commit's image; with no
    # cluster to reach here it could not start, and says so instead of failing the delivered fix.
    canary_state = FlowState.model_validate_json(pipeline_state(fake, workflow["name"], "canary"))
    assert canary_state.delivery is not None and canary_state.delivery.commit
    assert canary_state.canary_argo is not None
    assert canary_state.canary_argo["image"] == f"registry.example.com/pricing:{canary_state.delivery.commit}"
    assert canary_state.canary_argo["rollout"] == "pricing-service"
    assert row["canary"]["backend"] == "argo" and row["canary"]["decision"] == "not_run", row["canary"]
    assert canary_state.canary is not None and row["canary"]["reason"] == canary_state.canary.reason[:500]

    local = FlowPipeline(tmp_path / "local", Metrics())
    try:
        assert argo_state.incident is not None
        handle, signature = local.monitor(argo_state.incident)  # the Incident the service built, run locally
        local.finish(handle)
    finally:
        local.close()
    local_state = FlowState.model_validate_json(handle.state_json)
    assert signature == row["signature"]
    assert _records(local_state) == _records(argo_state)


def pipeline_state(fake: FakeArgo, name: str, step: str) -> str:
    """The FlowState artifact of ``step``'s succeeded attempt."""
    nodes = fake.workflows[("healcrew", name)]["status"]["nodes"].values()
    node = next(n for n in nodes if n["displayName"] == step)
    return fake.files[(name, node["id"], "state")].read_text()
