"""A reproduction counts only when it is the production crash: type, fault frame and line, message.

Issue 9: a synthesised input raised the right type for another reason (production ``'NoneType'
object has no attribute 'city'``, the test ``... 'name'``) and the report said "reproduces: yes".
"""

from __future__ import annotations

import subprocess

import pytest

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Diagnosis, Frame, Mismatch, RunSummary, Traceback
from crew.repair import reproduce as r
from crew.repair.fidelity import message_score
from crew.repo import GitRepo
from crew.validate import reproduction_verdict

SOURCE = '''"""Addresses."""


def label(user):
    """The city line of a user's address."""
    city = user.address.city
    return city.upper()
'''


@pytest.fixture(scope="module")
def diagnosis(tmp_path_factory: pytest.TempPathFactory) -> Diagnosis:
    root = tmp_path_factory.mktemp("svc")
    (root / "svc").mkdir()
    (root / "svc" / "__init__.py").write_text("")
    (root / "svc" / "addr.py").write_text(SOURCE)
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "i"]):
        subprocess.run(["git", *cmd], cwd=root, check=True)
    message = "'NoneType' object has no attribute 'city'"
    frames = [Frame(file="/app/svc/addr.py", line=6, function="label", code="city = user.address.city")]
    tb = Traceback(exc_type="AttributeError", exc_message=message, frames=frames)
    ev = CrashEvidence(incident_id="i", source="t", tracebacks=[tb],
                       groups=[CrashGroup(signature="s", exc_type="AttributeError", exc_message=message, count=1,
                                          example=0)])
    return diagnose(ev, GitRepo(root))


def _entry(message: str, line: int = 6, index: int = 0, error: str = "AttributeError") -> r.ProbeResult:
    return r.ProbeResult(index=index, error=error, message=message,
                         frame=r.ProbeFrame(file="/work/svc/addr.py", line=line, function="label"))


def test_the_same_type_with_another_attribute_is_not_a_reproduction(diagnosis: Diagnosis) -> None:
    entry = _entry("'NoneType' object has no attribute 'name'")
    verdict = r.judge_entry(entry, diagnosis)
    assert not verdict.matched and verdict.mismatch is not None
    assert verdict.mismatch.part == "message"
    assert "'city'" in verdict.mismatch.production and "'name'" in verdict.mismatch.reproduction
    rep = r.pick_reproduction([entry], [r.CandidateInput(["None"], "search")], diagnosis)
    assert rep.args is None and rep.closest == verdict.mismatch and rep.refused == 1


def test_the_same_type_and_message_on_another_line_is_not_a_reproduction(diagnosis: Diagnosis) -> None:
    verdict = r.judge_entry(_entry("'NoneType' object has no attribute 'city'", line=7), diagnosis)
    assert verdict.mismatch is not None and verdict.mismatch.part == "line"
    assert verdict.mismatch.production == "svc/addr.py:6" and verdict.mismatch.reproduction == "svc/addr.py:7"


def test_another_type_or_frame_says_so(diagnosis: Diagnosis) -> None:
    typed = r.judge_entry(_entry("x", error="TypeError"), diagnosis)
    assert typed.mismatch is not None and typed.mismatch.part == "type"
    assert (typed.mismatch.production, typed.mismatch.reproduction) == ("AttributeError", "TypeError")
    elsewhere = _entry("'NoneType' object has no attribute 'city'").model_copy(
        update={"frame": r.ProbeFrame(file="/work/svc/other.py", line=6, function="label")})
    framed = r.judge_entry(elsewhere, diagnosis)
    assert framed.mismatch is not None and framed.mismatch.part == "frame"


def test_the_exact_crash_is_a_reproduction_and_wins_over_a_near_miss(diagnosis: Diagnosis) -> None:
    near, exact = _entry("'NoneType' object has no attribute 'name'", index=0), \
        _entry("'NoneType' object has no attribute 'city'", index=1)
    rep = r.pick_reproduction([near, exact], [r.CandidateInput(["1"], "search"), r.CandidateInput(["None"], "search")],
                              diagnosis)
    assert rep.args == ["None"] and rep.closest is None


@pytest.mark.parametrize(("production", "reproduction"), [
    ("order 1234 not found", "order 7 not found"),
    ("KeyError: 'order-1234'", "KeyError: 'order-7'"),
    ("invalid isoformat string: '2026-11-05T10:00:00Z'", "invalid isoformat string: '2024-01-31T23:59:59Z'"),
    ("list index out of range", "list index out of range"),
    ("object at 0x7f3a2b1c is closed", "object at 0x55d0 is closed"),
    ("cannot parse '3f2a9c1e-0b4d-4c1e-9a7f-1b2c3d4e5f60'", "cannot parse '00000000-1111-2222-3333-444444444444'"),
])
def test_per_request_numbers_and_ids_may_differ(production: str, reproduction: str) -> None:
    assert message_score(production, reproduction) >= 1


@pytest.mark.parametrize(("production", "reproduction"), [
    ("'NoneType' object has no attribute 'city'", "'NoneType' object has no attribute 'name'"),
    ("unsupported operand type(s) for +: 'int' and 'NoneType'", "unsupported operand type(s) for +: 'int' and 'str'"),
    ("invalid literal for int() with base 10: 'abc'", "invalid literal for int() with base 10: ''"),
    ("'dict' object has no attribute 'items2'", "'dict' object has no attribute 'items3'"),
    ("float division by zero", "division by zero"),
    ("can only concatenate str (not \"int\") to str", "can only concatenate str (not \"NoneType\") to str"),
    ("", "something"),
])
def test_names_types_and_literals_must_be_productions(production: str, reproduction: str) -> None:
    assert message_score(production, reproduction) == 0


def test_pythons_suggestion_and_a_capped_message_do_not_count_against_it() -> None:
    assert message_score("name 'lenght' is not defined. Did you mean: 'length'?", "name 'lenght' is not defined") == 2
    long = "bad value " + "'k' " * 100
    assert message_score(long, long[:300]) == 1


def test_the_test_on_the_original_goes_through_the_same_matcher(diagnosis: Diagnosis) -> None:
    same = RunSummary(failed=1, exc_type="AttributeError", exc_message="'NoneType' object has no attribute 'city'",
                      raising_frame="svc/addr.py:6")
    assert reproduction_verdict(same, diagnosis).matched
    other = same.model_copy(update={"exc_message": "'NoneType' object has no attribute 'name'"})
    verdict = reproduction_verdict(other, diagnosis)
    assert verdict.mismatch is not None and verdict.mismatch.part == "message"
    moved = same.model_copy(update={"raising_frame": "svc/addr.py:7"})
    assert reproduction_verdict(moved, diagnosis).mismatch == Mismatch(
        part="line", production="svc/addr.py:6", reproduction="svc/addr.py:7")
    passed = RunSummary(passed=1)
    assert not reproduction_verdict(passed, diagnosis).matched
