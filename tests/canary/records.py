"""CanaryResult records as the local canary writes them, for the surfaces' tests (report, PR, CLI)."""

from __future__ import annotations

from crew.handoffs import AnalysisMeasurement, CanaryResult, CanaryStep, JudgeVerdict, MetricVerdict, StepMetric

STABLE, CANDIDATE = "755d4d7d14f8272059b2183deb61df1f37d217ef", "9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"
KINDS = ["setWeight", "pause", "analysis", "setWeight", "pause", "analysis", "setWeight"]
WEIGHTS = [20, 20, 20, 50, 50, 50, 100]


def _judge(score: float, latency: str = "pass", errors: str = "pass") -> JudgeVerdict:
    verdict = "pass" if score >= 75 else ("marginal" if score >= 50 else "fail")
    return JudgeVerdict(score=score, verdict=verdict, reason=f"score {score:.0f}", metrics=[  # type: ignore[arg-type]
        MetricVerdict(name="error_rate", classification=errors, failed=errors == "high", critical=True),  # type: ignore[arg-type]
        MetricVerdict(name="latency_p90_seconds", classification=latency, failed=latency == "high"),  # type: ignore[arg-type]
    ])


def _step(i: int, error: float, latency: float, outcome: str = "passed", judge: JudgeVerdict | None = None,
          phase: str = "Successful") -> CanaryStep:
    measured = (("success-rate", 1 - error), ("latency-p90", latency * 1000)) if KINDS[i] == "analysis" else ()
    analysis = [AnalysisMeasurement(metric=m, seconds=10.0 * i, value=[v], phase=phase)  # type: ignore[arg-type]
                for m, v in measured]
    return CanaryStep(
        index=i, kind=KINDS[i], weight=WEIGHTS[i], started=10.0 * i, seconds=10.0,  # type: ignore[arg-type]
        requests={"canary": 40 + i, "stable": 160 - i},
        metrics=[StepMetric(name="error_rate", canary=error, stable=0.0, canary_samples=[error] * 5,
                            stable_samples=[0.0] * 5),
                 StepMetric(name="latency_p90_seconds", canary=latency, stable=0.021)],
        analysis=analysis, judge=judge or _judge(100.0), outcome=outcome)  # type: ignore[arg-type]


def promoted() -> CanaryResult:
    steps = [_step(i, 0.0, 0.020 + i / 1000) for i in range(7)]
    return CanaryResult(backend="local", decision="promoted", reason="every step passed", stable=STABLE,
                        candidate=CANDIDATE, time_scale=0.1, steps=steps, judge=_judge(100.0), seconds=41.5)


def aborted() -> CanaryResult:
    steps = [_step(0, 0.08, 0.06), _step(1, 0.10, 0.064),
             _step(2, 0.11, 0.066, "failed", _judge(0.0, latency="high", errors="high"), phase="Failed")]
    return CanaryResult(backend="local", decision="aborted",
                        reason="analysis success-rate Failed at step 3; judge: error_rate high", stable=STABLE,
                        candidate=CANDIDATE, time_scale=0.1, steps=steps, judge=_judge(0.0, "high", "high"),
                        seconds=22.0)
