"""Readiness: a slow check (Docker) runs at most once per interval, however often the probe comes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from crew.service.app import CachedCheck
from tests.service.helpers import RecordingPipeline, make


def test_a_cached_check_runs_once_per_interval_and_again_after_it() -> None:
    calls: list[int] = []
    answers = iter([False, True])
    check = CachedCheck(lambda: calls.append(1) or next(answers), ttl=0.2)
    assert [check() for _ in range(50)] == [False] * 50 and len(calls) == 1
    import time

    time.sleep(0.25)
    assert check() is True and len(calls) == 2


def test_readyz_says_which_check_failed(tmp_path: Path) -> None:
    with TestClient(make(tmp_path, RecordingPipeline(), start_workers=False)) as c:
        ok = c.get("/readyz")
        assert ok.status_code == 200 and ok.json()["checks"]["database"] is True
        c.app.state.store.engine.dispose()  # type: ignore[attr-defined]
        (tmp_path / "state.db").unlink()
        (tmp_path / "state.db").mkdir()  # the database file is gone and cannot come back
        bad = c.get("/readyz")
        assert bad.status_code == 503 and bad.json() == {"status": "unavailable", "checks": {"database": False,
                                                                                             "workers": True}}
