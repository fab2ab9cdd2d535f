"""A decline names why no template offers a fix, in the words of the template that knows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crew.agents.repair import repair
from crew.handoffs import RootCause, RunSummary
from crew.repair.candidates import TemplateContext, explain_decline, generate_candidates
from tests.repair.helpers import crash, make_repo

HANDLER = '''"""A plain request handler."""


def handle(request: dict) -> tuple[int, dict]:
    query = request.get("query", {})
    page = int(query.get("page"))
    return 200, {"page": page}
'''
TIERS = '''"""Loyalty tiers."""

LEVEL = "none"


def tier_for(spend: float) -> str:
    if spend >= 1000:
        tier = "gold"
    elif spend >= 100:
        tier = "silver"
    return tier


def level_for(spend: float) -> str:
    if spend > 10:
        LEVEL = "some"
    return LEVEL


def ratio(a, b):
    return a / b


def shout(text):
    return txet.upper()
'''
MAILER = '''import os


def host():
    return os.getenv("SMTP_HOST").lower()


def token():
    return os.environ["API_TOKEN"]
'''
UNBOUND = "cannot access local variable '{}' where it is not associated with a value"


def _repo(tmp_path: Path) -> Any:
    return make_repo(tmp_path / "r", {"app/__init__.py": "", "app/handler.py": HANDLER, "app/tiers.py": TIERS,
                                      "app/mailer.py": MAILER})


KEPT = (" (the crash is reproduced: tests/test_regression_inc1.py fails on the deployed commit with it,"
        " and is kept in the report)")


def _declined(ctx: TemplateContext) -> str | None:
    """The loop's decline once the crash is reproduced (the baseline is a stand-in: no sandbox here)."""
    from crew.agents import repair as repair_agent
    from crew.validate import Baseline
    from tests.reflection.test_reflection import GOOD_TEST

    failed = RunSummary(exit_code=1, failed=1, exc_type=ctx.diagnosis.exc_type, exc_message=ctx.diagnosis.exc_message,
                        raising_frame=f"{ctx.diagnosis.fault_frame.repo_path}:{ctx.diagnosis.fault_frame.frame.line}"
                        if ctx.diagnosis.fault_frame else None)

    class NoRunner:  # nothing but the (stand-in) reproduction may run before the loop declines
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the sandbox was used: {name}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(repair_agent, "prepare_baseline", lambda *a, **k: Baseline(
            target=None, reproduction=None, test=GOOD_TEST, test_on_original=failed, suite_on_original=None, runs=3))
        outcome = repair(ctx.diagnosis, ctx.evidence, ctx.repo, NoRunner(), "pytest -q")  # type: ignore[arg-type]
    assert not outcome.attempts and outcome.accepted is None
    assert outcome.reproduction is not None and outcome.reproduction.reproduced
    return outcome.declined


def test_a_none_passed_to_int_says_the_default_cannot_be_inferred(tmp_path: Path) -> None:
    ctx = crash(_repo(tmp_path), "app/handler.py", 'int(query.get("page"))', "TypeError",
                "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'")
    assert ctx.diagnosis.root_cause is RootCause.NONE_DEREFERENCE
    assert generate_candidates(ctx) == []
    reason = '`int(query.get("page"))`: the value is None and the right default cannot be inferred from the code'
    assert explain_decline(ctx) == reason
    assert _declined(ctx) == f"no safe repair for this none_dereference: {reason}{KEPT}"


def test_an_unbound_local_names_the_branches_that_assign_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    ctx = crash(repo, "app/tiers.py", "return tier", "UnboundLocalError", UNBOUND.format("tier"))
    assert generate_candidates(ctx) == []
    reason = explain_decline(ctx)
    assert reason == ("`tier` at app/tiers.py:11: the variable is only assigned on some branches (lines 8, 10); "
                      "which value the other branches need cannot be inferred")
    assert _declined(ctx) == f"no safe repair for this missing_attribute: {reason}{KEPT}"
    ctx = crash(repo, "app/tiers.py", "return LEVEL", "UnboundLocalError", UNBOUND.format("LEVEL"))
    assert "a `global LEVEL` is missing" in (explain_decline(ctx) or "")


def test_a_missing_name_with_nothing_close_says_so(tmp_path: Path) -> None:
    ctx = crash(_repo(tmp_path), "app/tiers.py", "txet.upper()", "NameError", "name 'txet' is not defined")
    assert [c.strategy for c in generate_candidates(ctx)] == ["rename-name-text"]  # close: renamed, no decline
    repo = make_repo(tmp_path / "far", {"app/__init__.py": "", "app/m.py": "def f():\n    return qqqzz\n"})
    ctx = crash(repo, "app/m.py", "return qqqzz", "NameError", "name 'qqqzz' is not defined")
    assert generate_candidates(ctx) == []
    assert explain_decline(ctx) == ("`qqqzz` is not defined at app/m.py:2, and no defined name or "
                                    "standard-library module is close enough to be the one meant")


def test_configuration_without_a_stated_value_or_a_secret(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    ctx = crash(repo, "app/mailer.py", 'os.getenv("SMTP_HOST")', "AttributeError",
                "'NoneType' object has no attribute 'lower'")
    assert generate_candidates(ctx) == []
    assert "SMTP_HOST is not set, and no value for it is stated anywhere in the repo" in (explain_decline(ctx) or "")
    ctx = crash(repo, "app/mailer.py", 'os.environ["API_TOKEN"]', "KeyError", "'API_TOKEN'")
    assert ctx.diagnosis.root_cause is RootCause.MISSING_CONFIG
    assert generate_candidates(ctx) == []
    assert "API_TOKEN holds a secret" in (explain_decline(ctx) or "")


def test_without_a_known_reason_the_generic_text_stays(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "g", {"app/__init__.py": "", "app/m.py": "def f(a):\n    return g(a)\n"})
    ctx = crash(repo, "app/m.py", "return g(a)", "ZeroDivisionError", "division by zero")
    assert generate_candidates(ctx) == [] and explain_decline(ctx) is None
    assert _declined(ctx) == f"no repair template recognises this division_by_zero at the fault line{KEPT}"
