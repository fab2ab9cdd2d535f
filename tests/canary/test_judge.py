"""The canary judge: its statistics against a published reference, and each classification and score rule."""

from __future__ import annotations

import numpy as np
import pytest

from crew.canary.judge import MetricSpec, classify, judge, shift_interval

# A published Mann-Whitney test vector (ClickHouse's mannWhitneyUTest test: U = 223, p = 0.5426959774289482).
LEFT = [310, 195, 530, 155, 530, 245, 385, 450, 465, 545, 170, 180, 125, 180, 230, 75, 430, 480, 495, 295]
RIGHT = [116, 171, 176, 421, 111, 326, 481, 111, 346, 441, 261, 411, 206, 521, 456, 446, 296, 51, 426, 261]
RNG = np.random.default_rng(7)
STABLE = RNG.lognormal(3.0, 0.3, 300).tolist()
SAME = RNG.lognormal(3.0, 0.3, 300).tolist()


def test_the_p_value_matches_the_published_reference() -> None:
    _, _, _, p = shift_interval(np.array(LEFT, float), np.array(RIGHT, float), 0.95)
    assert p == pytest.approx(0.5426959774289482, abs=1e-12)


def test_the_estimate_is_the_median_pairwise_difference_inside_its_interval() -> None:
    a, b = np.array(LEFT, float), np.array(RIGHT, float)
    estimate, lower, upper, _ = shift_interval(a, b, 0.98)
    assert estimate == float(np.median([x - y for x in LEFT for y in RIGHT]))
    narrower = shift_interval(a, b, 0.80)
    assert lower <= narrower[1] <= estimate <= narrower[2] <= upper  # more confidence, wider interval


def test_same_distribution_passes_and_identical_samples_pass_without_a_test() -> None:
    assert classify(MetricSpec(name="latency"), SAME, STABLE).classification == "pass"
    same = classify(MetricSpec(name="latency"), STABLE, list(reversed(STABLE)))
    assert same.classification == "pass" and same.p_value is None


def test_twice_the_latency_is_high_and_fails_a_critical_metric() -> None:
    slow = (np.array(SAME) * 2).tolist()
    verdict = judge({"latency": (slow, STABLE)}, [MetricSpec(name="latency", critical=True)])
    assert verdict.metrics[0].classification == "high" and verdict.score == 0 and verdict.verdict == "fail"
    assert verdict.metrics[0].ratio == pytest.approx(2.0, rel=0.1)


def test_only_the_watched_direction_fails() -> None:
    faster = (np.array(SAME) * 0.5).tolist()
    assert classify(MetricSpec(name="latency", direction="increase"), faster, STABLE).classification == "pass"
    drop = classify(MetricSpec(name="success", direction="decrease"), faster, STABLE)
    assert drop.classification == "low" and drop.failed
    assert classify(MetricSpec(name="x", direction="either"), faster, STABLE).failed


def test_no_data_nan_and_infinity_are_not_values() -> None:
    nan = classify(MetricSpec(name="errors"), [float("nan"), float("inf")], STABLE)
    assert nan.classification == "nodata" and nan.canary_count == 0
    verdict = judge({"latency": (SAME, STABLE)}, [MetricSpec(name="latency"), MetricSpec(name="errors")])
    assert verdict.score == 50 and verdict.verdict == "fail" and "no data: errors" in verdict.reason


def test_score_and_thresholds() -> None:
    slow = (np.array(SAME) * 3).tolist()
    specs = [MetricSpec(name=f"m{i}") for i in range(4)]
    samples = {f"m{i}": (SAME, STABLE) for i in range(4)} | {"m3": (slow, STABLE)}
    verdict = judge(samples, specs)
    assert verdict.score == 75 and verdict.verdict == "marginal" and "m3 high" in verdict.reason
    assert judge(samples, specs, marginal_threshold=80).verdict == "fail"
    assert judge({k: (SAME, STABLE) for k in samples}, specs).verdict == "pass"
