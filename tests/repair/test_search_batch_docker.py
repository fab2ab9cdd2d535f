"""Several candidates in ONE container, each in its own copy, each with its own verdict.

Five candidates for one crash: one hangs, one kills its interpreter with ``os._exit``, one breaks
another function's test, one changes what the function returns on ordinary inputs, one is right.
A hang costs its own per-test timeout and a crash nothing more; the right one ranks first.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Frame, Traceback
from crew.repair.candidates import Candidate, SourceEdit
from crew.repair.search import rank
from crew.repo import GitRepo
from crew.validate import REGRESSION_TIMEOUT, STEP_SLACK, BatchItem, prepare_baseline, validate_batch
from tests.e2e_helpers import commit_repo

CALC = '''"""Ratios."""


def ratio(hits, total):
    return hits / total


def share(hits, total):
    return ratio(hits, total)
'''
SUITE = '''from svc.calc import ratio, share


def test_ratio():
    assert ratio(1, 2) == 0.5


def test_share():
    assert share(3, 4) == 0.75
'''
LINE = "    return hits / total\n"
GUARD = "    if total == 0:\n        return 0.0\n"
FIXES = {
    "hangs": "    if total == 0:\n        while True:\n            pass\n" + LINE,
    "exits": "    if total == 0:\n        import os\n        os._exit(3)\n" + LINE,
    "breaks-share": GUARD + LINE,  # and share() is broken below
    "changes-outputs": GUARD + "    return round(hits / total + 0.01, 6)\n",
    "right": GUARD + LINE,
}


def _evidence() -> CrashEvidence:
    line = CALC.splitlines().index(LINE.rstrip("\n")) + 1
    tb = Traceback(exc_type="ZeroDivisionError", exc_message="division by zero", frames=[
        Frame(file="/srv/app/svc/calc.py", line=line, function="ratio", code="return hits / total")])
    return CrashEvidence(incident_id="batch", source="t", tracebacks=[tb], groups=[
        CrashGroup(signature="s", exc_type="ZeroDivisionError", exc_message="", count=1, example=0)])


def _candidates() -> list[Candidate]:
    out = []
    for score, (name, body) in zip((0.9, 0.8, 0.7, 0.6, 0.5), FIXES.items(), strict=True):
        updated = CALC.replace(LINE, body, 1)
        if name == "breaks-share":
            updated = updated.replace("    return ratio(hits, total)\n", "    return ratio(hits, total) * 2\n")
        out.append(Candidate(name, (SourceEdit("svc/calc.py", CALC, updated),), name, score))
    return out


@pytest.mark.docker
@pytest.mark.timeout(600)
def test_five_candidates_run_in_one_container_each_with_its_own_verdict(tmp_path: Path, docker_client: Any) -> None:
    from crew.sandbox_runner import SandboxRunner

    root = commit_repo(tmp_path / "ratio-svc", {
        "svc/__init__.py": "", "svc/calc.py": CALC, "tests/test_calc.py": SUITE, "requirements.txt": "pytest\n",
    }, "Add ratios")
    repo = GitRepo(root)
    evidence = _evidence()
    diagnosis = diagnose(evidence, repo)
    runner = SandboxRunner(repo, "docker")
    baseline = prepare_baseline(diagnosis, evidence, repo, runner, "batch", "python -m pytest -q")
    assert baseline.record(diagnosis).reproduced, baseline.failure
    assert baseline.reproduction is not None and baseline.reproduction.normal_inputs
    cands = _candidates()
    items = [BatchItem(files={e.path: e.updated for e in c.edits}) for c in cands]
    containers: list[int] = []
    real_run = runner.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        containers.append(1)
        return real_run(*args, **kwargs)

    runner.run = counting_run  # type: ignore[method-assign]
    started = time.monotonic()
    result = validate_batch(items, baseline, diagnosis, runner, "python -m pytest -q", timeout=240)
    elapsed = time.monotonic() - started
    assert len(containers) == 1 and result.containers == 1
    reports = dict(zip(FIXES, result.reports, strict=True))
    assert all(r is not None for r in reports.values())
    hangs, exits, breaks, changes, right = (reports[n] for n in FIXES)
    assert hangs is not None and exits is not None and breaks is not None and changes is not None
    assert right is not None
    # the hang cost its own per-test timeout, not the batch
    assert not hangs.fixed and hangs.time is not None
    assert REGRESSION_TIMEOUT <= hangs.time.test_on_patched <= REGRESSION_TIMEOUT + STEP_SLACK + 1
    assert not exits.fixed and "interpreter died without a report (exit code 3)" in (exits.failure or "")
    assert breaks.fixed and [t for t in breaks.newly_failing if "test_share" in t] and not breaks.passed
    # changed outputs are caught by the regression test's pins of ordinary inputs ...
    assert baseline.test is not None and "_keeps_its_ordinary_results" in baseline.test.code
    assert not changes.fixed and not changes.passed and "still fails on the patched code" in (changes.failure or "")
    assert right.passed and right.fixed and right.differential_ok and not right.newly_failing
    assert right.time is not None and right.time.patched_suite > 0 and right.time.differential > 0
    # the suite and the probe ran only for the candidates whose regression test passed
    assert hangs.suite_on_patched is not None and hangs.suite_on_patched.passed == 0
    assert exits.time is not None and exits.time.patched_suite == 0.0 and exits.time.differential == 0.0
    fixed = [(c, r) for c, r in zip(cands, result.reports, strict=True) if r is not None and r.fixed]
    assert [c.strategy for c, _ in rank(fixed)][0] == "right" and "breaks-share" in [c.strategy for c, _ in fixed]
    assert elapsed < 120, elapsed
    # ... and, where the test pins nothing, by the differential probe on the same ordinary inputs
    unpinned = replace(baseline, test=baseline.test.model_copy(update={"code": _without_pins(baseline.test.code)}))
    probed = validate_batch([items[3]], unpinned, diagnosis, runner, "python -m pytest -q", timeout=240).reports[0]
    assert probed is not None and probed.fixed and not probed.passed
    assert probed.differential_mismatches and probed.differential_ok is False


def _without_pins(code: str) -> str:
    """The regression test without its second function, the one pinning ordinary results."""
    return code[:code.index("\n\n\ndef test_", code.index("def test_") + 1)] + "\n"


@pytest.mark.docker
@pytest.mark.timeout(600)
def test_the_loop_under_the_default_budget_accepts_the_flagship_fix_and_records_every_candidate(
    tmp_path: Path, docker_client: Any,
) -> None:
    from crew.bundle import load_bundle
    from crew.flow import run_stages, to_report
    from crew.report import to_markdown

    root = Path(__file__).parents[2]
    incident = load_bundle(root / "examples" / "incidents" / "pricing-zero-division", tmp_path / "cache")
    report = to_report(run_stages(incident, use_crewai=False, repair=True, sandbox="docker"))
    assert report.outcome == "fixed" and report.accepted is not None
    assert report.candidates and len({c.strategy for c in report.candidates}) == len(report.candidates)
    accepted = [c for c in report.candidates if c.verdict == "accepted"]
    assert [c.strategy for c in accepted] == [report.accepted.proposal.strategy] and accepted[0].rank == 1
    assert accepted[0].kind != "other" and accepted[0].seconds > 0
    assert sum(c.seconds for c in report.candidates) < 60
    text = to_markdown(report)
    assert "## Candidates" in text and report.accepted.proposal.strategy in text
