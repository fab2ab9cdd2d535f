"""Canary judge benchmark: false positives on identical distributions, detection of real regressions.

    python bench/bench_judge.py [--trials 500] [--seed 1]

Not a test. Each trial draws a fresh stable and canary sample the way the local canary measures
them (per-request latencies; per-interval error rates of a few hundred requests each) and asks the
judge (Kayenta's defaults: tolerance 0.25, confidence 0.98) whether the canary fails. Prints a
table: the false-positive rate when both come from one distribution, and the detection rate at 2x
latency, at 1.25x latency, and at +5 and +1 points of errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crew.canary.judge import MetricSpec, judge  # noqa: E402

REQUESTS = 200  # per side and step: latencies
INTERVALS = 30  # per side and step: error-rate samples
PER_INTERVAL = 50  # requests behind each error-rate sample


def _latency(rng: np.random.Generator, factor: float) -> list[float]:
    return (rng.lognormal(np.log(0.02), 0.5, REQUESTS) * factor).tolist()  # seconds, median 20 ms


def _errors(rng: np.random.Generator, rate: float) -> list[float]:
    return (rng.binomial(PER_INTERVAL, rate, INTERVALS) / PER_INTERVAL).tolist()


CASES = [
    ("identical (false positives)", 1.0, 0.01),
    ("latency x2", 2.0, 0.01),
    ("latency x1.25", 1.25, 0.01),
    ("errors +5 points (1% -> 6%)", 1.0, 0.06),
    ("errors +1 point (1% -> 2%)", 1.0, 0.02),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    specs = [MetricSpec(name="latency", direction="increase"), MetricSpec(name="errors", direction="increase")]
    print(f"{args.trials} seeded trials per row; {REQUESTS} latencies and {INTERVALS} error-rate intervals "
          f"of {PER_INTERVAL} requests per side; tolerance 0.25, confidence 0.98")
    print("| case | canary fails (verdict not pass) | latency high | errors high | ms per judgement |")
    print("|---|---:|---:|---:|---:|")
    rows = {}
    for name, factor, error_rate in CASES:
        rng = np.random.default_rng(args.seed)
        fails = lat = err = 0
        started = time.perf_counter()
        for _ in range(args.trials):
            samples = {"latency": (_latency(rng, factor), _latency(rng, 1.0)),
                       "errors": (_errors(rng, error_rate), _errors(rng, 0.01))}
            verdict = judge(samples, specs)
            fails += verdict.verdict != "pass"
            lat += verdict.metrics[0].classification == "high"
            err += verdict.metrics[1].classification == "high"
        ms = (time.perf_counter() - started) * 1000 / args.trials
        rows[name] = fails / args.trials
        print(f"| {name} | {fails / args.trials:.1%} | {lat / args.trials:.1%} | {err / args.trials:.1%} "
              f"| {ms:.2f} |")
    ok = rows[CASES[0][0]] <= 0.05 and rows[CASES[1][0]] >= 0.95 and rows[CASES[3][0]] >= 0.95
    print("false positives <= 5%, detection >= 95% at 2x latency and at +5 points of errors: "
          + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
