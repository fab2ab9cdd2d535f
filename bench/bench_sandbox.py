"""Sandbox benchmark: run overhead, sandbox vs host, throughput, image build times. Prints a table.

    python bench/bench_sandbox.py [--repo DIR] [--skip-cold] [--runs 20]

Not a test. Without --repo it generates a small repo with a few tests. The cold base-image
build uses a throw-away tag (and is removed after), so the cached images others use are never
touched; --skip-cold leaves it out (it takes about 45 s and needs root).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import SandboxConfig, prepare  # noqa: E402
from sandbox.docker_backend import connect  # noqa: E402
from sandbox.images import build_base_with_debootstrap, ensure_base_image, ensure_env_image  # noqa: E402

PYTEST = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def flagship_repo(root: Path) -> Path:
    """The flagship example (a FastAPI service with 12 tests) as a real git repository."""
    from crew.history import materialize

    return materialize(Path(__file__).resolve().parents[1] / "examples" / "pricing-service", root / "repos")


def timed(fn: Callable[[], object]) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def host_suite(repo: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="healcrew-bench-host-") as tmp:
        copy = Path(tmp) / "repo"
        shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git", "__pycache__", ".venv", "venv"))
        start = time.monotonic()
        subprocess.run([sys.executable, *PYTEST[1:]], cwd=copy, capture_output=True, check=False)
        return time.monotonic() - start


def throughput(box: object, workers: int, seconds: float) -> float:
    """Runs per minute of the repo's test suite with ``workers`` threads for about ``seconds``."""
    done = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work() -> None:
        nonlocal done
        while time.monotonic() < stop:
            box.run(PYTEST, timeout=300)  # type: ignore[attr-defined]
            with lock:
                done += 1

    start = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done / (time.monotonic() - start) * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, help="Repo whose test suite to time (default: the flagship example).")
    parser.add_argument("--runs", type=int, default=20, help="No-op runs for the overhead median.")
    parser.add_argument("--skip-cold", action="store_true", help="Skip the cold base-image build (~45 s).")
    parser.add_argument("--throughput-seconds", type=float, default=20.0)
    args = parser.parse_args()

    rows: list[tuple[str, str, str]] = []
    client = connect(600)
    tmp = Path(tempfile.mkdtemp(prefix="healcrew-bench-"))
    cold_tag = f"healcrew/python-base:bench-{uuid.uuid4().hex[:8]}"
    cold_env: str | None = None
    try:
        repo = args.repo.resolve() if args.repo else flagship_repo(tmp)
        cfg = SandboxConfig(backend="docker", timeout=300)

        # Image build times: cached first (what every run pays), then cold on throw-away tags.
        base_cached = ensure_base_image(client, None, cfg.pull_timeout, cfg.cache_dir)
        env_first = ensure_env_image(client, base_cached.tag, repo, cfg.cache_dir)
        t_base_cached = timed(lambda: ensure_base_image(client, None, cfg.pull_timeout, cfg.cache_dir))
        env_cached = ensure_env_image(client, base_cached.tag, repo, cfg.cache_dir)
        t_env_cached = timed(lambda: ensure_env_image(client, base_cached.tag, repo, cfg.cache_dir))
        rows.append(("base image, cached", f"{t_base_cached * 1000:.0f} ms",
                     f"{base_cached.tag}; rebuilt: {'no' if base_cached.cached else 'yes (first use)'}"))
        rows.append(("env image, cached", f"{t_env_cached * 1000:.0f} ms",
                     f"rebuilds: {0 if env_cached.cached else 1} ({env_first.how} on first call)"))
        if not args.skip_cold:
            t_base_cold = timed(lambda: build_base_with_debootstrap(client, cfg.cache_dir, tag=cold_tag))
            rows.append(("base image, cold (debootstrap + import)", f"{t_base_cold:.1f} s", cold_tag))
            fresh_cache = tmp / "cache"
            cold = ensure_env_image(client, cold_tag, repo, fresh_cache)
            cold_env = cold.tag
            rows.append(("env image, cold (host wheelhouse + build)", f"{cold.seconds:.1f} s",
                         "fresh wheelhouse, new base"))

        with prepare(repo, config=cfg) as box:
            noop = []
            for _ in range(args.runs):
                noop.append(timed(lambda: box.run(["true"])))
            rows.append((f"no-op run, create to exit (median of {args.runs})",
                         f"{statistics.median(noop):.3f} s", f"p90 {sorted(noop)[int(0.9 * len(noop)) - 1]:.3f} s; "
                         f"target < 1 s"))

            sandbox_times = [timed(lambda: box.run(PYTEST)) for _ in range(3)]
            host_times = [host_suite(repo) for _ in range(3)]
            s, h = statistics.median(sandbox_times), statistics.median(host_times)
            rows.append(("test suite in sandbox / on host", f"{s / h:.2f}x", f"{s:.2f} s vs {h:.2f} s (median of 3)"))

            one = throughput(box, 1, args.throughput_seconds)
            two = throughput(box, 2, args.throughput_seconds)
            rows.append(("throughput, 1 worker", f"{one:.0f} runs/min", "test suite runs"))
            rows.append(("throughput, 2 workers", f"{two:.0f} runs/min", f"{two / one:.2f}x of one worker"))
    finally:
        for tag in (cold_env, cold_tag):
            if tag:
                with contextlib.suppress(Exception):  # the cold image may not exist if its build failed
                    client.images.remove(tag, force=True)
        client.close()
        shutil.rmtree(tmp, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>14}  notes")
    print(f"{'-' * width}  {'-' * 14}  {'-' * 40}")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")


if __name__ == "__main__":
    main()
