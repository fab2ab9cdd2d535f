"""Repair benchmark: every corpus incident replayed through reflection, one row each.

Columns: diagnosis correct (against expected.yaml), validated fix found, attempts, sandbox
runs, seconds per stage, whole-command wall time; then why each rejected candidate failed.
Targets: every incident meant to be fixed is fixed; the flagship replay under 20 s wall.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INCIDENTS = ROOT / "examples" / "incidents"
FLAGSHIP = "pricing-zero-division"


def replay(bundle: Path, cache: Path, out: Path) -> tuple[dict, float]:  # type: ignore[type-arg]
    env = {**os.environ, "HEALCREW_CACHE": str(cache)}
    cmd = [sys.executable, "-m", "crew.cli", "replay", str(bundle), "--json", "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    try:
        return json.loads(proc.stdout), wall
    except json.JSONDecodeError:
        return {"outcome": "failed", "error": proc.stderr.strip().splitlines()[-1:]}, wall


def diagnosis_correct(report: dict, expected: dict) -> bool:  # type: ignore[type-arg]
    d = report.get("diagnosis") or {}
    if d.get("root_cause") != expected["root_cause"]:
        return False
    fault = expected.get("fault")
    if not fault:
        return d.get("fault_frame") is None
    frame = d.get("fault_frame") or {}
    return (frame.get("repo_path"), (frame.get("frame") or {}).get("line")) == (fault["path"], fault["line"])


def main() -> int:
    rows, rejected = [], []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(os.environ.get("HEALCREW_CACHE") or Path(tmp) / "cache")
        bundles = sorted(p.parent for p in INCIDENTS.glob("*/expected.yaml"))
        replay(INCIDENTS / FLAGSHIP, cache, Path(tmp) / "warm")  # warm the image and wheel caches
        for bundle in bundles:
            expected = yaml.safe_load((bundle / "expected.yaml").read_text())
            report, wall = replay(bundle, cache, Path(tmp) / bundle.name)
            stage = {t["stage"]: t["seconds"] for t in report.get("timings", [])}
            fixed = report.get("outcome") == "fixed"
            want = bool(expected.get("fixable"))
            good = diagnosis_correct(report, expected)
            ok &= good and fixed == want
            if bundle.name == FLAGSHIP:
                ok &= wall < 20
            rows.append((bundle.name, good, fixed, want, len(report.get("attempts", [])),
                         report.get("sandbox_runs", 0), report.get("candidates_considered", 0),
                         stage.get("monitoring", 0), stage.get("diagnostic", 0), stage.get("repair", 0),
                         stage.get("sandbox", 0), stage.get("reflection", 0), wall))
            for a in report.get("attempts", []):
                if a.get("critique", {}).get("verdict") != "accept":
                    rejected.append((bundle.name, a["number"], a["proposal"]["strategy"], a.get("rejected_because")))
            if report.get("declined"):
                rejected.append((bundle.name, 0, "(declined)", report["declined"]))
    head = ("incident", "diag ok", "fixed", "meant", "attempts", "sandbox runs", "candidates",
            "monitor s", "diagnose s", "repair s", "(sandbox s)", "(reflect s)", "wall s")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        cells = [r[0], *("yes" if v else "no" for v in r[1:4]), *map(str, r[4:7]), *(f"{v:.2f}" for v in r[7:])]
        print("| " + " | ".join(cells) + " |")
    fixed_count = sum(1 for r in rows if r[2])
    meant = sum(1 for r in rows if r[3])
    flagship = next((r[-1] for r in rows if r[0] == FLAGSHIP), float("nan"))
    print(f"\nfixed {fixed_count} of {meant} meant to be fixed; flagship wall {flagship:.1f} s (target < 20 s)")
    if rejected:
        print("\nRejected candidates and declines:")
        for name, number, strategy, why in rejected:
            print(f"- {name} #{number} {strategy}: {why}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
