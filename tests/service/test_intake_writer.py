"""The intake writer: requests that arrive together share one transaction, and each is answered."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event, func, select

from crew.handoffs import AlertInfo
from crew.service.intake import Folded
from crew.service.intake_writer import IntakeWriter
from crew.service.store import AlertRow, IncidentRow, Store
from tests.service.helpers import config


def _alert(fingerprint: str = "fp1", status: str = "firing", service: str = "pricing-service") -> AlertInfo:
    return AlertInfo(alertname="KubePodCrashLooping", status=status, fingerprint=fingerprint,
                     labels={"service": service, "namespace": "shop"}, annotations={"restarts": "5"})


def _counting_commits(store: Store) -> list[int]:
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    return commits


def test_requests_waiting_behind_a_batch_share_the_next_commit(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    release, entered = threading.Event(), threading.Event()

    def hold_the_first_batch(_results: list[Folded]) -> None:
        entered.set()
        release.wait(10)

    writer = IntakeWriter(store, config(tmp_path), hold_the_first_batch)
    first = writer.submit([_alert()])
    assert entered.wait(10)
    commits = _counting_commits(store)
    queued = [writer.submit([_alert()]) for _ in range(50)]
    release.set()
    results = [f.result(10) for f in [first, *queued]]
    writer.close()

    assert results[0][0].action == "created"
    assert {r[0].action for r in results[1:]} == {"deduplicated"}
    assert {r[0].incident_id for r in results} == {results[0][0].incident_id}
    assert len(commits) == 2  # the held first batch, then all fifty together
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(IncidentRow)) == 1
        assert s.scalars(select(AlertRow.received)).one() == 51


def test_a_storm_from_many_threads_makes_one_incident_counted_exactly(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    writer = IntakeWriter(store, config(tmp_path))
    answers: list[Folded] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        for _ in range(n):
            folded = writer.submit([_alert()]).result(10)
            with lock:
                answers.extend(folded)

    threads = [threading.Thread(target=send, args=(40,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    writer.close()
    assert len(answers) == 320
    assert sorted(a.action for a in answers).count("created") == 1
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(IncidentRow)) == 1
        assert s.scalars(select(AlertRow.received)).one() == 320


def test_a_resolved_alert_in_the_same_batch_cancels_the_incident_it_follows(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    release = threading.Event()
    writer = IntakeWriter(store, config(tmp_path), lambda _r: release.wait(10))
    blocker = writer.submit([_alert("other")])
    firing, resolved = writer.submit([_alert()]), writer.submit([_alert(status="resolved")])
    again = writer.submit([_alert()])
    release.set()
    assert blocker.result(10)[0].action == "created"
    assert [firing.result(10)[0].action, resolved.result(10)[0].action] == ["created", "cancelled"]
    assert again.result(10)[0].action == "created"  # a re-fire after a cancel is a new incident
    assert again.result(10)[0].incident_id != firing.result(10)[0].incident_id
    writer.close()


def test_a_request_that_cannot_be_stored_fails_alone(tmp_path: Path, monkeypatch: object) -> None:
    import crew.service.intake_writer as module

    real_fold = module.fold

    def fold(s, cfg, alert, newest):  # type: ignore[no-untyped-def]
        if alert.fingerprint == "poison":
            raise ValueError("cannot store this one")
        return real_fold(s, cfg, alert, newest)

    monkeypatch.setattr(module, "fold", fold)  # type: ignore[attr-defined]
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    release = threading.Event()
    writer = IntakeWriter(store, config(tmp_path), lambda _r: release.wait(10))
    blocker = writer.submit([_alert("blocker")])
    good, bad, other = writer.submit([_alert("a")]), writer.submit([_alert("poison")]), writer.submit([_alert("b")])
    release.set()
    assert blocker.result(10)[0].action == "created"
    assert good.result(10)[0].action == "created" and other.result(10)[0].action == "created"
    error = bad.exception(10)
    assert isinstance(error, RuntimeError) and "could not be stored" in str(error)
    writer.close()
    with store.session() as s:
        assert sorted(s.scalars(select(AlertRow.fingerprint))) == ["a", "b", "blocker"]
