"""A loopback HTTP server that replays documented API responses and records every request.

Used by the contract tests for Loki, Kubernetes, Alertmanager webhooks and GitHub: it binds
127.0.0.1 on a free port and stops by itself after ``MAX_LIFETIME`` seconds even if a test hangs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_LIFETIME = 60.0


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[Request], Reply]


@dataclass
class ReplayServer:
    """Serves ``handler`` on 127.0.0.1 and records every request."""

    handler: Handler = lambda req: (404, {}, b"")  # noqa: E731
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextmanager
def serving(handler: Handler | None = None) -> Iterator[ReplayServer]:
    """A running ReplayServer (set ``.handler`` to change its answers); shut down on exit."""
    state = ReplayServer() if handler is None else ReplayServer(handler=handler)

    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            req = Request(
                method=self.command, path=split.path, query=parse_qs(split.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            state.requests.append(req)
            status, headers, body = state.handler(req)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stopper = threading.Timer(MAX_LIFETIME, server.shutdown)
    stopper.daemon = True
    stopper.start()
    try:
        yield state
    finally:
        stopper.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
