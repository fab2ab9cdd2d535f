"""``--budget`` bounds the whole repair, and the report says where the sandbox time went."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from crew.agents import repair as repair_agent
from crew.handoffs import TimeSpent, ValidationReport
from crew.repair.candidates import Candidate, SourceEdit
from crew.repo import GitRepo
from crew.validate import Baseline, BatchOutcome
from tests.e2e_helpers import commit_repo
from tests.reflection.test_reflection import GOOD_TEST, PATH, PRICING, crashed_on_original, diagnosis


def _failing(seconds: float, fixed: bool = False) -> ValidationReport:
    """A candidate that never passes: its regression test still fails, or (``fixed``) a test newly fails."""
    failure = ("1 existing test(s) newly fail: tests/test_x.py::test_y" if fixed else
               "the regression test still fails on the patched code: ZeroDivisionError")
    return ValidationReport(backend="fake", reproduces=True, fixed=fixed, no_regressions=not fixed, passed=False,
                            newly_failing=["tests/test_x.py::test_y"] if fixed else [], failure=failure,
                            time=TimeSpent(reproduction=4.0, test_on_original=1.0, suite_on_original=2.0,
                                           patched_suite=seconds, test_on_patched=1.0, differential=0.5,
                                           total=8.5 + seconds))


@pytest.fixture
def loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The repair loop with a baseline and batches that take ``delay`` seconds each and never pass
    (``fixed``: the regression test passes but a test newly fails, so reflection is asked)."""
    repo_dir = commit_repo(tmp_path / "svc", {PATH: PRICING}, "init")
    seen: dict[str, Any] = {"timeouts": [], "delay": 0.0, "validations": 0, "batches": 0, "fixed": False}
    edits = [SourceEdit(PATH, PRICING, PRICING.replace("return", f"x = {i}\n    return", 1)) for i in range(5)]
    cands = [Candidate(f"try-{i}", (edit,), "r", 1.0 - i / 10) for i, edit in enumerate(edits)]

    def baseline(*_: Any, timeout: float = 300.0, **__: Any) -> Baseline:
        seen["timeouts"].append(timeout)
        time.sleep(seen["delay"])
        return Baseline(target=None, reproduction=None, test=GOOD_TEST, test_on_original=crashed_on_original(),
                        suite_on_original=None, runs=3, reproduction_seconds=4.0, test_seconds=1.0, suite_seconds=2.0)

    def validate_batch(items: list[Any], *_: Any, timeout: float = 300.0, **__: Any) -> BatchOutcome:
        seen["timeouts"].append(timeout)
        seen["validations"] += len(items)
        seen["batches"] += 1
        time.sleep(seen["delay"])
        return BatchOutcome([_failing(3.0, seen["fixed"]) for _ in items], seen["delay"], 1)

    monkeypatch.setattr(repair_agent, "generate_candidates",
                        lambda ctx, *a: [c for c in cands if c.strategy not in ctx.tried])
    monkeypatch.setattr(repair_agent, "prepare_baseline", baseline)
    monkeypatch.setattr(repair_agent, "validate_batch", validate_batch)
    seen["repo"] = GitRepo(repo_dir)
    return seen


def test_the_loop_stops_when_the_budget_is_spent_and_cuts_each_runs_timeout(
    loop: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(repair_agent, "BATCH_SIZE", 1)  # one candidate per container: the budget cuts between them
    loop["delay"] = 1.5
    started = time.monotonic()
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=5, budget=8.0)
    elapsed = time.monotonic() - started
    assert outcome.budget_spent and 1 <= loop["validations"] < 5
    assert elapsed < 8.0 + 1.5 + 1.0, elapsed
    assert all(t <= 8.0 for t in loop["timeouts"]) and loop["timeouts"] == sorted(loop["timeouts"], reverse=True)
    assert any("repair budget of 8 s spent" in d for d in outcome.policy_decisions)
    skipped = [c for c in outcome.candidates if c.verdict == "not validated: the budget was spent"]
    assert len(skipped) == 5 - loop["validations"] and len(outcome.candidates) == 5


def test_without_a_budget_the_search_gets_its_default_sandbox_time(loop: dict[str, Any]) -> None:
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=3)
    assert not outcome.budget_spent and loop["validations"] == 5 and loop["batches"] == outcome.containers == 1
    baseline_timeout, batch_timeout = loop["timeouts"]
    assert baseline_timeout == repair_agent.SANDBOX_TIMEOUT
    assert repair_agent.SEARCH_BUDGET - 1.0 < batch_timeout <= repair_agent.SEARCH_BUDGET
    # a candidate whose regression test still fails is recorded, never handed to reflection
    assert not outcome.attempts and outcome.accepted is None
    assert [c.verdict for c in outcome.candidates] == [_failing(3.0).failure] * 5


def test_max_attempts_bounds_how_many_fixes_reflection_judges(loop: dict[str, Any]) -> None:
    loop["fixed"] = True
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=3)
    assert len(outcome.attempts) == 3 and outcome.accepted is None
    assert all(a.critique is not None and a.critique.verdict != "accept" for a in outcome.attempts)
    judged = [c for c in outcome.candidates if c.verdict.startswith("rejected by reflection")]
    assert len(judged) == 3 and sorted(c.rank or 0 for c in outcome.candidates)[-2:] == [1, 2]


def test_a_budget_too_small_for_any_run_declines_with_the_reason(loop: dict[str, Any]) -> None:
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=3, budget=1.0)
    assert outcome.budget_spent and not outcome.attempts and loop["timeouts"] == []
    assert outcome.declined == "the repair budget of 1 s was spent before the crash was reproduced"


def test_time_is_recorded_per_attempt_and_the_original_side_is_counted_once(loop: dict[str, Any]) -> None:
    loop["fixed"] = True
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=3)
    first, second = (a.validation.time for a in outcome.attempts[:2] if a.validation)
    assert first is not None and second is not None
    assert (first.reproduction, first.suite_on_original, first.total) == (0.0, 0.0, 4.5)  # paid by the reproduction
    assert (second.reproduction, second.suite_on_original, second.patched_suite, second.total) == (0.0, 0.0, 3.0, 4.5)
    assert all(c.seconds == 4.5 for c in outcome.candidates)
    assert outcome.step_seconds == {"reproduction": 4.0, "test_on_original": 1.0, "suite_on_original": 2.0,
                                    "patched_suite": 15.0, "test_on_patched": 5.0, "differential": 2.5}
