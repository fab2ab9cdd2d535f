"""Run every benchmark of bench/ in turn (``make bench``); each prints its own table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ORDER = ["bench_diagnose.py", "bench_extract.py", "bench_sandbox.py", "bench_repair.py", "holdout.py", "mutation.py"]
ARGS = {"mutation.py": ["--budget", "900"]}  # the mutation benchmark's cap keeps `make bench` well under 30 minutes


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for name in ORDER + sorted(p.name for p in here.glob("bench_*.py") if p.name not in ORDER):
        path = here / name
        if not path.exists():
            continue
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(path), *ARGS.get(name, [])], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
