"""Reflection ranks passing candidates before it judges them: a generator-rule warning ranks a fix down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crew.agents import repair as repair_agent
from crew.handoffs import (
    CodeContext,
    Diagnosis,
    Frame,
    MappedFrame,
    RegressionTest,
    RootCause,
    RunSummary,
    ValidationReport,
)
from crew.repair.candidates import Candidate, SourceEdit
from crew.repo import GitRepo
from crew.validate import Baseline, BatchOutcome
from tests.e2e_helpers import commit_repo

PATH = "app/pricing.py"
RAISING = '''"""Pricing."""


def unit_price(price, divisor):
    if divisor < 0:
        raise ValueError("negative divisor")
    return price / divisor
'''
PLAIN = RAISING.replace('        raise ValueError("negative divisor")', "        divisor = -divisor")
TEST = RegressionTest(path="tests/test_regression_inc1.py", call="unit_price(12.5, 0)", input_source="log",
                      code=("from app.pricing import unit_price\n\n\ndef test_zero():\n"
                            "    assert unit_price(12.5, 0) == 0.0\n"))


def _diagnosis(source: str) -> Diagnosis:
    fault = MappedFrame(frame=Frame(file="/app/app/pricing.py", line=7, function="unit_price",
                                    code="return price / divisor"), repo_path=PATH)
    return Diagnosis(
        incident_id="inc1", exc_type="ZeroDivisionError", exc_message="float division by zero",
        root_cause=RootCause.DIVISION_BY_ZERO, frames=[fault], fault_frame=fault,
        code_context=CodeContext(path=PATH, function="unit_price", start_line=4, end_line=7, fault_line=7,
                                 lines=source.splitlines()[3:7]),
        culprit="divisor", hypothesis="h", confidence=0.9,
    )


def _passing() -> ValidationReport:
    return ValidationReport(backend="fake", reproduces=True, fixed=True, no_regressions=True, passed=True,
                            differential_inputs=5, differential_ok=True)


def _candidates(source: str) -> list[Candidate]:
    line = "    return price / divisor"
    guard = source.replace(line, "    if divisor == 0:\n        return 0.0\n" + line)
    mutate = source.replace("    return price / divisor", "    return price / divisor if divisor else 0.0")
    return [Candidate("guard-zero-divisor-zero", (SourceEdit(PATH, source, guard),), "guard", 0.9),
            Candidate("mutate-zero-divisor", (SourceEdit(PATH, source, mutate),), "mutate", 0.4)]


def _search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> repair_agent.RepairOutcome:
    repo = GitRepo(commit_repo(tmp_path / "svc", {PATH: source}, "init"))
    crashed = RunSummary(exit_code=1, failed=1, failing=["tests/test_regression_inc1.py::test_zero"],
                         exc_type="ZeroDivisionError", exc_message="float division by zero", raising_frame=f"{PATH}:7")

    def baseline(*_: Any, **__: Any) -> Baseline:
        return Baseline(target=None, reproduction=None, test=TEST, test_on_original=crashed, suite_on_original=None,
                        runs=2)

    def validate_batch(items: list[Any], *_: Any, **__: Any) -> BatchOutcome:
        return BatchOutcome([_passing() for _ in items], 1.0, 1)

    cands = _candidates(source)
    monkeypatch.setattr(repair_agent, "generate_candidates",
                        lambda ctx, *a: [c for c in cands if c.strategy not in ctx.tried])
    monkeypatch.setattr(repair_agent, "prepare_baseline", baseline)
    monkeypatch.setattr(repair_agent, "validate_batch", validate_batch)
    return repair_agent.repair(_diagnosis(source), None, repo, runner=object(),  # type: ignore[arg-type]
                               test_command="pytest", max_attempts=3)


def test_a_guard_against_the_functions_contract_is_ranked_below_a_fix_without_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = _search(tmp_path, monkeypatch, RAISING)
    assert outcome.accepted is not None and outcome.accepted.proposal.strategy == "mutate-zero-divisor"
    records = {c.strategy: c for c in outcome.candidates}
    guard = records["guard-zero-divisor-zero"]
    assert guard.rank == 2 and records["mutate-zero-divisor"].rank == 1
    assert guard.warnings and "raises ValueError for other bad inputs" in guard.warnings[0]
    assert records["mutate-zero-divisor"].warnings == []


def test_without_the_warning_the_evidence_and_prior_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _search(tmp_path, monkeypatch, PLAIN)
    assert outcome.accepted is not None and outcome.accepted.proposal.strategy == "guard-zero-divisor-zero"
    assert all(c.warnings == [] for c in outcome.candidates)
