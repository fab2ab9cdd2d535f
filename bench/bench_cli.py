"""Command-line latency: time to the first byte of output and to exit, for what a newcomer types first.

Each command runs as a subprocess (the console's view); a terminal is a pseudo-terminal, where
the run shows a spinner at once. Medians of a few runs; the machine's load shows in them, so the
table also gives the bare interpreter start for comparison. Target from issue 15: first output
within half a second.
"""

from __future__ import annotations

import os
import pty
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "incidents" / "pricing-zero-division"
RUNS = 5


def _timed(argv: list[str], env: dict[str, str], tty: bool) -> tuple[float, float]:
    """(seconds to the first byte on stdout or stderr, seconds to exit)."""
    start = time.monotonic()
    if tty:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
        os.close(follower)
        fds = [leader]
    else:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        assert proc.stdout is not None and proc.stderr is not None
        fds = [proc.stdout.fileno(), proc.stderr.fileno()]
    first: float | None = None
    with selectors.DefaultSelector() as sel:
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select(timeout=60):
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                if first is None:
                    first = time.monotonic() - start
    proc.wait(120)
    if tty:
        os.close(leader)
    return (first if first is not None else float("nan")), time.monotonic() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        env = {**os.environ, "HEALCREW_CACHE": str(cache), "COLUMNS": "120"}
        sys.path.insert(0, str(ROOT))
        from crew.bundle import load_bundle

        repo = load_bundle(FLAGSHIP, cache).repo
        empty = Path(tmp) / "empty.log"
        empty.write_bytes(b"")
        cli = [sys.executable, "-m", "crew.cli"]
        rows = [
            ("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"], False),
            ("healcrew --version", [*cli, "--version"], False),
            ("healcrew --help", [*cli, "--help"], False),
            ("healcrew run, an empty log (rejected)", [*cli, "run", "--repo", repo, "--log", str(empty)], False),
            ("healcrew diagnose, the flagship",
             [*cli, "diagnose", "--repo", repo, "--log", str(FLAGSHIP / "logs.json")], False),
            ("healcrew replay --diagnose-only, the flagship",
             [*cli, "replay", str(FLAGSHIP), "--diagnose-only", "--out", str(Path(tmp) / "out")], False),
            ("same, in a terminal (spinner first)",
             [*cli, "replay", str(FLAGSHIP), "--diagnose-only", "--out", str(Path(tmp) / "out2")], True),
        ]
        print(f"{'command':<48} {'first output':>13} {'exit':>8}   (median of {RUNS})")
        for name, argv, tty in rows:
            _timed(argv, env, tty)  # warm the file cache
            samples = [_timed(argv, env, tty) for _ in range(RUNS)]
            first = statistics.median(s[0] for s in samples)
            done = statistics.median(s[1] for s in samples)
            print(f"{name:<48} {first * 1000:10.0f} ms {done * 1000:6.0f} ms")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
