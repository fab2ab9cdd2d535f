"""A real Prometheus for one local canary: started on loopback, scraping our exporters, queried over HTTP.

The Debian ``prometheus`` binary runs with a config written for this run (the router's Istio
metrics and the pods' kube-state-metrics series, scraped every second), its storage in the
run's temp folder and a free 127.0.0.1 port; it is stopped (terminated, then killed) when the
run ends. Queries go through ``/api/v1/query``; a vector result becomes the list of its values
(``NaN`` and ``+Inf`` kept), as Argo hands it to a condition.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from crew.errors import SandboxError

SCRAPE_INTERVAL = 1.0
"""Seconds between scrapes: the finest Prometheus' own docs use, and what the ranges are floored to."""


class QueryError(Exception):
    """Prometheus could not answer a query (Argo marks the measurement Error)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_registry(registry: CollectorRegistry) -> tuple[Any, int]:
    """Serve ``registry`` on 127.0.0.1 at a free port; (server, port)."""
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    return server, int(server.server_address[1])


def find_prometheus() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise SandboxError("prometheus is not installed (Debian package prometheus); the local canary needs it")
    return path


class Prometheus:
    """One Prometheus process; ``url`` once started."""

    def __init__(self, folder: Path, targets: dict[str, int]) -> None:
        self.folder = folder
        self.targets = targets
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._client = httpx.Client(timeout=5.0)

    def start(self, timeout: float = 30.0) -> None:
        binary = find_prometheus()
        config = {
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL:g}s", "evaluation_interval": f"{SCRAPE_INTERVAL:g}s"},
            "scrape_configs": [
                {"job_name": job, "scrape_interval": f"{SCRAPE_INTERVAL:g}s", "scrape_timeout": "900ms",
                 "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for job, port in self.targets.items()
            ],
        }
        path = self.folder / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        log = (self.folder / "prometheus.log").open("ab")
        port = free_port()
        self._proc = subprocess.Popen(
            [binary, f"--config.file={path}", f"--storage.tsdb.path={self.folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SandboxError(f"prometheus exited {self._proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if self._client.get(f"{self.url}/-/ready").status_code == 200:
                    return
            time.sleep(0.1)
        raise SandboxError(f"prometheus was not ready within {timeout:g} s: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.folder / "prometheus.log"
        text = path.read_text(errors="replace").strip() if path.exists() else ""
        return (text.splitlines() or ["no output"])[-1][:300]

    def query(self, promql: str) -> list[float] | float:
        """The value(s) of an instant query now; ``QueryError`` with Prometheus' message when it fails."""
        try:
            resp = self._client.get(f"{self.url}/api/v1/query", params={"query": promql})
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise QueryError(f"prometheus did not answer: {exc}") from None
        if body.get("status") != "success":
            raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', 'query failed')}")
        data = body["data"]
        if data["resultType"] == "vector":
            return [_number(item["value"][1]) for item in data["result"]]
        if data["resultType"] == "scalar":
            return _number(data["result"][1])
        raise QueryError(f"a {data['resultType']} result cannot be judged; use an instant vector or scalar")

    def wait_for_series(self, promql: str, count: int, timeout: float) -> None:
        """Block until ``promql`` returns at least ``count`` series (the exporters were scraped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(QueryError):
                found = self.query(promql)
                if isinstance(found, list) and len(found) >= count:
                    return
            time.sleep(0.2)
        raise SandboxError(f"prometheus did not scrape the canary's exporters within {timeout:g} s")

    def stop(self) -> None:
        self._client.close()
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
