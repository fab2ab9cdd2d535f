"""The local AnalysisRun: one measurement's phase from its conditions, Argo's limits over a metric's
measurements, the scaled schedule, and how empty, NaN and failed queries end an analysis (no Docker).

How a condition evaluates on a value is ``tests/canary/test_conditions.py``; here it is what the
analysis makes of it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crew.canary.local.analysis import (
    AnalysisOutcome,
    MetricRun,
    measurement_phase,
    resolve_args,
    run_analysis,
    substitute,
)
from crew.canary.local.prometheus import QueryError
from crew.canary.local.spec import Metric, parse_rollout, parse_template, read_manifest
from crew.errors import BadInputError
from crew.handoffs import AnalysisMeasurement

GUARDED = "len(result) == 0 || result[0] >= 0.99"
DEPLOY = Path(__file__).resolve().parents[3] / "examples" / "pricing-service" / "deploy"


def metric(**changes: Any) -> Metric:
    base = Metric(name="success-rate", query='sum(rate(istio_requests_total{reporter="destination"}[2m]))',
                  interval=60.0, count=3, success=GUARDED, failure=None, failure_limit=1, inconclusive_limit=0,
                  consecutive_error_limit=4)
    return replace(base, **changes)


def run_of(m: Metric, *phases: str) -> MetricRun:
    run = MetricRun(m)
    run.measurements = [AnalysisMeasurement(metric=m.name, seconds=float(i), phase=p)  # type: ignore[arg-type]
                        for i, p in enumerate(phases)]
    return run


class Clock:
    """A fake sleep that records what it was asked to wait, and a clock for the measurements' times."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.waits: list[float] = []
        self.stop_after = stop_after

    def sleep(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return self.stop_after is None or len(self.waits) <= self.stop_after

    def now(self) -> float:
        return 100.0 + len(self.waits)


def answers(*values: list[float] | float | Exception) -> tuple[Callable[[str], list[float] | float], list[str]]:
    """A query function giving ``values`` in turn (an exception is raised), and the queries it was sent."""
    sent: list[str] = []
    queue = list(values)

    def query(promql: str) -> list[float] | float:
        sent.append(promql)
        value = queue.pop(0)
        if isinstance(value, Exception):
            raise value
        return value

    return query, sent


def analyse(metrics: list[Metric], query: Callable[[str], list[float] | float], clock: Clock,
            scale: float = 0.1, min_range: float = 4.0) -> AnalysisOutcome:
    return run_analysis([("health", m, m.query) for m in metrics], query, time_scale=scale, min_range=min_range,
                        clock=clock.now, sleep=clock.sleep)


# --------------------------------------------------------------------------- one measurement


@pytest.mark.parametrize(("m", "result", "phase"), [
    (metric(), [], "Successful"),  # no series yet: the guard passes it
    (metric(), [0.995], "Successful"),
    (metric(), [0.9], "Failed"),
    (metric(), [math.nan], "Failed"),  # 0/0 of a rate with no requests fails the success condition
    (metric(success="result >= 0.99"), 0.995, "Successful"),  # a scalar result is the number itself
    (metric(), 0.995, "Error"),  # ... so len(result) cannot be taken, as in Argo
    (metric(success="result[0] >= 0.99"), [], "Error"),  # unguarded: indexing an empty result errors
    (metric(success=None, failure="result[0] > 0.01"), [math.nan], "Successful"),  # Argo's NaN pitfall, kept
    (metric(success=None, failure="result[0] > 0.01"), [0.2], "Failed"),
    (metric(success="result[0] < 0.5", failure="result[0] > 0.1"), [0.2], "Failed"),  # both hold: failure wins
    (metric(success="result[0] < 0.1", failure="result[0] > 0.5"), [0.2], "Inconclusive"),  # neither holds
    (metric(success=None, failure=None), [0.0], "Successful"),
])
def test_a_measurements_phase_follows_argo(m: Metric, result: list[float] | float, phase: str) -> None:
    got, message = measurement_phase(m, result)
    assert got == phase
    assert (message == "") == (phase == "Successful")


def test_a_measurements_message_names_the_condition() -> None:
    assert measurement_phase(metric(), [0.5])[1] == f"successCondition {GUARDED} does not hold"
    assert measurement_phase(metric(failure="result[0] < 0.6"), [0.5])[1] == "failureCondition result[0] < 0.6 holds"
    assert "out of range" in measurement_phase(metric(success="result[0] > 0"), [])[1]


# --------------------------------------------------------------------------- Argo's limits over a metric


@pytest.mark.parametrize(("m", "phases", "expected"), [
    (metric(), ["Successful"], None),  # still running
    (metric(), ["Failed"], None),  # failureLimit 1: one failure is allowed
    (metric(), ["Failed", "Failed"], "Failed"),
    (metric(), ["Failed", "Successful", "Successful"], "Successful"),
    (metric(failure_limit=0), ["Failed"], "Failed"),
    (metric(inconclusive_limit=0), ["Inconclusive"], "Inconclusive"),
    (metric(inconclusive_limit=1), ["Inconclusive", "Successful", "Successful"], "Successful"),
    (metric(consecutive_error_limit=1), ["Error"], None),
    (metric(consecutive_error_limit=1), ["Error", "Error"], "Error"),
    (metric(consecutive_error_limit=1), ["Error", "Successful", "Error"], "Successful"),  # not in a row
    # every measurement errored, none past the limit: an analysis that measured nothing is not a success
    (metric(), ["Error", "Error", "Error"], "Error"),
    (metric(count=1), ["Error"], "Error"),
])
def test_a_metrics_phase_under_its_limits(m: Metric, phases: list[str], expected: str | None) -> None:
    assert run_of(m, *phases).phase() == expected


# --------------------------------------------------------------------------- the run


def test_measurements_follow_the_scaled_schedule_and_ranges() -> None:
    m = metric(initial_delay=30.0, query='sum(rate(x[2m])) / sum(rate(y[5m:30s]))')
    query, sent = answers([1.0], [1.0], [1.0])
    clock = Clock()
    outcome = analyse([m], query, clock, scale=0.1)
    assert outcome.phase == "Successful" and outcome.message == ""
    # due at initialDelay + k * interval, scaled, counted from the start (the fake sleep takes no time)
    assert clock.waits == pytest.approx([3.0, 9.0, 15.0], abs=0.05)
    assert sent == ["sum(rate(x[12s])) / sum(rate(y[30s:3s]))"] * 3
    assert [(r.metric, r.value, r.phase) for r in outcome.measurements] == [("success-rate", [1.0], "Successful")] * 3
    assert [r.seconds for r in outcome.measurements] == [101.0, 102.0, 103.0]  # the canary's clock


def test_two_metrics_interleave_and_the_first_that_cannot_pass_ends_the_run() -> None:
    restarts = metric(name="restarts", success="len(result) == 0 || result[0] < 1", failure_limit=0,
                      initial_delay=5.0)
    query, sent = answers([1.0], [0.0], [1.0], [2.0], [1.0], [0.0])
    outcome = analyse([metric(), restarts], query, Clock())
    assert outcome.phase == "Failed"
    assert [(r.metric, r.phase) for r in outcome.measurements] == [
        ("success-rate", "Successful"), ("restarts", "Successful"), ("success-rate", "Successful"),
        ("restarts", "Failed")]
    assert len(sent) == 4  # nothing more is measured once a metric has failed
    assert outcome.message.startswith("analysis metric restarts failed (1 failed, 0 inconclusive, 0 errored; "
                                      "last value 2: successCondition")


def test_no_series_at_all_is_a_success_under_a_guarded_condition() -> None:
    query, _sent = answers([], [], [])
    outcome = analyse([metric()], query, Clock())
    assert outcome.phase == "Successful" and [r.value for r in outcome.measurements] == [[], [], []]


def test_nan_results_fail_the_analysis_and_are_shown_as_nan() -> None:
    query, _sent = answers([math.nan], [math.nan], [1.0])
    outcome = analyse([metric()], query, Clock())
    assert outcome.phase == "Failed" and len(outcome.measurements) == 2
    assert "2 failed" in outcome.message and "last value NaN" in outcome.message


def test_an_analysis_whose_every_query_failed_is_an_error_not_a_success() -> None:
    query, _sent = answers(*[QueryError("bad_data: parse error at char 3")] * 3)
    outcome = analyse([metric()], query, Clock())
    assert outcome.phase == "Error"
    assert [(r.phase, r.value, r.message) for r in outcome.measurements] == [
        ("Error", [], "bad_data: parse error at char 3")] * 3
    assert "0 failed, 0 inconclusive, 3 errored; last value no data: bad_data: parse error" in outcome.message


def test_errors_in_a_row_past_the_limit_end_the_run_early() -> None:
    query, sent = answers(QueryError("timeout"), QueryError("timeout"), [1.0])
    outcome = analyse([metric(consecutive_error_limit=1)], query, Clock())
    assert outcome.phase == "Error" and len(sent) == 2


def test_one_errored_measurement_among_good_ones_passes() -> None:
    query, _sent = answers(QueryError("timeout"), [1.0], [0.999])
    assert analyse([metric()], query, Clock()).phase == "Successful"


def test_a_condition_that_cannot_be_evaluated_errors_the_measurement() -> None:
    query, _sent = answers([], [], [])
    outcome = analyse([metric(success="result[0] >= 0.99")], query, Clock())
    assert outcome.phase == "Error" and all("out of range" in r.message for r in outcome.measurements)


def test_a_stopped_canary_ends_its_analysis_as_an_error() -> None:
    query, sent = answers([1.0], [1.0], [1.0])
    outcome = analyse([metric()], query, Clock(stop_after=0))  # the first measurement is due at once
    assert outcome.phase == "Error" and outcome.message == "the canary was stopped during the analysis"
    assert len(sent) == 1 and len(outcome.measurements) == 1


# --------------------------------------------------------------------------- arguments


def test_the_flagship_steps_args_fill_its_templates_queries() -> None:
    template = parse_template(read_manifest(DEPLOY / "analysis-template.yaml", "AnalysisTemplate"))
    rollout = parse_rollout(read_manifest(DEPLOY / "rollout.yaml", "Rollout"))
    step = next(s for s in rollout.steps if s.kind == "analysis")
    args = resolve_args(template, step.args, rollout=rollout.name, namespace=rollout.namespace,
                        hashes={"stable": "stablehash", "canary": "canaryhash"})
    assert args == {"service-name": "pricing-service-canary", "namespace": "shop", "canary-hash": "canaryhash"}
    restarts = substitute(next(m.query for m in template.metrics if m.name == "restarts"), args)
    assert 'pod=~"pricing-service-canaryhash-.*"' in restarts and "{{" not in restarts


def test_argument_sources_and_their_errors() -> None:
    template = parse_template({"metadata": {"name": "t"}, "spec": {
        "args": [{"name": "a"}, {"name": "b", "value": "default"}],
        "metrics": [{"name": "m", "provider": {"prometheus": {"query": "up"}}}]}})
    hashes = {"stable": "s1", "canary": "c1"}
    got = resolve_args(template, ({"name": "a", "valueFrom": {"podTemplateHashValue": "Stable"}},
                                  {"name": "c", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
                       rollout="r", namespace="ns", hashes=hashes)
    assert got == {"a": "s1", "b": "default", "c": "ns"}
    with pytest.raises(BadInputError, match="argument a has no value"):
        resolve_args(template, (), rollout="r", namespace="ns", hashes=hashes)
    with pytest.raises(BadInputError, match="Latest or Stable"):
        resolve_args(template, ({"name": "a", "valueFrom": {"podTemplateHashValue": "Newest"}},), rollout="r",
                     namespace="ns", hashes=hashes)
    with pytest.raises(BadInputError, match="not known to the local canary"):
        resolve_args(template, ({"name": "a", "valueFrom": {"fieldRef": {"fieldPath": "spec.replicas"}}},),
                     rollout="r", namespace="ns", hashes=hashes)
    with pytest.raises(BadInputError, match=r"\{\{args.nope\}\} is used but is not an argument"):
        substitute("x{{args.nope}}", {"a": "1"})
    assert substitute("{{ args.a }}-{{args.a}}", {"a": "1"}) == "1-1"
