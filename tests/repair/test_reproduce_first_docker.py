"""In the real sandbox: the crash is reproduced before any fix is tried, through a caller when the
fault function is a closure, and the reproduction is recorded even when no fix follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crew.agents.diagnostic import diagnose
from crew.agents.repair import repair
from crew.handoffs import CrashEvidence, CrashGroup, Frame, Traceback
from crew.repo import GitRepo
from tests.e2e_helpers import commit_repo

pytestmark = [pytest.mark.docker]

LISTING = '''"""Directory listings."""


def by_field(name: str):
    def key(record: dict) -> str:
        return record[name].casefold()
    return key


def listing(records: list, field: str) -> list:
    """Names sorted by ``field``, case-insensitively."""
    return [r["name"] for r in sorted(records, key=by_field(field))]
'''
TESTS = '''from people.listing import listing


def test_sorted_by_surname():
    rows = [{"name": "b", "surname": "Zed"}, {"name": "a", "surname": "amber"}]
    assert listing(rows, "surname") == ["a", "b"]
'''


def _diagnosis(repo: GitRepo, message: str, exc: str = "AttributeError") -> tuple[Any, CrashEvidence]:
    frames = [Frame(file="/srv/app/people/listing.py", line=12, function="listing",
                    code='return [r["name"] for r in sorted(records, key=by_field(field))]'),
              Frame(file="/srv/app/people/listing.py", line=6, function="key", code="return record[name].casefold()")]
    tb = Traceback(exc_type=exc, exc_message=message, frames=frames)
    evidence = CrashEvidence(incident_id="i", source="t", tracebacks=[tb], groups=[
        CrashGroup(signature="s", exc_type=exc, exc_message=message, count=4, example=0)])
    return diagnose(evidence, repo), evidence


@pytest.mark.timeout(600)
def test_a_closure_crash_is_reproduced_through_its_caller_and_recorded(tmp_path: Path, docker_client: Any) -> None:
    from crew.sandbox_runner import SandboxRunner

    repo = GitRepo(commit_repo(tmp_path / "people", {
        "people/__init__.py": "", "people/listing.py": LISTING, "tests/__init__.py": "",
        "tests/test_listing.py": TESTS, "requirements.txt": "pytest\n"}, "init"))
    diagnosis, evidence = _diagnosis(repo, "'NoneType' object has no attribute 'casefold'")
    outcome = repair(diagnosis, evidence, repo, SandboxRunner(repo, "docker"), "python -m pytest -q",
                     max_attempts=1, budget=400)
    record = outcome.reproduction
    assert record is not None and record.reproduced, (record, outcome.declined)
    assert record.entry == "people.listing.listing" and record.entry_depth == 1
    assert record.test is not None and record.test_path == record.test.path and "listing(" in (record.call or "")
    assert record.entries_tried[0] == "people.listing.listing" and record.inputs_tried > 0
    assert record.seconds > 0 and outcome.step_seconds.get("reproduction", 0) > 0


@pytest.mark.timeout(600)
def test_a_crash_nothing_reproduces_is_declined_before_any_candidate(tmp_path: Path, docker_client: Any) -> None:
    from crew.sandbox_runner import SandboxRunner

    repo = GitRepo(commit_repo(tmp_path / "people", {
        "people/__init__.py": "", "people/listing.py": LISTING, "tests/__init__.py": "",
        "tests/test_listing.py": TESTS, "requirements.txt": "pytest\n"}, "init"))
    # production's message names an attribute no input can make the code read: never a reproduction
    diagnosis, evidence = _diagnosis(repo, "'NoneType' object has no attribute 'city_code'")
    outcome = repair(diagnosis, evidence, repo, SandboxRunner(repo, "docker"), "python -m pytest -q",
                     max_attempts=2, budget=400)
    record = outcome.reproduction
    assert record is not None and not record.reproduced and record.test is None
    assert not outcome.attempts and outcome.accepted is None
    assert outcome.declined is not None and outcome.declined.startswith("could not reproduce the crash")
    assert record.closest is not None and record.closest.part == "message"  # 'casefold' is not 'city_code'
