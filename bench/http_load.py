"""An open-loop HTTP/1.1 sender light enough not to compete with the service it measures.

On two cores, an ``httpx.AsyncClient`` sending 250 requests a second spent 3 to 4 ms of CPU per
request once a queue formed (its pool walks every waiting request), about as much as the service
spent answering it: the benchmark measured its own sender. This one writes pre-built requests on
a few kept-alive connections and reads Content-Length responses, a few hundred microseconds each.
Request ``i`` is due at ``i / rate`` seconds; its latency counts from when it was due, so time
spent waiting for a free connection is the service's slowness, not hidden (no coordinated
omission). Alertmanager itself sends from Go; this is closer to it than the Python client was.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Load:
    """What a run of :func:`open_loop` saw."""

    latencies: list[float] = field(default_factory=list)
    """Seconds from each request's due time to its whole answer, sorted."""
    statuses: dict[int, int] = field(default_factory=dict)
    wall: float = 0.0
    """Seconds from the first due time to the last answer."""


def _request(method: str, host: str, path: str, headers: dict[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    length = None
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "transfer-encoding":
            raise RuntimeError("http_load reads Content-Length answers only")
    if length is None:
        raise RuntimeError(f"an answer without Content-Length: {status_line}")
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def open_loop(host: str, port: int, path: str, *, count: int, rate: float, body: bytes | None = None,
                    headers: dict[str, str] | None = None, connections: int = 32) -> Load:
    """Send ``count`` requests due ``1/rate`` s apart over ``connections`` kept-alive connections."""
    request = _request("POST" if body is not None else "GET", f"{host}:{port}", path, headers or {}, body)
    free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        free.put_nowait(await asyncio.open_connection(host, port))
    load = Load()

    async def one(due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        reader, writer = await free.get()
        try:
            status = await _exchange(reader, writer, request)
        except (asyncio.IncompleteReadError, ConnectionError):  # the server closed an idle connection
            writer.close()
            reader, writer = await asyncio.open_connection(host, port)
            status = await _exchange(reader, writer, request)
        free.put_nowait((reader, writer))
        load.latencies.append(time.perf_counter() - due)
        load.statuses[status] = load.statuses.get(status, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(one(began + i / rate) for i in range(count)))
    load.wall = time.perf_counter() - began
    load.latencies.sort()
    while not free.empty():
        free.get_nowait()[1].close()
    return load
