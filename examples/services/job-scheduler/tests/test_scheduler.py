from datetime import date
from pathlib import Path

from scheduler.jobs import Job, due, job_from_api, parse_run_date
from scheduler.main import tick


def test_parse_run_date() -> None:
    assert parse_run_date("2026-11-05") == date(2026, 11, 5)


def test_job_from_api() -> None:
    job = job_from_api({"name": "vacuum", "run_at": "2026-03-01", "command": ["vacuumdb", 1]})
    assert job == Job("vacuum", date(2026, 3, 1), ["vacuumdb", "1"])


def test_due() -> None:
    jobs = [Job("a", date(2026, 3, 1), []), Job("b", date(2026, 4, 1), [])]
    assert [j.name for j in due(jobs, date(2026, 3, 14))] == ["a"]


def test_tick_dry_run(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text('{"jobs": [{"name": "a", "run_at": "2026-03-01", "command": ["true"]}]}')
    assert tick(path, date(2026, 3, 14), dry_run=True) == 1
