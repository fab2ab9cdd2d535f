"""Restart recovery and the atomic claim, on a real SQLite file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from crew.service.store import AlertRow, IncidentRow, Store, now
from tests.service.helpers import AUTH, RecordingPipeline, alert_payload, make


def _left_running(tmp_path: Path, *, intent: bool) -> str:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    with store.session() as s:
        row = IncidentRow(service="pricing-service", status="running", stage="repair", worker="dead",
                          labels={"service": "pricing-service"},
                          delivery_intent=now().replace(tzinfo=None) if intent else None)
        s.add(row)
        s.flush()
        s.add(AlertRow(incident_id=row.id, fingerprint="k9", alertname="KubePodCrashLooping", status="firing",
                       labels={"service": "pricing-service"}))
        s.commit()
        return row.id
    store.engine.dispose()


def _wait(c: TestClient, iid: str, status: str) -> dict[str, object]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = c.get(f"/incidents/{iid}", headers=AUTH).json()
        if body["status"] == status:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{iid} never reached {status}: {body}")


def test_run_left_running_before_delivery_is_resumed(tmp_path: Path) -> None:
    iid = _left_running(tmp_path, intent=False)
    pipe = RecordingPipeline()
    with TestClient(make(tmp_path, pipe)) as c:
        _wait(c, iid, "fixed")
    assert pipe.monitored == [iid] and pipe.delivered == [iid]


def test_run_left_running_after_delivery_intent_is_failed_not_redelivered(tmp_path: Path) -> None:
    iid = _left_running(tmp_path, intent=True)
    pipe = RecordingPipeline()
    with TestClient(make(tmp_path, pipe)) as c:
        body = _wait(c, iid, "failed")
        time.sleep(0.5)  # give the workers a chance to (wrongly) pick it up
        assert "not delivered again" in str(body["reason"])
        assert c.get(f"/incidents/{iid}", headers=AUTH).json()["status"] == "failed"
    assert pipe.monitored == [] and pipe.delivered == []


def test_delivery_never_happens_twice_for_one_incident(tmp_path: Path) -> None:
    pipe = RecordingPipeline()
    app = make(tmp_path, pipe, start_workers=False)
    pool, store = app.state.workers, app.state.store
    with TestClient(app) as c:
        iid = c.post("/alerts", json=alert_payload("twice"), headers=AUTH).json()["incidents"][0]
        assert store.claim("w") == iid
        pool.process(iid)
        with store.session() as s:  # someone requeues it by hand
            row = s.get(IncidentRow, iid)
            assert row is not None
            row.status = "queued"
            s.commit()
        assert store.claim("w") == iid
        pool.process(iid)
    assert pipe.delivered == [iid]


def test_only_one_of_many_claimers_wins(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'race.db'}")
    with store.session() as s:
        s.add(IncidentRow(service="pricing-service", status="queued"))
        s.commit()
    won: list[str | None] = []
    barrier = threading.Barrier(8)

    def claimer(n: int) -> None:
        other = Store(f"sqlite:///{tmp_path / 'race.db'}")  # its own engine and connections
        barrier.wait(5)
        won.append(other.claim(f"w{n}"))

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(won) == 8 and len([w for w in won if w]) == 1
