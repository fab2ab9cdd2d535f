"""What the judge compares: per-window error rate and latency of each side, from the router's observations.

Kayenta judges time series, not single requests: the requests of each side are cut into
windows of ``WINDOW`` seconds, and each window with traffic on a side gives that side one
sample of its error rate (5xx share) and one of its mean latency. Windows keep the
Mann-Whitney test honest: a per-request test on thousands of requests would flag any shift,
however small, between two containers that merely landed on different cores. A step whose
canary (or stable) had fewer than ``MIN_WINDOWS`` windows is not judged on its own; at weight
0 or 100 one side has no traffic, and the judge compares with that side's windows from the
steps before (its last known behaviour).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from crew.canary.judge import judge
from crew.canary.local.router import Observation
from crew.handoffs import JudgeVerdict, MetricSpec, StepMetric

WINDOW = 1.0
MIN_WINDOWS = 3
SPECS = [MetricSpec(name="error_rate", direction="increase", critical=True),
         MetricSpec(name="latency_mean_seconds", direction="increase")]


def windows(observations: list[Observation], side: str, origin: float) -> dict[str, list[float]]:
    """Per-window samples of one side: error_rate and latency_mean_seconds."""
    groups: dict[int, list[Observation]] = defaultdict(list)
    for o in observations:
        if o.side == side:
            groups[int((o.at - origin) // WINDOW)].append(o)
    errors, latency = [], []
    for key in sorted(groups):
        group = groups[key]
        errors.append(sum(1 for o in group if o.code >= 500) / len(group))
        latency.append(float(np.mean([o.seconds for o in group])))
    return {"error_rate": errors, "latency_mean_seconds": latency}


def summary(observations: list[Observation], side: str) -> dict[str, float | None]:
    """The step's figure per metric for one side (all its requests together)."""
    mine = [o for o in observations if o.side == side]
    if not mine:
        return {"error_rate": None, "latency_mean_seconds": None, "latency_p90_seconds": None}
    seconds = [o.seconds for o in mine]
    return {"error_rate": sum(1 for o in mine if o.code >= 500) / len(mine),
            "latency_mean_seconds": float(np.mean(seconds)),
            "latency_p90_seconds": float(np.percentile(seconds, 90))}


def judge_step(step_obs: list[Observation], history: list[Observation], origin: float
               ) -> tuple[list[StepMetric], JudgeVerdict | None]:
    """The step's metrics and, when both sides have enough windows, the judge's verdict."""
    canary = windows(step_obs, "canary", origin)
    stable = windows(step_obs, "stable", origin)
    if not stable["error_rate"]:
        stable = windows(history, "stable", origin)  # all traffic on the canary: stable as it last was
    if not canary["error_rate"]:
        canary = windows(history, "canary", origin)
    c_sum, s_sum = summary(step_obs, "canary"), summary(step_obs, "stable")
    metrics = [StepMetric(name=name, canary=_finite(c_sum[name]), stable=_finite(s_sum[name]),
                          canary_samples=canary.get(name, []), stable_samples=stable.get(name, []))
               for name in ("error_rate", "latency_mean_seconds")]
    metrics.append(StepMetric(name="latency_p90_seconds", canary=_finite(c_sum["latency_p90_seconds"]),
                              stable=_finite(s_sum["latency_p90_seconds"])))
    if min(len(canary["error_rate"]), len(stable["error_rate"])) < MIN_WINDOWS:
        return metrics, None
    samples = {name: (canary[name], stable[name]) for name in canary}
    return metrics, judge(samples, SPECS)


def judge_all(observations: list[Observation], origin: float) -> JudgeVerdict | None:
    """The judge over the whole canary, every window of each side."""
    canary, stable = windows(observations, "canary", origin), windows(observations, "stable", origin)
    if min(len(canary["error_rate"]), len(stable["error_rate"])) < MIN_WINDOWS:
        return None
    return judge({name: (canary[name], stable[name]) for name in canary}, SPECS)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
