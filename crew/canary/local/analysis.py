"""An Argo AnalysisRun, run locally: arguments, measurements on schedule, and Argo's accounting.

Arguments come from the template's defaults and the step's ``args`` (``value``, or
``valueFrom.podTemplateHashValue`` Latest/Stable, or ``fieldRef`` to the Rollout's name and
namespace) and replace ``{{args.NAME}}`` in the query. Each metric takes ``count``
measurements, the first after ``initialDelay``, then every ``interval`` (all scaled); a query
that fails or a condition that cannot be evaluated makes the measurement Error. A metric is
Failed when its failures exceed ``failureLimit``, Inconclusive when inconclusive ones exceed
``inconclusiveLimit``, Error when consecutive errors exceed ``consecutiveErrorLimit`` - and,
unlike a metric Argo lets end quietly, Error when every measurement errored: an analysis that
measured nothing is not a success. The run stops at the first metric that cannot pass.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from crew.canary.conditions import ConditionError, evaluate
from crew.canary.local.prometheus import QueryError
from crew.canary.local.scaling import scale_ranges
from crew.canary.local.spec import Metric, TemplateSpec
from crew.errors import BadInputError
from crew.handoffs import AnalysisMeasurement

Phase = Literal["Successful", "Failed", "Error", "Inconclusive"]
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


def resolve_args(template: TemplateSpec, step_args: tuple[dict[str, Any], ...], *, rollout: str, namespace: str,
                 hashes: dict[str, str]) -> dict[str, str]:
    """Every argument of ``template`` with its value; a one-line error naming one that has none."""
    values: dict[str, str | None] = dict(template.args)
    for arg in step_args:
        name = str(arg.get("name") or "")
        if "value" in arg:
            values[name] = str(arg["value"])
            continue
        source = arg.get("valueFrom") or {}
        if "podTemplateHashValue" in source:
            which = str(source["podTemplateHashValue"])
            if which not in ("Latest", "Stable"):
                raise BadInputError(f"analysis arg {name}: podTemplateHashValue must be Latest or Stable")
            values[name] = hashes["canary" if which == "Latest" else "stable"]
        elif "fieldRef" in source:
            path = str((source["fieldRef"] or {}).get("fieldPath") or "")
            known = {"metadata.name": rollout, "metadata.namespace": namespace}
            if path not in known:
                raise BadInputError(f"analysis arg {name}: fieldRef {path!r} is not known to the local canary")
            values[name] = known[path]
        else:
            raise BadInputError(f"analysis arg {name}: needs value or valueFrom")
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise BadInputError(f"AnalysisTemplate {template.name}: argument {missing[0]} has no value")
    return {k: v for k, v in values.items() if v is not None}


def substitute(text: str, args: dict[str, str]) -> str:
    """``text`` with ``{{args.NAME}}`` replaced; a one-line error for a name that is not an argument."""
    def one(match: re.Match[str]) -> str:
        if match.group(1) not in args:
            raise BadInputError(f"{{{{args.{match.group(1)}}}}} is used but is not an argument of the template")
        return args[match.group(1)]

    return _ARG.sub(one, text)


def measurement_phase(metric: Metric, result: list[float] | float) -> tuple[Phase, str]:
    """The phase Argo gives one measurement, from its conditions (``ConditionError`` -> Error)."""
    try:
        failed = evaluate(metric.failure, result) if metric.failure else None
        succeeded = evaluate(metric.success, result) if metric.success else None
    except ConditionError as exc:
        return "Error", str(exc)
    if failed:
        return "Failed", f"failureCondition {metric.failure.strip()} holds"  # type: ignore[union-attr]
    if succeeded is None:
        return "Successful", ""
    if succeeded:
        return "Successful", ""
    if metric.failure:
        return "Inconclusive", "neither condition holds"
    return "Failed", f"successCondition {metric.success.strip()} does not hold"  # type: ignore[union-attr]


@dataclass
class MetricRun:
    """The measurements of one metric so far and its phase under Argo's limits."""

    metric: Metric
    measurements: list[AnalysisMeasurement] = field(default_factory=list)

    def count(self, phase: Phase) -> int:
        return sum(1 for m in self.measurements if m.phase == phase)

    def consecutive_errors(self) -> int:
        run = 0
        for m in reversed(self.measurements):
            if m.phase != "Error":
                break
            run += 1
        return run

    def phase(self) -> Phase | None:
        """Failed/Error/Inconclusive as soon as a limit is passed; at the end Successful, or Error when
        every measurement errored; None while it is still running."""
        m = self.metric
        if m.failure_limit >= 0 and self.count("Failed") > m.failure_limit:
            return "Failed"
        if self.consecutive_errors() > m.consecutive_error_limit:
            return "Error"
        if m.inconclusive_limit >= 0 and self.count("Inconclusive") > m.inconclusive_limit:
            return "Inconclusive"
        if len(self.measurements) < m.count:
            return None
        if self.measurements and self.count("Error") == len(self.measurements):
            return "Error"
        return "Successful"


@dataclass
class AnalysisOutcome:
    """How an analysis step ended."""

    phase: Phase
    message: str
    measurements: list[AnalysisMeasurement]


def run_analysis(metrics: list[tuple[str, Metric, str]], query: Callable[[str], list[float] | float], *,
                 time_scale: float, min_range: float, clock: Callable[[], float],
                 sleep: Callable[[float], bool]) -> AnalysisOutcome:
    """Measure ``metrics`` ((template, metric, query with args substituted)) until each ends.

    ``clock`` gives the seconds since the canary started; ``sleep(s)`` waits and returns False
    when the run must stop (deadline, Ctrl-C), which ends the analysis as Error.
    """
    runs = [MetricRun(m) for _t, m, _q in metrics]
    queries = [scale_ranges(q, time_scale, min_range) for _t, _m, q in metrics]
    start = time.monotonic()
    due = [m.initial_delay * time_scale for _t, m, _q in metrics]
    every = [(m.interval or 0.0) * time_scale for _t, m, _q in metrics]
    all_measurements: list[AnalysisMeasurement] = []
    while True:
        open_ = [i for i, r in enumerate(runs) if r.phase() is None]
        if not open_:
            break
        i = min(open_, key=lambda k: due[k])
        wait = start + due[i] - time.monotonic()
        if wait > 0 and not sleep(wait):
            return AnalysisOutcome("Error", "the canary was stopped during the analysis", all_measurements)
        metric = runs[i].metric
        try:
            result = query(queries[i])
            phase, message = measurement_phase(metric, result)
        except QueryError as exc:
            result, phase, message = [], "Error", str(exc)
        values = result if isinstance(result, list) else [result]
        record = AnalysisMeasurement(metric=metric.name, seconds=round(clock(), 3), value=values, phase=phase,
                                     message=message)
        runs[i].measurements.append(record)
        all_measurements.append(record)
        due[i] += every[i]
        ended = runs[i].phase()
        if ended in ("Failed", "Error", "Inconclusive"):
            return AnalysisOutcome(ended, _why(metric.name, ended, runs[i]), all_measurements)
    return AnalysisOutcome("Successful", "", all_measurements)


def _why(name: str, phase: Phase, run: MetricRun) -> str:
    last = run.measurements[-1]
    shown = ", ".join("NaN" if math.isnan(v) else f"{v:.4g}" for v in last.value) or "no data"
    counts = {p: run.count(p) for p in ("Failed", "Error", "Inconclusive")}
    detail = f"{counts['Failed']} failed, {counts['Inconclusive']} inconclusive, {counts['Error']} errored"
    return f"analysis metric {name} {phase.lower()} ({detail}; last value {shown}: {last.message or 'ok'})"
