"""Service intake benchmark: an alert storm against a real ``healcrew serve``. Prints a table.

    python bench/bench_intake.py [--alerts 1000] [--rate 250]

Not a test. It starts ``healcrew serve`` on a loopback port with the flagship service's config
(real workers, the real pipeline, delivery to a local review bundle), sends the flagship alert
once, then ``--alerts`` duplicates open-loop at ``--rate`` requests per second (each request
leaves on schedule whatever the answers take), and the same number of ``/healthz`` requests at
the same rate as the HTTP stack's own cost, for a ratio measured in the same run. Then it waits
for the one run to finish and counts incidents and runs: a storm must make exactly one of each.
The run in the background competes for the two cores while the storm lasts, as it would at 2 AM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_load import open_loop  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-intake-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(work: Path) -> Path:
    """The example service config with its relative paths made absolute and the output in ``work``."""
    base = ROOT / "examples" / "service"
    text = (base / "healcrew-service.yaml").read_text()
    text = text.replace("../../out/service", str(work / "out")).replace("../", str(base.parent) + "/")
    text = text.replace("policy: repair-policy.yaml", f"policy: {base / 'repair-policy.yaml'}")
    path = work / "service.yaml"
    path.write_text(text)
    return path


def _start(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "HEALCREW_WEBHOOK_TOKEN": TOKEN, "HEALCREW_CACHE": str(work / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crew.cli", "serve", "--port", str(port), "--config", str(_config(work)),
         "--state", f"sqlite:///{work / 'state.db'}", "--audit-log", str(work / "audit.jsonl")],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("bench_intake: healcrew serve did not come up")


def _open_loop(url: str, path: str, body: bytes | None, count: int, rate: float) -> tuple[list[float], float]:
    """Latencies (s, from each request's due time) of ``count`` requests due every 1/rate s, and the wall time."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    load = asyncio.run(open_loop(host, int(port), path, count=count, rate=rate, body=body, headers=AUTH))
    failed = {code: n for code, n in load.statuses.items() if code >= 300}
    if failed:
        raise SystemExit(f"bench_intake: requests to {path} failed: {failed}")
    return load.latencies, load.wall


def _cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the service's run is a child process)."""
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def _runs_total(metrics: str) -> float:
    return sum(float(v) for v in re.findall(r'^healcrew_runs_total\{[^}]*\} (\S+)$', metrics, re.M))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=250.0, help="requests per second sent (target: >= 200)")
    args = parser.parse_args()
    body = (ROOT / "examples" / "incidents" / "pricing-zero-division" / "alert.json").read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        proc, url = _start(Path(tmp))
        try:
            first = httpx.post(f"{url}/alerts", content=body, headers=AUTH, timeout=10).json()
            server, cpu_before, client_before = psutil.Process(proc.pid), _cpu(proc.pid), time.process_time()
            storm, storm_wall = _open_loop(url, "/alerts", body, args.alerts, args.rate)
            server_cpu, client_cpu = _cpu(server.pid) - cpu_before, time.process_time() - client_before
            health, health_wall = _open_loop(url, "/healthz", None, args.alerts, args.rate)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                page = httpx.get(f"{url}/incidents", headers=AUTH, timeout=10).json()
                if page["items"] and page["items"][0]["status"] not in ("queued", "running"):
                    break
                time.sleep(1)
            incident = httpx.get(f"{url}/incidents/{first['incidents'][0]}", headers=AUTH, timeout=10).json()
            runs = _runs_total(httpx.get(f"{url}/metrics", timeout=10).text)
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{args.alerts} duplicates of the flagship alert, open loop at {args.rate:g} req/s, "
          "one real run in the background")
    print("| requests | sent at req/s | answered at req/s | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, lat, wall in (("POST /alerts (duplicates)", storm, storm_wall), ("GET /healthz", health, health_wall)):
        print(f"| {name} | {args.rate:g} | {len(lat) / wall:.0f} | {_pct(lat, 0.5):.1f} | {_pct(lat, 0.99):.1f} "
              f"| {lat[-1] * 1000:.1f} |")
    print(f"during the storm ({storm_wall:.1f} s): the service used {server_cpu:.1f} s of CPU "
          f"({server_cpu / storm_wall:.0%} of a core, its run's child included), the sender {client_cpu:.1f} s")
    print(f"intake p50 is {_pct(storm, 0.5) / max(_pct(health, 0.5), 1e-9):.1f}x the bare HTTP round trip's")
    received = incident["alerts"][0]["received"] if incident.get("alerts") else 0
    print(f"incidents: {page['total']}, runs: {runs:g}, final status: {incident['status']}, "
          f"alert received {received} times")
    ok = page["total"] == 1 and runs == 1 and received == args.alerts + 1 and args.alerts / storm_wall >= 200
    print("storm -> one incident, one run, >= 200 req/s answered: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
