"""Local canary benchmark: the wall time of the flagship's canary, its fix against the deployed commit.

    python bench/bench_canary.py [--time-scale F] [--runs 1]

Not a test. The flagship example is materialized from its recorded history, the fix healcrew
delivered for it (the accepted diff of the saved flagship run) is committed on the deployed
commit in a clone, and ``run_local_canary`` runs the Rollout's steps on this machine. Prints a
table: decision, steps passed, judge score and wall time per run. When this build has no local
canary (``crew.canary.local``), it says "not measured". The judge's own false-positive and
detection rates are measured by ``bench_judge.py``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crew.handoffs import RunReport  # noqa: E402

DEPLOYED = "755d4d7d14f8272059b2183deb61df1f37d217ef"
SAVED_RUN = ROOT / "tests" / "delivery" / "fixtures" / "flagship_report.json"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


def _flagship_with_fix(tmp: Path) -> tuple[Path, str]:
    from crew.delivery.gitops import fix_patch
    from crew.history import materialize

    repo = materialize(ROOT / "examples" / "pricing-service", tmp / "materialized")
    work = tmp / "pricing-service"
    _git(tmp, "clone", "-q", str(repo), str(work))
    _git(work, "checkout", "-q", "-b", "fix", DEPLOYED)
    (tmp / "fix.patch").write_text(fix_patch(RunReport.model_validate_json(SAVED_RUN.read_text(encoding="utf-8"))))
    _git(work, "apply", "--index", str(tmp / "fix.patch"))
    _git(work, "commit", "-qm", "the flagship fix")
    return work, _git(work, "rev-parse", "HEAD")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=None, help="default: the local canary's own")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    try:
        from crew.canary.local import run_local_canary  # type: ignore[attr-defined]
    except ImportError:
        print("flagship local canary wall time: not measured (this build has no crew.canary.local)")
        return 0
    print("| run | decision | steps passed | judge score | wall time (s) |")
    print("|---:|---|---:|---:|---:|")
    ok = True
    with tempfile.TemporaryDirectory(prefix="healcrew-bench-canary-") as tmp:
        service, fix = _flagship_with_fix(Path(tmp))
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            result = run_local_canary(service, DEPLOYED, fix, time_scale=args.time_scale)
            wall = time.perf_counter() - started
            passed = sum(1 for s in result.steps if s.outcome == "passed")
            score = f"{result.judge.score:.0f}" if result.judge is not None else "–"
            print(f"| {run} | {result.decision} | {passed}/{len(result.steps)} | {score} | {wall:.1f} |")
            ok = ok and result.decision == "promoted"
    print("the flagship fix promotes: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
