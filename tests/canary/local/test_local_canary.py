"""The local canary end to end on the flagship: its fix promotes; a candidate that fails one request in
ten, one three times slower and one that crashes at start each abort, say why, and leave all traffic on
stable.

Real containers (``--network none``), the router on loopback and a real Prometheus; the incident's own
recorded requests (the crashing ones included) at a bounded rate. The time scale is small so the file
runs in a few minutes; the assertions are on decisions and on what each step recorded, not on timings.
"""

from __future__ import annotations

from typing import Any

import pytest

from crew.canary.local import TrafficPlan, run_local_canary
from crew.handoffs import CanaryResult, CanaryStep
from tests.canary.local.repos import BUNDLE, Repo, bad_candidate, flagship

pytestmark = pytest.mark.docker

SCALE = 0.05
"""A 2 min pause is 6 s, a 1 min analysis interval 3 s: the fix's eight steps take about 40 s."""
TRAFFIC = TrafficPlan.from_incident(BUNDLE, rate=30, concurrency=4, timeout=3)
WEIGHTS = [("setWeight", 20), ("pause", 20), ("analysis", 20), ("setWeight", 50), ("pause", 50), ("analysis", 50),
           ("setWeight", 100), ("pause", 100)]
STEP_METRICS = {"error_rate", "latency_mean_seconds", "latency_p90_seconds"}


@pytest.fixture(scope="module")
def repo(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return flagship(tmp_path_factory.mktemp("canary"))


def canary(repo: Repo, candidate: str) -> tuple[CanaryResult, list[str]]:
    said: list[str] = []
    result = run_local_canary(repo.path, repo.deployed, candidate, time_scale=SCALE, traffic=TRAFFIC,
                              progress=said.append)
    return result, said


def metric(step: CanaryStep, name: str) -> tuple[float | None, float | None]:
    (found,) = [m for m in step.metrics if m.name == name]
    return found.canary, found.stable


@pytest.mark.timeout(300)
def test_the_flagship_fix_promotes_with_metrics_for_every_step(repo: Repo) -> None:
    result, said = canary(repo, repo.fixed)
    assert result.decision == "promoted", result.reason
    assert result.reason.startswith("all 8 steps passed")
    assert (result.backend, result.stable, result.candidate, result.time_scale) == ("local", repo.deployed,
                                                                                    repo.fixed, SCALE)
    assert result.final_weight == 100 and result.after_abort == {}
    assert [(s.kind, s.weight) for s in result.steps] == WEIGHTS
    assert [s.index for s in result.steps] == list(range(8)) and all(s.outcome == "passed" for s in result.steps)
    judged = [s for s in result.steps if s.kind != "setWeight"]
    for step in judged:
        assert {m.name for m in step.metrics} == STEP_METRICS, step.index
        assert step.requests["canary"] > 0, step.index
        assert (step.requests["stable"] > 0) == (step.weight < 100), step.index
        error_rate, _stable = metric(step, "error_rate")
        assert error_rate == 0.0, f"step {step.index}: the fix answered {error_rate:.1%} with a 5xx"
        latency, _stable = metric(step, "latency_mean_seconds")
        assert latency is not None and 0 < latency < TRAFFIC.timeout
    # the replayed requests crashed the deployed code on stable, and the fix served the same requests
    assert any((metric(s, "error_rate")[1] or 0) > 0 for s in judged)
    for step in (s for s in result.steps if s.kind == "analysis"):
        assert {m.metric for m in step.analysis} == {"success-rate", "restarts"}
        assert len(step.analysis) == 6 and all(m.phase == "Successful" for m in step.analysis)
    assert result.judge is not None and result.judge.verdict != "fail"
    assert not any(line.startswith("abort") for line in said)


BAD = {
    # kind: (words one of which the reason must hold, why)
    "errors": (("success-rate", "error_rate"), "the analysis' success rate or the judge's error rate"),
    "slow": (("latency",), "the judge's latency"),
    "crash": (("restarted",), "the canary's restarts"),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_candidate_aborts_and_traffic_goes_back_to_stable(repo: Repo, kind: str) -> None:
    result, said = canary(repo, bad_candidate(repo, kind))
    words, why = BAD[kind]
    assert result.decision == "aborted", result.reason
    assert any(w in result.reason for w in words), f"the reason should name {why}: {result.reason}"
    # it stopped at the failing step, before the candidate had all the traffic
    *before, failed = result.steps
    assert failed.outcome == "failed" and all(s.outcome == "passed" for s in before)
    assert failed.kind != "setWeight" and all(s.weight < 100 for s in result.steps)
    assert result.reason.startswith(f"step {failed.index} ({failed.kind}")
    analysis_failed = any(m.phase != "Successful" for m in failed.analysis)
    judge_failed = failed.judge is not None and failed.judge.verdict == "fail"
    assert analysis_failed or judge_failed
    # everything is back on stable: the weight, and every request of the check that follows the abort
    assert result.final_weight == 0
    assert result.after_abort["canary"] == 0 and result.after_abort["stable"] > 0
    assert any(line.startswith("abort: all traffic back on stable") for line in said)
    # what the steps recorded shows the candidate's fault
    canary_errors = [metric(s, "error_rate")[0] for s in result.steps if s.metrics]
    if kind == "errors":
        assert max(e or 0 for e in canary_errors) > 0
    elif kind == "slow":
        canary_latency, stable_latency = metric(failed, "latency_mean_seconds")
        assert canary_latency is not None and stable_latency is not None and canary_latency > stable_latency
        assert max(e or 0 for e in canary_errors) == 0  # slow, not failing
    else:
        assert metric(failed, "error_rate")[0] == 1.0  # it never answered
        assert "PRICING_CATALOG_URL is not set" in result.reason  # the service's own last words
        assert "bridge:" not in result.reason


def test_the_bad_candidates_differ_from_the_fix_only_in_their_fault(repo: Repo) -> None:
    """A bad candidate is the fix plus its fault, so an abort is the fault's doing."""
    import subprocess

    for kind in BAD:
        sha = bad_candidate(repo, kind)
        diff = subprocess.run(["git", "diff", "--name-only", repo.fixed, sha], cwd=repo.path, capture_output=True,
                              text=True, check=True).stdout.split()
        assert diff == ["app/main.py"], kind
