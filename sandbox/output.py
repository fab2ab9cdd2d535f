"""A byte buffer that keeps only the head and the tail of a stream, in bounded memory.

A command in the sandbox may print gigabytes; what helps a reader is the beginning (how it
started) and the end (how it failed). Everything in between is counted and dropped.
"""

from __future__ import annotations


class HeadTailBuffer:
    """Keeps at most ``cap`` bytes: the first ``cap // 2`` and the last ``cap - cap // 2``."""

    def __init__(self, cap: int) -> None:
        if cap < 2:
            raise ValueError("cap must be at least 2 bytes")
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def write(self, data: bytes) -> None:
        """Append ``data``; memory stays below about twice the cap."""
        if not data:
            return
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        if len(data) >= self.tail_cap:
            self._tail = bytearray(data[-self.tail_cap:])
            return
        self._tail += data
        if len(self._tail) > 2 * self.tail_cap:  # trim rarely, so appends stay cheap
            del self._tail[: len(self._tail) - self.tail_cap]

    @property
    def tail(self) -> bytes:
        return bytes(self._tail[-self.tail_cap:]) if self._tail else b""

    @property
    def truncated(self) -> bool:
        """Some bytes between head and tail were dropped."""
        return self.total > len(self.head) + len(self.tail)

    def getvalue(self) -> bytes:
        """Head and tail joined; a marker says how many bytes were dropped between them."""
        if not self.truncated:
            return bytes(self.head) + self.tail
        dropped = self.total - len(self.head) - len(self.tail)
        return bytes(self.head) + f"\n[... {dropped} bytes truncated ...]\n".encode() + self.tail

    def text(self) -> str:
        """``getvalue()`` decoded as UTF-8, invalid bytes replaced."""
        return self.getvalue().decode("utf-8", errors="replace")
