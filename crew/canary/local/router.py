"""The weighted router of the local canary: the mesh's traffic split and its telemetry, on loopback.

Trusted host code. Each request is sent to the canary with the step's weight (a seeded RNG, so
a run's split is reproducible) and to stable otherwise, over that pod's Unix socket; the
response is passed back unchanged. A side that cannot answer (nothing listening, the connection
dropped, a crash mid-request) is a 503 for that side, a timeout a 504, as an Istio sidecar
reports them. Every request is counted in Istio's own metric names and labels
(``istio_requests_total`` and ``istio_request_duration_milliseconds``, ``reporter="destination"``),
so an AnalysisTemplate written for the mesh queries the router unchanged, and observed
(side, time, latency, code) for the judge.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram

SIDES = ("stable", "canary")
ISTIO_BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
MAX_BODY = 1 << 20
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
        "content-length", "host"}


@dataclass(frozen=True)
class Observation:
    """One request as the router saw it."""

    side: str
    at: float
    seconds: float
    code: int


class Router:
    """Routes requests between the two sides' sockets by weight and records what happened."""

    def __init__(self, sockets: dict[str, Path], services: dict[str, str], namespace: str, *, seed: int = 0,
                 timeout: float = 5.0) -> None:
        self.sockets = sockets
        self.services = services
        self.namespace = namespace
        self.timeout = timeout
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._weight = 0
        self.observations: list[Observation] = []
        self.registry = CollectorRegistry()
        labels = ["reporter", "destination_service_name", "destination_service_namespace", "destination_workload",
                  "response_code"]
        self.requests = Counter("istio_requests", "Requests, as Istio's destination proxy counts them.", labels,
                                registry=self.registry)
        self.duration = Histogram("istio_request_duration_milliseconds", "Request duration in milliseconds.",
                                  labels, buckets=ISTIO_BUCKETS_MS, registry=self.registry)
        self._clients = {side: httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), timeout=timeout)
                         for side, path in sockets.items()}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def weight(self) -> int:
        return self._weight

    def set_weight(self, weight: int) -> None:
        """Percent of requests sent to the canary from now on."""
        if not 0 <= weight <= 100:
            raise ValueError(f"weight must be 0..100, not {weight}")
        with self._lock:
            self._weight = weight

    def choose(self) -> str:
        """The side of the next request."""
        with self._lock:
            return "canary" if self._rng.random() * 100 < self._weight else "stable"

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str],
                                                                                              bytes, str]:
        """Send one request to a side by weight; (status, headers, body, side)."""
        side = self.choose()
        start = time.monotonic()
        try:
            resp = self._clients[side].request(method, f"http://{self.services[side]}{path}", headers=headers,
                                               content=body or None)
            code, out_headers, content = resp.status_code, dict(resp.headers), resp.content
        except httpx.TimeoutException:
            code, out_headers, content = 504, {}, b"upstream request timeout"
        except httpx.HTTPError:
            code, out_headers, content = 503, {}, b"upstream connect error or disconnect/reset before headers"
        elapsed = time.monotonic() - start
        self.record(side, start, elapsed, code)
        return code, out_headers, content, side

    def record(self, side: str, at: float, seconds: float, code: int) -> None:
        """Count one request in Istio's metrics and keep it for the judge."""
        labels = {"reporter": "destination", "destination_service_name": self.services[side],
                  "destination_service_namespace": self.namespace, "destination_workload": self.services[side],
                  "response_code": str(code)}
        self.requests.labels(**labels).inc()
        self.duration.labels(**labels).observe(seconds * 1000)
        with self._lock:
            self.observations.append(Observation(side, at, seconds, code))

    def between(self, start: float, end: float) -> list[Observation]:
        """Observations that started in ``[start, end)`` (monotonic seconds)."""
        with self._lock:
            return [o for o in self.observations if start <= o.at < end]

    def serve(self) -> str:
        """Start listening on 127.0.0.1 (a free port); the base URL."""
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes; with Nagle's algorithm the body then waits for the
            # client's delayed ACK (about 40 ms on Linux) on every kept-alive request.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                    return
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                code, out_headers, content, side = router.forward(self.command, self.path, headers, body)
                self.send_response(code)
                for key, value in out_headers.items():
                    if key.lower() not in _HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("x-canary-side", side)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="canary-router", daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
