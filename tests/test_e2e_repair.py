"""End to end, against the real Docker engine: incidents go in, validated fixes come out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from crew.bundle import load_bundle
from crew.flow import run_stages, to_report
from tests.e2e_helpers import commit_repo, healcrew_run

ROOT = Path(__file__).resolve().parents[1]
INCIDENTS = ROOT / "examples" / "incidents"
BUNDLES = sorted(p.parent.name for p in INCIDENTS.glob("*/expected.yaml"))

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(os.environ.get("HEALCREW_CACHE") or tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("name", BUNDLES)
def test_corpus_incident_is_fixed_or_declined(name: str, cache: Path, docker_client: Any) -> None:
    expected = yaml.safe_load((INCIDENTS / name / "expected.yaml").read_text())
    incident = load_bundle(INCIDENTS / name, cache)
    state = run_stages(incident, use_crewai=False, repair=True, sandbox="docker")
    report = to_report(state)
    assert report.stopped_at is None, report.error
    if not expected["fixable"]:
        assert report.outcome == "no_fix" and report.declined and not report.attempts
        return
    assert report.outcome == "fixed", [(a.proposal.strategy, a.rejected_because) for a in report.attempts]
    accepted = report.accepted
    assert accepted is not None and accepted.critique and accepted.critique.verdict == "accept"
    if expected.get("fault"):
        v = accepted.validation
        assert v is not None and v.reproduces and v.fixed and v.no_regressions and v.passed
        assert v.test_on_original is not None and v.test_on_original.exc_type
        assert v.suite_on_patched is not None and v.suite_on_patched.passed > 0
        assert accepted.proposal.test is not None and "assert" in accepted.proposal.test.code
    else:
        assert accepted.proposal.strategy == "raise-memory-limit"
    assert len(report.attempts) <= 3


def test_replay_cli_writes_report_and_a_patch_that_applies(cache: Path, tmp_path: Path, docker_client: Any) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "HEALCREW_CACHE": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "crew.cli", "replay", str(INCIDENTS / "pricing-zero-division"), "--out", str(out),
         "--sandbox", "docker"], capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["outcome"] == "fixed"
    md = (out / "report.md").read_text()
    assert "## Fix" in md and "test on original" in md and "ZeroDivisionError" in md
    repo = Path(load_bundle(INCIDENTS / "pricing-zero-division", cache).repo)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True)
    subprocess.run(["git", "apply", str(out / "fix.patch")], cwd=work, check=True)
    assert "if not d:" in (work / "app" / "pricing.py").read_text()


BUGGY = '''"""Shipping quotes."""


def per_item_cost(total_cost, items):
    """Cost per item of a parcel."""
    return round(total_cost / len(items), 2)


def quote(parcel):
    return {"per_item": per_item_cost(parcel["cost"], parcel["items"])}
'''
SUITE = '''from shipping.rates import per_item_cost, quote


def test_per_item_cost():
    assert per_item_cost(10.0, ["a", "b"]) == 5.0


def test_quote():
    assert quote({"cost": 9.0, "items": [1, 2, 3]}) == {"per_item": 3.0}
'''


def test_run_on_an_unseen_repo(tmp_path: Path, cache: Path, docker_client: Any) -> None:
    repo = commit_repo(tmp_path / "shipping-svc", {
        "shipping/__init__.py": "", "shipping/rates.py": BUGGY, "tests/test_rates.py": SUITE,
        "requirements.txt": "pytest\n",
    }, "Add shipping rates")
    crash = subprocess.run(
        [sys.executable, "-c", "from shipping.rates import quote; quote({'cost': 4.0, 'items': []})"],
        cwd=repo, capture_output=True, text=True,
    )
    assert "ZeroDivisionError" in crash.stderr
    lines = [f"2026-11-20T02:0{i % 10}:00Z worker-1 {line.replace(str(repo), '/srv/app')}"
             for i, line in enumerate(crash.stderr.splitlines())]
    log = tmp_path / "crash.log"
    log.write_text(textwrap.dedent("\n".join(["2026-11-20T01:59:59Z worker-1 INFO starting", *lines])) + "\n")
    out = tmp_path / "out"
    proc, report = healcrew_run(repo, log, out, cache, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert report["outcome"] == "fixed"
    assert report["diagnosis"]["fault_frame"]["repo_path"] == "shipping/rates.py"
    assert report["accepted"]["validation"]["reproduces"] is True
    assert (out / "fix.patch").exists() and (out / "report.md").exists()


def _stable(value: Any) -> Any:
    """A report without what legitimately varies between runs: timings, run ids, durations."""
    volatile = {"seconds", "run_id", "correlation_id", "timings", "duration", "time"}
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_replaying_a_bundle_twice_gives_the_same_report(cache: Path, docker_client: Any) -> None:
    reports = []
    for _ in range(2):
        incident = load_bundle(INCIDENTS / "orders-schema-keyerror", cache)
        state = run_stages(incident, use_crewai=False, repair=True, sandbox="docker")
        reports.append(_stable(to_report(state).model_dump(mode="json")))
    assert reports[0]["outcome"] == "fixed"
    assert reports[0] == reports[1]


def test_a_candidate_that_does_not_fix_is_recorded_and_the_right_one_is_accepted(
    cache: Path, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search, with a first candidate that adds a useless (but real) statement, and one that only
    adds a comment: neither reaches reflection, both are in the report with why."""
    import crew.agents.repair as repair_module
    from crew.repair.candidates import Candidate, SourceEdit, generate_candidates

    def with_useless_firsts(ctx: Any, limit: int = 6) -> list[Candidate]:
        real = generate_candidates(ctx, limit)
        if ctx.tried or not real:  # revising, or an upstream location with nothing to offer
            return real
        edit = real[0].edits[0]
        commented = edit.original.replace("def calc(p, d):", "def calc(p, d):  # divisor")
        useless = edit.original.replace("    return p / d", "    d = d\n    return p / d")  # smallest first
        return [Candidate("comment-only", (SourceEdit(edit.path, edit.original, commented),), "a comment", 0.99),
                Candidate("useless", (SourceEdit(edit.path, edit.original, useless),), "d = d", 0.98), *real]

    monkeypatch.setattr(repair_module, "generate_candidates", with_useless_firsts)
    incident = load_bundle(INCIDENTS / "pricing-zero-division", cache)
    report = to_report(run_stages(incident, use_crewai=False, repair=True, sandbox="docker"))
    assert report.outcome == "fixed" and report.accepted is not None
    assert report.accepted.proposal.strategy not in ("comment-only", "useless")
    assert all(a.proposal.strategy not in ("comment-only", "useless") for a in report.attempts)
    verdicts = {c.strategy: c.verdict for c in report.candidates}
    assert verdicts["comment-only"].startswith("not validated: no change after normalisation")
    assert "still fails on the patched code" in verdicts["useless"]
    assert verdicts[report.accepted.proposal.strategy] == "accepted"


def test_a_patch_that_does_not_apply_is_an_outcome_not_a_crash(cache: Path, docker_client: Any) -> None:
    from crew.repo import GitRepo
    from crew.sandbox_runner import SandboxRunner

    repo = GitRepo(load_bundle(INCIDENTS / "pricing-zero-division", cache).repo)
    stale = "--- a/app/pricing.py\n+++ b/app/pricing.py\n@@ -1,1 +1,1 @@\n-no such line\n+x = 1\n"
    outcome = SandboxRunner(repo, "docker").run(["true"], stale, {}, 60)
    assert outcome.patch_error and "app/pricing.py" in outcome.patch_error
    assert outcome.exit_code is None and not outcome.cases


def test_a_file_scoped_test_command_still_runs_the_regression_test(
    tmp_path: Path, cache: Path, docker_client: Any,
) -> None:
    """``--test-cmd`` naming one file used to leave the new test uncollected: every fix got "a pass"."""
    repo = commit_repo(tmp_path / "shipping-svc", {
        "shipping/__init__.py": "", "shipping/rates.py": BUGGY, "tests/test_one.py": SUITE,
        "tests/test_other.py": "def test_other():\n    assert True\n", "requirements.txt": "pytest\n",
    }, "Add shipping rates")
    crash = subprocess.run(
        [sys.executable, "-c", "from shipping.rates import quote; quote({'cost': 4.0, 'items': []})"],
        cwd=repo, capture_output=True, text=True,
    )
    log = tmp_path / "crash.log"
    log.write_text(crash.stderr.replace(str(repo), "/srv/app"))
    out = tmp_path / "out"
    proc, report = healcrew_run(repo, log, out, cache, "--test-cmd", "python -m pytest -q tests/test_one.py",
                                "--budget", "400", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert report["outcome"] == "fixed", [a["rejected_because"] for a in report["attempts"]]
    v = report["accepted"]["validation"]
    assert v["reproduces"] is True and v["test_run_alone"] is True and v["reproduction_mismatch"] is None
    code = report["accepted"]["proposal"]["test"]["code"]
    crashing = code.count("_handles_the_incident_input():")  # at the fault function, and at production's entry
    assert v["test_on_original"]["failed"] == crashing >= 1 and v["test_on_original"]["exc_type"] == "ZeroDivisionError"
    written = code.count("\ndef test_")  # the incident's, and pins
    assert v["test_on_patched"]["passed"] == written >= 1 and v["test_on_patched"]["failed"] == 0
    # the suite is the one the command scopes: test_one's two tests, not test_other
    assert v["suite_on_patched"]["passed"] == 2
    spent = v["time"]
    assert spent["patched_suite"] > 0 and spent["test_on_patched"] > 0  # the original side is the reproduction's
    assert report["reproduction"]["reproduced"] and report["reproduction"]["seconds"] > 0
    assert spent["total"] >= spent["patched_suite"] + spent["test_on_patched"]
    stages = {t["stage"] for t in report["timings"]}
    assert {"sandbox: reproduction", "sandbox: patched suite"} <= stages

