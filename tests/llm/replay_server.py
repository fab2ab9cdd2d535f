"""A loopback server that speaks the Anthropic Messages API from cassettes, or records them.

``POST /v1/messages`` answers with the first interaction not yet played whose ``expect`` texts all
occur in the request (so each role's answers are found by its prompt, in the order they were
recorded): its status, headers (``retry-after`` for a 429), body and an optional ``delay`` (a slow
answer, for timeouts). A request whose key (``x-api-key``, or ``Authorization: Bearer`` as recent
SDKs send it) is not the server's gets the API's 401; a request no interaction matches gets a 400
naming what the next one expects, so a test fails instead of replaying the wrong answer.
A request with ``"stream": true`` is answered as the API's server-sent events.

Record mode (``--record FILE --upstream URL``) forwards each request to the real API with the
caller's headers and appends the exchange to FILE, marked ``authored: false``. Run it as
``python -m tests.llm.replay_server CASSETTE [--port 8765]``; it binds 127.0.0.1 and stops by
itself after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

CASSETTES = Path(__file__).parent / "cassettes"
API_KEY = "sk-ant-replay-0000"


def load_cassette(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("interactions"), list):
        raise ValueError(f"{path.name}: not a version 1 cassette")
    return list(data["interactions"])


def _key(headers: dict[str, str]) -> str | None:
    """The caller's key: ``x-api-key``, or the bearer token recent SDKs send it as."""
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else None)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def sse_events(message: dict[str, Any]) -> bytes:
    """A Messages API response as the stream of events the API sends for it."""
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    usage = dict(message.get("usage") or {})
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    out = [event("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(message.get("content") or []):
        if block.get("type") == "tool_use":
            out.append(event("content_block_start", {"type": "content_block_start", "index": i,
                                                     "content_block": {**block, "input": {}}}))
            out.append(event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {})}}))
        else:
            out.append(event("content_block_start", {"type": "content_block_start", "index": i,
                                                     "content_block": {"type": "text", "text": ""}}))
            out.append(event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                     "delta": {"type": "text_delta", "text": block.get("text", "")}}))
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(event("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": message.get("stop_reason"), "stop_sequence": None},
        "usage": {"output_tokens": usage.get("output_tokens", 0)}}))
    out.append(event("message_stop", {"type": "message_stop"}))
    return "".join(out).encode()


@dataclass
class MessagesReplay:
    """The server's state: the interactions left, and every request body it received."""

    interactions: list[dict[str, Any]]
    api_key: str = API_KEY
    record_to: Path | None = None
    upstream: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _next: int = 0
    _played: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def left(self) -> int:
        return len(self.interactions) - self._next

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return 400, {}, json.dumps(_error("invalid_request_error", "body is not JSON")).encode(), 0.0
        with self._lock:
            self.requests.append(request)
            if self.upstream is not None:
                return self._record(headers, body, request)
            if _key(headers) != self.api_key:
                return 401, {}, json.dumps(_error("authentication_error", "invalid x-api-key")).encode(), 0.0
            text = body.decode("utf-8", "replace")
            waiting = [i for i in range(len(self.interactions)) if i not in self._played]
            if not waiting:
                return 400, {}, json.dumps(_error("invalid_request_error", "cassette exhausted")).encode(), 0.0
            chosen = next((i for i in waiting if all(s in text for s in self.interactions[i].get("expect", []))), None)
            if chosen is None:
                first = self.interactions[waiting[0]]
                lacks = next(s for s in first.get("expect", []) if s not in text)
                message = f"no cassette interaction matches: the next one expects {lacks!r}"
                return 400, {}, json.dumps(_error("invalid_request_error", message)).encode(), 0.0
            self._played.add(chosen)
            self._next += 1
            item = self.interactions[chosen]
        status = int(item.get("status", 200))
        reply_headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        reply_headers.setdefault("request-id", f"req_replay_{self._next:04d}")
        payload = item.get("body") or {}
        if status == 200 and request.get("stream"):
            reply_headers["content-type"] = "text/event-stream"
            return status, reply_headers, sse_events(payload), float(item.get("delay", 0.0))
        return status, reply_headers, json.dumps(payload).encode(), float(item.get("delay", 0.0))

    def _record(self, headers: dict[str, str], body: bytes,
                request: dict[str, Any]) -> tuple[int, dict[str, str], bytes, float]:
        import httpx

        assert self.upstream is not None and self.record_to is not None
        passed = ("x-api-key", "authorization", "anthropic-version", "anthropic-beta", "content-type")
        forward = {k: v for k, v in headers.items() if k in passed}
        sent = {**request, "stream": False}
        reply = httpx.post(self.upstream.rstrip("/") + "/v1/messages", json=sent, headers=forward, timeout=600)
        item = {"expect": [], "status": reply.status_code, "body": reply.json()}
        if "retry-after" in reply.headers:
            item["headers"] = {"retry-after": reply.headers["retry-after"]}
        self.interactions.append(item)
        self.record_to.write_text(yaml.safe_dump({"version": 1, "authored": False, "interactions":
                                                  self.interactions}, sort_keys=False, allow_unicode=True),
                                  encoding="utf-8")
        return reply.status_code, {}, reply.content, 0.0


def _handler(state: MessagesReplay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path.split("?")[0].rstrip("/") != "/v1/messages":
                status, headers, data, delay = 404, {}, json.dumps(_error("not_found_error", self.path)).encode(), 0.
            else:
                status, headers, data, delay = state.answer({k.lower(): v for k, v in self.headers.items()}, body)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                headers.setdefault("content-type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
                pass

    return Handler


@contextmanager
def serving(interactions: list[dict[str, Any]], lifetime: float = 120.0, **kwargs: Any) -> Iterator[MessagesReplay]:
    """Serve the interactions on 127.0.0.1 on a free port; stops on exit or after ``lifetime`` seconds."""
    state = MessagesReplay(list(interactions), **kwargs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield state
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()
        thread.join(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.llm.replay_server", description=__doc__.split("\n")[0])
    parser.add_argument("cassette", nargs="?", help="cassette to replay (a name under tests/llm/cassettes or a path)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=API_KEY, help="the key clients must send")
    parser.add_argument("--lifetime", type=float, default=900.0, help="seconds before the server stops by itself")
    parser.add_argument("--record", type=Path, help="record mode: append exchanges to this cassette")
    parser.add_argument("--upstream", help="record mode: the real API's base URL")
    args = parser.parse_args(argv)
    if (args.record is None) != (args.upstream is None):
        print("error: --record and --upstream go together", file=sys.stderr)
        return 2
    interactions: list[dict[str, Any]] = []
    if args.cassette:
        path = Path(args.cassette)
        path = path if path.exists() else CASSETTES / f"{args.cassette.removesuffix('.yaml')}.yaml"
        try:
            interactions = load_cassette(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    elif args.record is None:
        print("error: give a cassette to replay, or --record FILE --upstream URL", file=sys.stderr)
        return 2
    state = MessagesReplay(interactions, api_key=args.api_key, record_to=args.record, upstream=args.upstream)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    print(f"serving {len(interactions)} interaction(s) on {state.url}; export ANTHROPIC_BASE_URL={state.url}",
          flush=True)
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
