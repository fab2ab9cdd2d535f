"""The local canary's judge compares the two sides over the same windows only."""

from __future__ import annotations

import random

from crew.canary.local.judging import judge_all, judge_step, shared_windows
from crew.canary.local.router import Observation


def _traffic(side: str, start: float, seconds: float, latency: float, rate: int = 10, error_every: int = 0,
             seed: int = 0) -> list[Observation]:
    rng = random.Random(seed)
    out = []
    for i in range(int(seconds * rate)):
        code = 500 if error_every and i % error_every == 0 else 200
        out.append(Observation(side=side, at=start + i / rate, seconds=latency * rng.uniform(0.9, 1.1), code=code))
    return out


def test_side_by_side_a_slower_canary_fails_and_an_equal_one_passes() -> None:
    stable = _traffic("stable", 0, 8, 0.010, seed=1)
    slow = judge_step(stable + _traffic("canary", 0, 8, 0.030, seed=2), 0)[1]
    equal = judge_step(stable + _traffic("canary", 0, 8, 0.010, seed=3), 0)[1]
    assert slow is not None and slow.verdict == "fail" and "latency_mean_seconds high" in slow.reason
    assert equal is not None and equal.verdict == "pass"


def test_errors_side_by_side_fail_the_critical_metric() -> None:
    stable = _traffic("stable", 0, 8, 0.010, seed=1)
    verdict = judge_step(stable + _traffic("canary", 0, 8, 0.010, error_every=3, seed=2), 0)[1]
    assert verdict is not None and verdict.verdict == "fail" and verdict.score == 0


def test_a_step_where_stable_served_nothing_is_not_judged_against_its_earlier_windows() -> None:
    """At weight 100 the machine got busier: the canary is slower than stable was, but not than stable is."""
    step = _traffic("canary", 10, 6, 0.040, seed=2)
    metrics, verdict = judge_step(step, 0)
    assert verdict is None
    latency = next(m for m in metrics if m.name == "latency_mean_seconds")
    assert latency.canary is not None and latency.canary > 0.03 and latency.stable is None


def test_the_whole_canary_is_judged_on_the_windows_both_sides_served() -> None:
    both = _traffic("stable", 0, 6, 0.010, seed=1) + _traffic("canary", 0, 6, 0.010, seed=2)
    canary_alone_and_busy = _traffic("canary", 6, 6, 0.050, seed=3)
    observations = both + canary_alone_and_busy
    assert shared_windows(observations, 0) == set(range(6))
    verdict = judge_all(observations, 0)
    assert verdict is not None and verdict.verdict == "pass"


def test_too_few_shared_windows_are_no_verdict() -> None:
    observations = _traffic("stable", 0, 2, 0.010) + _traffic("canary", 0, 2, 0.050)
    assert judge_step(observations, 0)[1] is None and judge_all(observations, 0) is None
