"""Diagnosis speed: the flagship bundle in-process and as a whole command, and frame mapping
on a generated repo of 20,000 tracked files. Prints a table; targets from the issue."""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crew.agents.diagnostic import diagnose  # noqa: E402
from crew.agents.monitoring import monitor  # noqa: E402
from crew.bundle import load_bundle  # noqa: E402
from crew.handoffs import Frame  # noqa: E402
from crew.mapping import RepoIndex, map_frames  # noqa: E402
from crew.repo import GitRepo  # noqa: E402

FLAGSHIP = ROOT / "examples" / "incidents" / "pricing-zero-division"


def _median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_flagship(cache: Path) -> tuple[float, float, float]:
    incident = load_bundle(FLAGSHIP, cache)

    def once() -> None:
        diagnose(monitor(incident), GitRepo(incident.repo, incident.commit))

    once()
    in_process = _median_ms(once, 15)
    env = {**os.environ, "HEALCREW_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "crew.cli", "replay", str(FLAGSHIP), "--diagnose-only", "--json",
           "--out", str(cache / "out")]
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    whole = _median_ms(lambda: subprocess.run(cmd, env=env, capture_output=True, check=True), 3)
    fast = [sys.executable, "-m", "crew.cli", "diagnose", "--log", str(FLAGSHIP / "logs.json"),
            "--repo", incident.repo, "--commit", incident.commit, "--json"]
    diagnose_cmd = _median_ms(lambda: subprocess.run(fast, env=env, capture_output=True, check=True), 5)
    return in_process, whole, diagnose_cmd


def bench_mapping() -> float:
    rng = random.Random(7)
    words = ["api", "core", "utils", "models", "views", "billing", "orders", "users", "jobs", "db"]
    files = [f"{'/'.join(rng.choices(words, k=rng.randint(1, 4)))}/m{i}.py" for i in range(20_000)]
    frames = [Frame(file=f"/app/{files[rng.randrange(len(files))]}", line=1, function="f") for _ in range(30)]
    frames += [Frame(file="/usr/local/lib/python3.11/site-packages/x/y.py", line=1, function="g")] * 10

    def once() -> None:
        mapped = map_frames(frames, RepoIndex(files))
        assert sum(1 for m in mapped if m.repo_path) == 30

    return _median_ms(once, 15)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        in_process, whole, diagnose_cmd = bench_flagship(Path(tmp))
    mapping = bench_mapping()
    rows = [
        ("diagnose flagship, in-process (median of 15)", f"{in_process:.1f} ms", "< 300 ms", in_process < 300),
        ("healcrew diagnose, whole command (median of 5)", f"{diagnose_cmd:.0f} ms", "reported", True),
        ("replay --diagnose-only via CrewAI Flow, whole command (median of 3)", f"{whole:.0f} ms", "reported", True),
        ("map 40 frames on 20,000 tracked files (median of 15)", f"{mapping:.1f} ms", "< 100 ms", mapping < 100),
    ]
    print(f"| {'benchmark':<66} | {'result':>10} | {'target':>9} | ok |")
    print(f"|{'-' * 68}|{'-' * 12}|{'-' * 11}|----|")
    for name, value, target, ok in rows:
        print(f"| {name:<66} | {value:>10} | {target:>9} | {'yes' if ok else 'NO'} |")
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
