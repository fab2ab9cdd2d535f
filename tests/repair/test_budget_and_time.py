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
from crew.validate import Baseline
from tests.e2e_helpers import commit_repo
from tests.reflection.test_reflection import GOOD_TEST, PATH, PRICING, crashed_on_original, diagnosis


def _failing(seconds: float) -> ValidationReport:
    return ValidationReport(backend="fake", reproduces=True, fixed=False, no_regressions=True, passed=False,
                            failure="the regression test still fails on the patched code: ZeroDivisionError",
                            time=TimeSpent(reproduction=4.0, test_on_original=1.0, suite_on_original=2.0,
                                           patched_suite=seconds, test_on_patched=1.0, differential=0.5,
                                           total=8.5 + seconds))


@pytest.fixture
def loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The repair loop with a baseline and a validation that take ``delay`` seconds each and never pass."""
    repo_dir = commit_repo(tmp_path / "svc", {PATH: PRICING}, "init")
    seen: dict[str, Any] = {"timeouts": [], "delay": 0.0, "validations": 0}
    edits = [SourceEdit(PATH, PRICING, PRICING.replace("return", f"x = {i}\n    return", 1)) for i in range(5)]
    cands = [Candidate(f"try-{i}", (edit,), "r", 1.0 - i / 10) for i, edit in enumerate(edits)]

    def baseline(*_: Any, timeout: float = 300.0, **__: Any) -> Baseline:
        seen["timeouts"].append(timeout)
        time.sleep(seen["delay"])
        return Baseline(target=None, reproduction=None, test=GOOD_TEST, test_on_original=crashed_on_original(),
                        suite_on_original=None, runs=3, reproduction_seconds=4.0, test_seconds=1.0, suite_seconds=2.0)

    def validate(*_: Any, timeout: float = 300.0, **__: Any) -> ValidationReport:
        seen["timeouts"].append(timeout)
        seen["validations"] += 1
        time.sleep(seen["delay"])
        return _failing(3.0)

    monkeypatch.setattr(repair_agent, "generate_candidates",
                        lambda ctx, *a: [c for c in cands if c.strategy not in ctx.tried])
    monkeypatch.setattr(repair_agent, "prepare_baseline", baseline)
    monkeypatch.setattr(repair_agent, "validate", validate)
    seen["repo"] = GitRepo(repo_dir)
    return seen


def test_the_loop_stops_when_the_budget_is_spent_and_cuts_each_runs_timeout(loop: dict[str, Any]) -> None:
    loop["delay"] = 1.5
    started = time.monotonic()
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=5, budget=8.0)
    elapsed = time.monotonic() - started
    assert outcome.budget_spent and 1 <= len(outcome.attempts) < 5
    assert elapsed < 8.0 + 1.5 + 1.0, elapsed
    assert all(t <= 8.0 for t in loop["timeouts"]) and loop["timeouts"] == sorted(loop["timeouts"], reverse=True)
    assert any("repair budget of 8 s spent after" in d for d in outcome.policy_decisions)


def test_without_a_budget_every_attempt_runs(loop: dict[str, Any]) -> None:
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=3)
    assert not outcome.budget_spent and len(outcome.attempts) == 3
    assert all(t == repair_agent.SANDBOX_TIMEOUT for t in loop["timeouts"])


def test_a_budget_too_small_for_any_run_declines_with_the_reason(loop: dict[str, Any]) -> None:
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=3, budget=1.0)
    assert outcome.budget_spent and not outcome.attempts and loop["timeouts"] == []
    assert outcome.declined == "the repair budget of 1 s was spent before the crash was reproduced"


def test_time_is_recorded_per_attempt_and_the_original_side_is_counted_once(loop: dict[str, Any]) -> None:
    outcome = repair_agent.repair(diagnosis(), None, loop["repo"], runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=3)
    first, second = (a.validation.time for a in outcome.attempts[:2] if a.validation)
    assert first is not None and second is not None
    assert (first.reproduction, first.suite_on_original, first.total) == (0.0, 0.0, 4.5)  # paid by the reproduction
    assert (second.reproduction, second.suite_on_original, second.patched_suite, second.total) == (0.0, 0.0, 3.0, 4.5)
    assert outcome.step_seconds == {"reproduction": 4.0, "test_on_original": 1.0, "suite_on_original": 2.0,
                                    "patched_suite": 9.0, "test_on_patched": 3.0, "differential": 1.5}
