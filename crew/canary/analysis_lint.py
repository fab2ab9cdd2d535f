"""Pitfalls of an AnalysisTemplate's metrics, found by running each condition on the results that bite.

Argo's users hit the same few: a condition that indexes ``result[0]`` errors on an empty result
(no traffic yet, so no series); a NaN (``0/0`` of a rate with no requests) or ``+Inf`` (a latency
quantile of an empty histogram) that passes a success condition, or does not trip a failure
condition, lets a broken canary through; and a metric whose ``consecutiveErrorLimit`` is not
below its ``count`` can end without failing when every measurement errored. Each condition is
evaluated on ``[]``, ``[NaN]`` and ``[+Inf]`` (``crew.canary.conditions``), so the check is about
what the condition does, not how it is spelled.
"""

from __future__ import annotations

import math
from typing import Any

from crew.canary.conditions import ConditionError, evaluate

ARGO_DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
_PROBES = {"an empty result": [], "NaN": [math.nan], "+Inf": [math.inf]}


def _holds(condition: str, result: list[float]) -> bool | None:
    """The condition's value on ``result``; None when evaluating it errors."""
    try:
        return evaluate(condition, result)
    except ConditionError:
        return None


def lint_metric(metric: dict[str, Any]) -> list[str]:
    """One line per pitfall of one ``spec.metrics[]`` entry."""
    name = metric.get("name", "?")
    success, failure = metric.get("successCondition"), metric.get("failureCondition")
    found: list[str] = []
    for label, probe in _PROBES.items():
        ok = _holds(success, probe) if success else None
        bad = _holds(failure, probe) if failure else None
        if label == "an empty result":
            for kind, cond in (("successCondition", success), ("failureCondition", failure)):
                if cond and _holds(cond, probe) is None:
                    found.append(f"{name}: {kind} errors on an empty result (no series yet); "
                                 "guard it with len(result) == 0 || ...")
            continue
        if success and ok:
            found.append(f"{name}: {label} passes the successCondition; add !isNaN(result[0]) / !isInf(result[0])")
        if failure and not success and bad is False:
            found.append(f"{name}: {label} does not trip the failureCondition, so it counts as success")
    count = metric.get("count")
    limit = metric.get("consecutiveErrorLimit", ARGO_DEFAULT_CONSECUTIVE_ERROR_LIMIT)
    if isinstance(count, int) and isinstance(limit, int) and limit >= count:
        found.append(f"{name}: consecutiveErrorLimit {limit} is not below count {count}, so a run whose every "
                     "measurement errored can end without failing")
    return found


def lint_analysis_template(template: dict[str, Any]) -> list[str]:
    """Every pitfall of an AnalysisTemplate (or ClusterAnalysisTemplate) document."""
    metrics = (template.get("spec") or {}).get("metrics") or []
    return [line for metric in metrics if isinstance(metric, dict) for line in lint_metric(metric)]
