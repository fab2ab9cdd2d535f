"""The service's RepairPolicy in a run: the failure threshold waits, the quota holds, the gates obey it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crew.handoffs import RunReport
from crew.policy.gate import before_delivery
from crew.policy.model import Policy
from crew.repo import GitRepo
from crew.service.store import IncidentRow
from crew.service.worker import incident_for
from tests.service.helpers import AUTH, RecordingPipeline, alert_payload, make

ROOT = Path(__file__).resolve().parents[2]


def _policy(tmp_path: Path, spec: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text("apiVersion: healcrew/v1alpha1\nkind: RepairPolicy\nmetadata: {name: pricing-service}\n"
                    f"spec: {spec}\n")
    return path


def _with_restarts(fingerprint: str, restarts: str) -> dict[str, Any]:
    body = alert_payload(fingerprint)
    for alert in body["alerts"]:
        alert.setdefault("annotations", {})["restarts"] = restarts
    return body


def _status(c: TestClient, iid: str) -> dict[str, Any]:
    return c.get(f"/incidents/{iid}", headers=AUTH).json()


def test_below_the_threshold_waits_and_more_restarts_run_it(tmp_path: Path) -> None:
    pipe = RecordingPipeline(signature=None)
    app = make(tmp_path, pipe, start_workers=False)
    app.state.workers.config.services[0].policy = str(_policy(tmp_path, "{failure_threshold: 3}"))
    pool, store = app.state.workers, app.state.store
    with TestClient(app) as c:
        iid = c.post("/alerts", json=_with_restarts("t1", "1"), headers=AUTH).json()["incidents"][0]
        assert store.claim("w") == iid
        pool.process(iid)
        waiting = _status(c, iid)
        assert waiting["status"] == "waiting" and "below the failure threshold of 3" in waiting["reason"]
        same = c.post("/alerts", json=_with_restarts("t1", "1"), headers=AUTH).json()
        assert same == {"incidents": [iid], "actions": ["deduplicated"]}  # a plain repeat changes nothing
        assert _status(c, iid)["status"] == "waiting" and store.claim("w") is None
        more = c.post("/alerts", json=_with_restarts("t1", "4"), headers=AUTH).json()
        assert more == {"incidents": [iid], "actions": ["requeued"]}
        assert store.claim("w") == iid
        pool.process(iid)
        assert _status(c, iid)["status"] == "fixed" and pipe.monitored == [iid]


def test_a_waiting_incident_is_cancelled_when_its_alert_resolves(tmp_path: Path) -> None:
    app = make(tmp_path, RecordingPipeline(signature=None), start_workers=False)
    app.state.workers.config.services[0].policy = str(_policy(tmp_path, "{failure_threshold: 5}"))
    with TestClient(app) as c:
        iid = c.post("/alerts", json=_with_restarts("t2", "2"), headers=AUTH).json()["incidents"][0]
        assert app.state.store.claim("w") == iid
        app.state.workers.process(iid)
        resolved = alert_payload("t2", status="resolved")
        assert c.post("/alerts", json=resolved, headers=AUTH).json()["actions"] == ["cancelled"]
        assert _status(c, iid)["status"] == "cancelled"


def test_the_quota_of_three_an_hour_holds_when_the_same_crash_keeps_coming_back(tmp_path: Path) -> None:
    pipe = RecordingPipeline(signature="same-crash", outcome="failed")  # no fix: nothing absorbs the next one
    app = make(tmp_path, pipe, start_workers=False)
    pool, store = app.state.workers, app.state.store
    with TestClient(app) as c:
        ids = []
        for pod in range(6):  # each restart of a new pod is a new alert with its own fingerprint
            ids.append(c.post("/alerts", json=alert_payload(f"pod-{pod}"), headers=AUTH).json()["incidents"][0])
            assert store.claim("w") == ids[-1]
            pool.process(ids[-1])
        statuses = [_status(c, i)["status"] for i in ids]
        assert statuses == ["failed"] * 3 + ["awaiting_approval"] * 3
        assert len(pipe.monitored) == 3 and "quota 3" in _status(c, ids[-1])["reason"]


def test_the_service_policy_reaches_the_run_and_the_delivery_gate(tmp_path: Path) -> None:
    from crew.history import materialize

    report = RunReport.model_validate_json((ROOT / "tests/delivery/fixtures/accepted_report.json").read_text())
    report.incident.repo = str(materialize(ROOT / "examples" / "pricing-service", tmp_path / "repos"))
    repo = GitRepo(report.incident.repo, report.incident.commit)
    before_delivery(report, repo)  # the built-in policy lets the flagship's fix through
    strict = Policy(forbidden_paths=["app/pricing.py"])
    report.incident.operator_policy = strict
    with pytest.raises(Exception, match="forbidden by policy"):
        before_delivery(report, repo)
    app = make(tmp_path, RecordingPipeline(), start_workers=False)
    entry = app.state.workers.config.services[0]
    with app.state.store.session() as s:
        row = IncidentRow(service=entry.name, labels={"namespace": "shop"})
        s.add(row)
        s.commit()
        incident = incident_for(row, entry, [], strict)
    assert incident.operator_policy == strict
