"""What the judge compares: per-window error rate and latency of each side, from the router's observations.

Kayenta judges time series, not single requests: the requests of each side are cut into
windows of ``WINDOW`` seconds, and each window with traffic on a side gives that side one
sample of its error rate (5xx share) and one of its mean latency. Windows keep the
Mann-Whitney test honest: a per-request test on thousands of requests would flag any shift,
however small, between two containers that merely landed on different cores. Only windows in
which *both* sides served traffic are compared, as Kayenta compares canary and baseline over the
same interval: the machine's load moves both alike then, and a step judged against the other
side's earlier windows (at weight 100 stable serves nothing) judged the machine, not the build;
under a busy CI a good fix was aborted that way. A step with fewer than ``MIN_WINDOWS`` shared
windows is not judged (its metrics are still recorded); the AnalysisTemplate's own conditions
still decide its analysis steps.
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


def windows(observations: list[Observation], side: str, origin: float,
            keep: set[int] | None = None) -> dict[str, list[float]]:
    """Per-window samples of one side: error_rate and latency_mean_seconds (only windows in ``keep``)."""
    groups = _groups(observations, side, origin)
    errors, latency = [], []
    for key in sorted(groups):
        if keep is not None and key not in keep:
            continue
        group = groups[key]
        errors.append(sum(1 for o in group if o.code >= 500) / len(group))
        latency.append(float(np.mean([o.seconds for o in group])))
    return {"error_rate": errors, "latency_mean_seconds": latency}


def _groups(observations: list[Observation], side: str, origin: float) -> dict[int, list[Observation]]:
    groups: dict[int, list[Observation]] = defaultdict(list)
    for o in observations:
        if o.side == side:
            groups[int((o.at - origin) // WINDOW)].append(o)
    return groups


def shared_windows(observations: list[Observation], origin: float) -> set[int]:
    """The windows in which both sides served at least one request."""
    return set(_groups(observations, "canary", origin)) & set(_groups(observations, "stable", origin))


def summary(observations: list[Observation], side: str) -> dict[str, float | None]:
    """The step's figure per metric for one side (all its requests together)."""
    mine = [o for o in observations if o.side == side]
    if not mine:
        return {"error_rate": None, "latency_mean_seconds": None, "latency_p90_seconds": None}
    seconds = [o.seconds for o in mine]
    return {"error_rate": sum(1 for o in mine if o.code >= 500) / len(mine),
            "latency_mean_seconds": float(np.mean(seconds)),
            "latency_p90_seconds": float(np.percentile(seconds, 90))}


def judge_step(step_obs: list[Observation], origin: float) -> tuple[list[StepMetric], JudgeVerdict | None]:
    """The step's metrics and, when both sides served in enough of the same windows, the judge's verdict."""
    shared = shared_windows(step_obs, origin)
    canary, stable = windows(step_obs, "canary", origin, shared), windows(step_obs, "stable", origin, shared)
    c_sum, s_sum = summary(step_obs, "canary"), summary(step_obs, "stable")
    metrics = [StepMetric(name=name, canary=_finite(c_sum[name]), stable=_finite(s_sum[name]),
                          canary_samples=canary[name], stable_samples=stable[name])
               for name in ("error_rate", "latency_mean_seconds")]
    metrics.append(StepMetric(name="latency_p90_seconds", canary=_finite(c_sum["latency_p90_seconds"]),
                              stable=_finite(s_sum["latency_p90_seconds"])))
    if len(shared) < MIN_WINDOWS:
        return metrics, None
    return metrics, judge({name: (canary[name], stable[name]) for name in canary}, SPECS)


def judge_all(observations: list[Observation], origin: float) -> JudgeVerdict | None:
    """The judge over the whole canary: every window in which both sides served."""
    shared = shared_windows(observations, origin)
    if len(shared) < MIN_WINDOWS:
        return None
    canary, stable = windows(observations, "canary", origin, shared), windows(observations, "stable", origin, shared)
    return judge({name: (canary[name], stable[name]) for name in canary}, SPECS)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
