"""A Kayenta-style canary judge: each metric of canary against stable by a Mann-Whitney test.

Per metric: no data on either side is ``nodata``; identical samples ``pass``; otherwise the
Hodges-Lehmann shift (canary minus stable) and its distribution-free confidence interval are
computed, and the metric is ``high`` when the whole interval lies above ``tolerance`` times the
shift's size, ``low`` when it lies below minus that, else ``pass`` (Kayenta's
MannWhitneyClassifier; defaults tolerance 0.25, confidence 0.98). A metric only fails in the
direction it is watched for (``increase`` for errors and latency). The score is
``pass / (pass + high + low + nodata) * 100``; a failing critical metric forces 0; the verdict
is pass at or above the pass threshold, marginal at or above the marginal one, else fail.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

import numpy as np

from crew.handoffs import Classification, JudgeVerdict, MetricSpec, MetricVerdict

MAX_SAMPLE = 1000
"""Values per side the test uses (evenly thinned beyond): the pairwise differences grow as m * n."""


def _clean(values: list[float]) -> np.ndarray:
    """Finite values only (NaN and infinities are no data), thinned evenly to ``MAX_SAMPLE``."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size > MAX_SAMPLE:
        arr = np.sort(arr)[np.linspace(0, arr.size - 1, MAX_SAMPLE).round().astype(int)]
    return arr


def shift_interval(canary: np.ndarray, stable: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """(estimate, lower, upper, two-sided p) of the location shift canary - stable.

    The estimate is the median of all pairwise differences (Hodges-Lehmann); the interval takes
    the k-th smallest and largest differences, k from the normal approximation of the U statistic's
    distribution; the p-value is the rank-sum test's normal approximation with tie and continuity corrections
    (R's ``wilcox.test``, which Kayenta's judge ports).
    """
    m, n = canary.size, stable.size
    diffs = np.sort(np.subtract.outer(canary, stable).ravel())
    estimate = float(np.median(diffs))
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    k = int(math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12)))
    k = min(max(k, 0), diffs.size - 1)
    lower, upper = float(diffs[k]), float(diffs[diffs.size - 1 - k])
    both = np.concatenate([canary, stable])
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    cumulative = np.cumsum(counts)
    ranks = (cumulative - (counts - 1) / 2.0)[inverse]  # average ranks for ties
    u = float(ranks[:m].sum() - m * (m + 1) / 2)
    tie = float((counts ** 3 - counts).sum()) / ((m + n) * (m + n - 1)) if m + n > 1 else 0.0
    sigma = math.sqrt(m * n / 12 * ((m + n + 1) - tie))
    p = 1.0 if sigma == 0 else 2 * (1 - NormalDist().cdf(max(0.0, abs(u - m * n / 2) - 0.5) / sigma))
    return estimate, lower, upper, min(1.0, p)


def classify(spec: MetricSpec, canary: list[float], stable: list[float], *, tolerance: float = 0.25,
             confidence: float = 0.98) -> MetricVerdict:
    """One metric's classification (see the module docstring)."""
    c, s = _clean(canary), _clean(stable)
    nodata = MetricVerdict(name=spec.name, classification="nodata", failed=False, critical=spec.critical,
                           canary_count=int(c.size), stable_count=int(s.size))
    if c.size == 0 or s.size == 0:
        return nodata
    ratio = float(c.mean() / s.mean()) if s.mean() != 0 else None
    if c.size == s.size and np.array_equal(np.sort(c), np.sort(s)):
        return nodata.model_copy(update={"classification": "pass", "estimate": 0.0, "ratio": ratio})
    estimate, lower, upper, p = shift_interval(c, s, confidence)
    bound = tolerance * abs(estimate)
    label: Classification = "pass"
    if lower > bound:
        label = "high"
    elif upper < -bound:
        label = "low"
    watched = {"high": ("increase", "either"), "low": ("decrease", "either")}.get(label, ())
    if spec.direction not in watched:
        label = "pass"  # unchanged, or changed the good way (Kayenta's directional classifier)
    return nodata.model_copy(update={"classification": label, "failed": label != "pass", "estimate": estimate,
                                     "lower": lower, "upper": upper, "p_value": p, "ratio": ratio})


def judge(samples: dict[str, tuple[list[float], list[float]]], specs: list[MetricSpec], *,
          tolerance: float = 0.25, confidence: float = 0.98, pass_threshold: float = 95.0,
          marginal_threshold: float = 75.0) -> JudgeVerdict:
    """Score ``samples`` (metric name -> (canary values, stable values)) against ``specs``."""
    verdicts = [classify(spec, *samples.get(spec.name, ([], [])), tolerance=tolerance, confidence=confidence)
                for spec in specs]
    passed = sum(1 for v in verdicts if v.classification == "pass")
    score = 100.0 * passed / len(verdicts) if verdicts else 0.0
    critical = [v.name for v in verdicts if v.critical and v.failed]
    if critical:
        score = 0.0
    verdict: Literal["pass", "marginal", "fail"] = (
        "pass" if score >= pass_threshold else "marginal" if score >= marginal_threshold else "fail")
    failed = [f"{v.name} {v.classification}" for v in verdicts if v.failed]
    nodata = [v.name for v in verdicts if v.classification == "nodata"]
    parts = []
    if critical:
        parts.append(f"critical metric failed: {', '.join(critical)}")
    elif failed:
        parts.append(f"failed: {', '.join(failed)}")
    if nodata:
        parts.append(f"no data: {', '.join(nodata)}")
    reason = f"score {score:.0f} ({verdict})" + (f"; {'; '.join(parts)}" if parts else "")
    return JudgeVerdict(score=score, verdict=verdict, metrics=verdicts, reason=reason)
