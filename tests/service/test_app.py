"""The webhook and API against the real app and a temp SQLite file (workers held back unless a test starts them)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

from fastapi.testclient import TestClient

from crew.service.store import IncidentRow
from tests.service.helpers import AUTH, RecordingPipeline, alert_payload, make


def _client(tmp_path: Path, **kw: object) -> TestClient:
    return TestClient(make(tmp_path, RecordingPipeline(), start_workers=False, **kw))


def test_webhook_needs_credentials(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        assert c.post("/alerts", json=alert_payload()).status_code == 401
        assert c.post("/alerts", json=alert_payload(), headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/incidents").status_code == 401
        r = c.post("/alerts", json=alert_payload(), headers=AUTH)
        assert r.status_code == 202 and r.json()["actions"] == ["created"]


def test_hmac_signature_is_accepted_and_checked(tmp_path: Path) -> None:
    body = json.dumps(alert_payload()).encode()
    good = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    with _client(tmp_path) as c:
        headers = {"Content-Type": "application/json"}
        assert c.post("/alerts", content=body, headers={**headers, "X-Healcrew-Signature": good}).status_code == 202
        bad = "sha256=" + "0" * 64
        assert c.post("/alerts", content=body, headers={**headers, "X-Healcrew-Signature": bad}).status_code == 401


def test_oversized_body_is_413(tmp_path: Path) -> None:
    big = b"{" + b" " * (1 << 20) + b"}"
    with _client(tmp_path) as c:
        assert c.post("/alerts", content=big, headers=AUTH).status_code == 413

        def chunks():  # no Content-Length: the limit holds on the bytes read
            for _ in range(17):
                yield b" " * 65536

        assert c.post("/alerts", content=chunks(), headers=AUTH).status_code == 413


def test_bad_bodies_get_a_reason(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        r = c.post("/alerts", content=b"{nope", headers=AUTH)
        assert r.status_code == 400 and "not JSON" in r.json()["detail"]
        wrong = {**alert_payload(), "version": "3"}
        r = c.post("/alerts", json=wrong, headers=AUTH)
        assert r.status_code == 422 and "version" in r.json()["detail"]
        nolabel = alert_payload()
        del nolabel["alerts"][0]["labels"]["alertname"]
        r = c.post("/alerts", json=nolabel, headers=AUTH)
        assert r.status_code == 422 and "alertname" in r.json()["detail"]
        long = alert_payload()
        long["alerts"][0]["labels"]["service"] = "s" * 10_000  # fits no column: a reason, not a 500 from the DB
        r = c.post("/alerts", json=long, headers=AUTH)
        assert r.status_code == 422 and "labels.service: longer than 200" in r.json()["detail"]
        assert c.get("/incidents", headers=AUTH).json()["total"] == 0


def test_same_fingerprint_folds_into_one_incident(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        ids = {c.post("/alerts", json=alert_payload("same"), headers=AUTH).json()["incidents"][0] for _ in range(5)}
        other = c.post("/alerts", json=alert_payload("other"), headers=AUTH).json()["incidents"][0]
        assert len(ids) == 1 and other not in ids
        one = c.get(f"/incidents/{ids.pop()}", headers=AUTH).json()
        assert one["alerts"][0]["received"] == 5 and one["status"] == "queued"
        assert c.get("/incidents", headers=AUTH).json()["total"] == 2
        text = c.get("/metrics").text
        assert "healcrew_alerts_received_total 6.0" in text and "healcrew_alerts_deduplicated_total 4.0" in text
        assert "healcrew_queue_depth 2.0" in text


def test_resolved_cancels_an_incident_not_started(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        iid = c.post("/alerts", json=alert_payload("r1"), headers=AUTH).json()["incidents"][0]
        r = c.post("/alerts", json=alert_payload("r1", status="resolved"), headers=AUTH)
        assert r.json()["actions"] == ["cancelled"]
        assert c.get(f"/incidents/{iid}", headers=AUTH).json()["status"] == "cancelled"
        assert c.post("/alerts", json=alert_payload("never", status="resolved"), headers=AUTH).json()["actions"] == [
            "ignored"]


def test_unknown_service_is_a_rejected_record(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        r = c.post("/alerts", json=alert_payload("u1", service="billing", container="billing"), headers=AUTH)
        assert r.status_code == 202 and r.json()["actions"] == ["rejected"]
        inc = c.get(f"/incidents/{r.json()['incidents'][0]}", headers=AUTH).json()
        assert inc["status"] == "rejected" and "billing" in inc["reason"]
        page = c.get("/incidents", params={"status": "rejected"}, headers=AUTH).json()
        assert [i["id"] for i in page["items"]] == [inc["id"]]
        assert c.get("/healthz").json()["status"] == "ok"


def test_openapi_declares_every_status(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert set(paths["/alerts"]["post"]["responses"]) >= {"202", "400", "401", "413", "422"}
        assert set(paths["/incidents/{incident_id}/approve"]["post"]["responses"]) >= {"200", "401", "404", "409"}
        assert "IncidentPage" in json.dumps(paths["/incidents"]["get"]["responses"]["200"])


def test_workers_run_once_and_deliver_once(tmp_path: Path) -> None:
    pipe = RecordingPipeline()
    app = make(tmp_path, pipe, workers=2)
    with TestClient(app) as c:
        iid = c.post("/alerts", json=alert_payload("w1"), headers=AUTH).json()["incidents"][0]
        deadline = time.monotonic() + 10
        while c.get(f"/incidents/{iid}", headers=AUTH).json()["status"] != "fixed" and time.monotonic() < deadline:
            time.sleep(0.05)
        inc = c.get(f"/incidents/{iid}", headers=AUTH).json()
        assert inc["status"] == "fixed" and inc["pr_url"].startswith("bundle://")
        assert pipe.monitored == [iid] and pipe.delivered == [iid]
        assert 'healcrew_runs_total{outcome="fixed"} 1.0' in c.get("/metrics").text
        assert "incident_url" not in pipe.delivery_configs[0]  # no public_url: nothing to link


def test_the_pr_links_the_incident_at_the_public_url(tmp_path: Path) -> None:
    pipe = RecordingPipeline()
    with TestClient(make(tmp_path, pipe, public_url="https://healcrew.example.com/")) as c:
        iid = c.post("/alerts", json=alert_payload("w2"), headers=AUTH).json()["incidents"][0]
        deadline = time.monotonic() + 10
        while not pipe.delivery_configs and time.monotonic() < deadline:
            time.sleep(0.05)
    assert pipe.delivery_configs[0]["incident_url"] == f"https://healcrew.example.com/incidents/{iid}"


def test_same_signature_folds_after_monitoring(tmp_path: Path) -> None:
    pipe = RecordingPipeline(signature="storm")
    app = make(tmp_path, pipe, start_workers=False)
    pool, store = app.state.workers, app.state.store
    with TestClient(app) as c:
        first = c.post("/alerts", json=alert_payload("pod-a"), headers=AUTH).json()["incidents"][0]
        second = c.post("/alerts", json=alert_payload("pod-b"), headers=AUTH).json()["incidents"][0]
        assert first != second
        assert store.claim("w") == first
        pool.process(first)
        assert store.claim("w") == second
        pool.process(second)
        two = c.get(f"/incidents/{second}", headers=AUTH).json()
        assert two["status"] == "folded" and two["folded_into"] == first
        assert pipe.delivered == [first]


def test_quota_makes_the_next_run_wait_then_approval_delivers(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: healcrew/v1alpha1\nkind: RepairPolicy\nmetadata: {name: pricing-service}\n"
                      "spec: {attempts_per_hour: 1, require_approval_for: []}\n")
    pipe = RecordingPipeline(signature=None)
    app = make(tmp_path, pipe, start_workers=False)
    app.state.workers.config.services[0].policy = str(policy)
    pool, store = app.state.workers, app.state.store
    with TestClient(app) as c:
        with store.session() as s:  # a run already happened this hour
            s.add(IncidentRow(service="pricing-service", status="failed", started_at=time_now()))
            s.commit()
        iid = c.post("/alerts", json=alert_payload("q1"), headers=AUTH).json()["incidents"][0]
        assert store.claim("w") == iid
        pool.process(iid)
        waiting = c.get(f"/incidents/{iid}", headers=AUTH).json()
        assert waiting["status"] == "awaiting_approval" and "quota" in waiting["reason"]
        assert pipe.monitored == []
        assert c.post(f"/incidents/{iid}/approve", json={"approver": "ana"}).status_code == 401
        r = c.post(f"/incidents/{iid}/approve", json={"approver": "ana"}, headers=AUTH)
        assert r.status_code == 200 and r.json()["approved_by"] == "ana"
        assert c.post(f"/incidents/{iid}/approve", json={"approver": "ana"}, headers=AUTH).status_code == 409


def time_now():  # naive UTC, as SQLite stores it
    from crew.service.store import now

    return now().replace(tzinfo=None)


def test_audit_log_records_the_run_in_order_and_verifies(tmp_path: Path) -> None:
    from crew.audit import AuditLog, verify_chain

    log = tmp_path / "audit.jsonl"
    pipe = RecordingPipeline()
    with TestClient(make(tmp_path, pipe, audit=AuditLog(log))) as c:
        iid = c.post("/alerts", json=alert_payload("a1"), headers=AUTH).json()["incidents"][0]
        c.post("/alerts", json=alert_payload("a1"), headers=AUTH)
        deadline = time.monotonic() + 10
        while c.get(f"/incidents/{iid}", headers=AUTH).json()["status"] != "fixed" and time.monotonic() < deadline:
            time.sleep(0.05)
    actions = [json.loads(line)["action"] for line in log.read_text().splitlines()]
    assert actions[0] == "alert_received" and actions[-1] == "pr_opened"
    assert {"run_started", "run_finished", "policy_decision"} <= set(actions)
    assert actions.count("alert_received") == 1 and verify_chain(log).ok  # the repeat is counted, not audited


def test_repeats_of_a_rejected_alert_fold_and_a_refire_after_cancel_is_new(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        unknown = alert_payload("rj", service="billing", namespace="billing")
        first = c.post("/alerts", json=unknown, headers=AUTH).json()
        again = c.post("/alerts", json=unknown, headers=AUTH).json()
        assert first["actions"] == ["rejected"] and again["actions"] == ["deduplicated"]
        assert again["incidents"] == first["incidents"]
        a = c.post("/alerts", json=alert_payload("cx"), headers=AUTH).json()["incidents"][0]
        c.post("/alerts", json=alert_payload("cx", status="resolved"), headers=AUTH)
        b = c.post("/alerts", json=alert_payload("cx"), headers=AUTH).json()
        assert b["actions"] == ["created"] and b["incidents"][0] != a


def test_run_text_is_redacted_before_the_api_shows_it(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("HEALCREW_WEBHOOK_TOKEN", "t0ken-for-tests")
    with _client(tmp_path) as c:
        iid = c.post("/alerts", json=alert_payload("red"), headers=AUTH).json()["incidents"][0]
        store = c.app.state.store  # type: ignore[attr-defined]
        with store.session() as s:
            row = s.get(IncidentRow, iid)
            row.reason = row.summary = "sandbox said t0ken-for-tests out loud"
            s.commit()
        body = c.get(f"/incidents/{iid}", headers=AUTH).text
        assert "t0ken-for-tests" not in body and "sandbox said" in body
