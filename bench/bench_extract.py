"""Extraction throughput on a 500,000-line log holding 50 tracebacks.

The log mixes what a crash-looping service really writes: access lines, ISO and gunicorn
prefixes, JSON records (some holding a traceback in ``exc_info``), docker-compose prefixes.
Prints one table row; exits non-zero when the target is missed or the count is wrong.

    python bench/bench_extract.py [--lines N] [--tracebacks K]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crew.extract import extract_tracebacks  # noqa: E402
from crew.logline import LogLine  # noqa: E402

TARGET = 200_000  # lines per second

FRAMES = [
    (
        "/usr/local/lib/python3.11/site-packages/django/core/handlers/base.py",
        197,
        "_get_response",
        "response = wrapped_callback(request, *callback_args, **callback_kwargs)",
    ),
    ("/app/shop/views.py", 41, "order_detail", "unit = order.total / order.quantity"),
]
TB = [
    "Traceback (most recent call last):",
    *[part for f, n, fn, code in FRAMES for part in (f'  File "{f}", line {n}, in {fn}', f"    {code}")],
    "ZeroDivisionError: division by zero",
]


def noise(rng: random.Random, i: int) -> str:
    kind = rng.randrange(6)
    ts = f"2024-05-01 10:{(i // 6000) % 60:02d}:{(i // 100) % 60:02d},{i % 1000:03d}"
    if kind == 0:
        return f'10.0.{i % 256}.{rng.randrange(256)} - - [01/May/2024:10:00:00 +0000] "GET /items/{i} HTTP/1.1" 200 512'
    if kind == 1:
        return f"{ts} INFO shop.views: rendered order {i} in {rng.randrange(900)} ms"
    if kind == 2:
        return json.dumps({"time": ts, "level": "info", "msg": "request finished", "status": 200, "path": f"/o/{i}"})
    if kind == 3:
        return f"[2024-05-01 10:00:00 +0000] [{7 + i % 4}] [INFO] Handling signal: winch"
    if kind == 4:
        return f'web-1  | INFO:     10.0.0.{i % 256}:5{i % 9999:04d} - "GET /health HTTP/1.1" 200 OK'
    return f"{ts} WARNING shop.cache: miss for key order:{i}, error rate 0.{i % 10}"


def crash(rng: random.Random, k: int) -> list[str]:
    style = k % 4
    if style == 0:
        return ["2024-05-01 10:00:00,000 ERROR django.request Internal Server Error: /orders/42/", *TB]
    if style == 1:
        return [f"web-1  | {line}" for line in TB]
    if style == 2:
        rec = {"time": "2024-05-01T10:00:00Z", "level": "error", "message": "boom", "exc_info": "\n".join(TB)}
        return [json.dumps(rec)]
    return [f"2024-05-01T10:00:00.{k:06d}Z [Thread-{k}] ERROR app: {line}" for line in TB]


def make_log(n_lines: int, n_tb: int, seed: int = 7) -> list[LogLine]:
    rng = random.Random(seed)
    out: list[str] = []
    every = n_lines // n_tb
    k = 0
    while len(out) < n_lines:
        if len(out) % every == every // 2 and k < n_tb:
            out += crash(rng, k)
            k += 1
        else:
            out.append(noise(rng, len(out)))
    assert k == n_tb, k
    return [LogLine(text=t) for t in out]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=500_000)
    ap.add_argument("--tracebacks", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    lines = make_log(args.lines, args.tracebacks)
    best = float("inf")
    found = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        found = extract_tracebacks(lines)
        best = min(best, time.perf_counter() - start)
    rate = len(lines) / best
    ok_count = len(found) == args.tracebacks and all(t.exc_type == "ZeroDivisionError" for t in found)
    ok = ok_count and rate >= TARGET
    print(
        f"| {'benchmark':<18} | {'lines':>9} | {'tracebacks':>10} | {'best of ' + str(args.repeat):>9} "
        f"| {'lines/s':>10} | {'target':>10} | {'ok':<4} |"
    )
    print(f"|{'-' * 20}|{'-' * 11}|{'-' * 12}|{'-' * 11}|{'-' * 12}|{'-' * 12}|{'-' * 6}|")
    print(
        f"| {'extract_tracebacks':<18} | {len(lines):>9,} | {len(found):>4} / {args.tracebacks:<3} | {best:>8.3f}s "
        f"| {rate:>10,.0f} | {TARGET:>10,} | {'yes' if ok else 'NO':<4} |"
    )
    if not ok_count:
        print(f"wrong extraction: expected {args.tracebacks} ZeroDivisionError, got {len(found)}", file=sys.stderr)
        return 1
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
