"""A webhook receiver on 127.0.0.1 that records what Alertmanager posts (for the stack's own test)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST: when, its Authorization header and its JSON body."""

    at: float
    authorization: str
    body: dict[str, Any]


@dataclass
class Receiver:
    url: str
    posts: list[Received] = field(default_factory=list)


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    """A receiver at ``.url`` (path /alerts) collecting posts in ``.posts``; stopped on exit."""
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
            body = json.loads(self.rfile.read(length) or b"{}")
            received.append(Received(time.time(), self.headers.get("Authorization", ""), body))
            self.send_response(202 if self.path == "/alerts" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/alerts", posts=received)
    finally:
        server.shutdown()
        server.server_close()
