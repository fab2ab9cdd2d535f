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


def _groups(observations: list[Observation], side: str, origin: float) -> dict[int, list[Observation]]:
    groups: dict[int, list[Observation]] = defaultdict(list)
    for o in observations:
        if o.side == side:
            groups[int((o.at - origin) // WINDOW)].append(o)
    return groups


def _samples(groups: dict[int, list[Observation]], keep: set[int]) -> dict[str, list[float]]:
    """One side's per-window error_rate and latency_mean_seconds, over the windows in ``keep``."""
    chosen = [groups[key] for key in sorted(keep)]
    return {"error_rate": [sum(1 for o in g if o.code >= 500) / len(g) for g in chosen],
            "latency_mean_seconds": [float(np.mean([o.seconds for o in g])) for g in chosen]}


def shared_windows(observations: list[Observation], origin: float) -> set[int]:
    """The windows in which both sides served at least one request."""
    return set(_groups(observations, "canary", origin)) & set(_groups(observations, "stable", origin))


def paired_windows(observations: list[Observation], origin: float
                   ) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    """(canary samples, stable samples, how many windows) over the windows both sides served."""
    canary, stable = _groups(observations, "canary", origin), _groups(observations, "stable", origin)
    shared = set(canary) & set(stable)
    return _samples(canary, shared), _samples(stable, shared), len(shared)


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
    canary, stable, shared = paired_windows(step_obs, origin)
    c_sum, s_sum = summary(step_obs, "canary"), summary(step_obs, "stable")
    metrics = [StepMetric(name=name, canary=_finite(c_sum[name]), stable=_finite(s_sum[name]),
                          canary_samples=canary[name], stable_samples=stable[name])
               for name in ("error_rate", "latency_mean_seconds")]
    metrics.append(StepMetric(name="latency_p90_seconds", canary=_finite(c_sum["latency_p90_seconds"]),
                              stable=_finite(s_sum["latency_p90_seconds"])))
    if shared < MIN_WINDOWS:
        return metrics, None
    return metrics, judge({name: (canary[name], stable[name]) for name in canary}, SPECS)


def judge_all(observations: list[Observation], origin: float) -> JudgeVerdict | None:
    """The judge over the whole canary: every window in which both sides served."""
    canary, stable, shared = paired_windows(observations, origin)
    if shared < MIN_WINDOWS:
        return None
    return judge({name: (canary[name], stable[name]) for name in canary}, SPECS)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
