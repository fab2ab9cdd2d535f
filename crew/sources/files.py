"""Log files a user hands us: plain text, JSON lines, docker json-file, a JSON array, Loki JSON, Sentry events.

The format is detected from the content, not the name: people save ``kubectl logs`` output
as ``.json`` and Loki exports as ``.log``. JSON-lines records stay whole (the extractor reads
their ``exception`` fields); only transport envelopes (docker's ``{"log": ...}``, logcli's
``{"line": ...}``) are unwrapped, because they are not what the application wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from crew.errors import BadInputError
from crew.logline import LogLine, LogLines
from crew.payloads import MAX_DEPTH, TooDeepError, loads

MAX_BYTES = 512 << 20
"""Beyond this only the tail is read: a crash-looping service's last crash is at the end."""
SNIFF_BYTES = 64 << 10
CHUNK_BYTES = 1 << 20
MAX_LINE_CHARS = 1 << 20
"""A longer line keeps its first MiB (the rest of it is not read into memory)."""
MAX_DOCUMENT_BYTES = 64 << 20
"""A file that is one JSON document is parsed whole, so it must be smaller than this."""
WINDOW_LINES = 512
"""Lines kept on each side of a line that may belong to a crash (above the extractor's skip bound)."""
TAIL_LINES = 1_000
DATA_LINES = 1_000
CONTEXT_LINE_CHARS = 16_000
MAX_KEPT_CHARS = 64 << 20
LINE_OVERHEAD = 120
"""Approximate bytes of a kept line beyond its text (the objects around it), for the budget."""
# lowercase words of a line that may belong to a crash: tracebacks, exception lines, chain
# separators, JSON records' exception fields, and the start-up failures crew.sources.startup knows
_KEYWORDS = (
    "traceback", "error", "exception", 'file "', 'file \\"', "exc_info", "stack", "exited",
    "environment variable", "env var", "failed to", "app failed", "already in use",
)
BINARY_FRACTION = 0.05
"""Share of NUL bytes or undecodable characters above which a file is not a text log."""
_TIME_KEYS = ("timestamp", "time", "ts", "@timestamp", "asctime")
_MAGIC = {b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a zip archive", b"\x28\xb5\x2f\xfd": "zstd-compressed"}


def _parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (docker's RFC3339Nano included) as an aware UTC datetime."""
    if not isinstance(value, str) or len(value) < 19 or value[4] != "-":
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # trim nanoseconds to microseconds; keep the zone
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _check_text(data: bytes, name: str) -> None:
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise BadInputError(f"log file {name} is {what}; decompress it first")
    sample = data[:SNIFF_BYTES]
    if sample.count(b"\0") > len(sample) * BINARY_FRACTION:
        raise BadInputError(f"log file {name} looks binary (NUL bytes), not a text log")
    decoded = sample.decode("utf-8", errors="replace")
    # a sample cut inside a multi-byte character may end with one replacement character
    if decoded.count("\ufffd") > max(1, len(decoded) * BINARY_FRACTION):
        raise BadInputError(f"log file {name} looks binary (too many bytes that are not UTF-8), not a text log")


def _from_array(items: list[Any], name: str) -> list[LogLine]:
    lines: list[LogLine] = []
    for item in items:
        if isinstance(item, str):
            lines.extend(LogLine(text=part) for part in item.splitlines() or [""])
        elif isinstance(item, Mapping):
            lines.append(_from_record(item, json.dumps(item, ensure_ascii=False)))
        else:
            raise BadInputError(f"log file {name} is a JSON array but holds {type(item).__name__}, not lines")
    return lines


def _is_docker(record: Mapping[str, Any]) -> bool:
    """Docker's json-file driver record: ``{"log": "...\\n", "stream": "stderr", "time": "..."}``."""
    return isinstance(record.get("log"), str) and ("stream" in record or "time" in record) and len(record) <= 4


def _from_record(record: Mapping[str, Any], raw: str) -> LogLine:
    """One JSON-lines record: unwrap docker/logcli envelopes, keep anything else verbatim."""
    log = record.get("log")
    if isinstance(log, str) and _is_docker(record):
        stream = record.get("stream")
        return LogLine(
            text=log.rstrip("\r\n"), timestamp=_parse_time(record.get("time")),
            stream=stream if isinstance(stream, str) else "",
        )
    line = record.get("line")
    if isinstance(line, str) and "timestamp" in record and len(record) <= 3:
        labels = record.get("labels")
        stream = ""
        if isinstance(labels, Mapping):
            from crew.sources.loki import canonical_labels

            stream = canonical_labels({str(k): str(v) for k, v in labels.items()})
        return LogLine(text=line.rstrip("\r\n"), timestamp=_parse_time(record.get("timestamp")), stream=stream)
    stamp = next((t for k in _TIME_KEYS if (t := _parse_time(record.get(k))) is not None), None)
    return LogLine(text=raw, timestamp=stamp)


class _JsonLines:
    """JSON-lines records to lines, one at a time; docker's split records are joined per stream."""

    def __init__(self) -> None:
        self.partial: dict[str, LogLine] = {}  # docker splits lines over 16 KiB into records without "\n"

    def feed(self, raw: str) -> LogLine | None:
        try:
            record = loads(raw) if raw.lstrip().startswith("{") else None
        except ValueError:
            record = None
        if not isinstance(record, Mapping):
            return LogLine(text=raw)
        line = _from_record(record, raw)
        log = record.get("log")
        if isinstance(log, str) and _is_docker(record):
            head = self.partial.pop(line.stream, None)
            if head is not None:
                text = (head.text + line.text)[:MAX_LINE_CHARS]
                line = LogLine(text=text, timestamp=head.timestamp, stream=line.stream)
            if log and not log.endswith("\n"):
                self.partial[line.stream] = line
                return None
        return line

    def rest(self) -> list[LogLine]:
        return list(self.partial.values())


def _from_json_lines(rows: list[str]) -> list[LogLine]:
    reader = _JsonLines()
    lines = [line for raw in rows if (line := reader.feed(raw)) is not None]
    return lines + reader.rest()


def _looks_like_json_lines(rows: list[str]) -> bool:
    sample = [r for r in rows[:50] if r.strip()]
    if not sample:
        return False
    objects = 0
    for row in sample:
        if row.lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                objects += isinstance(loads(row), dict)
    return objects * 2 > len(sample)


def _starts_json_document(path: Path) -> bool:
    """Does the file open one JSON document (which a tail cannot parse) rather than lines?"""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES).decode("utf-8", errors="replace").lstrip()
    if head.startswith("["):
        return head[1:].lstrip()[:1] in ("", "{", '"', "]")
    if head.startswith("{"):
        first = head.split("\n", 1)[0]
        try:
            loads(first)
        except ValueError:
            return True  # pretty-printed, or one line longer than the sniff: a document
        return False
    return False


def parse_log_text(text: str, name: str = "log") -> list[LogLine]:
    """Lines out of a log's text, whatever of the supported formats it is in."""
    head = text.lstrip()
    if head[:1] in ("{", "["):
        from crew.sources import sentry

        try:
            doc = loads(text)
        except TooDeepError:
            rows = text.split("\n", 50)[:50]  # one deep line of a JSON-lines file is not the whole file
            if sentry.looks_like_event_document(head[:SNIFF_BYTES]) and not _looks_like_json_lines(rows):
                raise BadInputError(
                    f"log file {name} is a Sentry event nested deeper than {MAX_DEPTH} levels") from None
            doc = None
        except ValueError:
            doc = None
        if isinstance(doc, Mapping) and isinstance(doc.get("data"), Mapping) and "result" in doc["data"]:
            from crew.sources.loki import parse_query_range

            return parse_query_range(doc)
        event = sentry.document_line(doc)
        if event is not None:
            return [event]
        if isinstance(doc, list):
            return _from_array(doc, name)
    rows = text.splitlines()
    if _looks_like_json_lines(rows):
        return _from_json_lines(rows)
    return [LogLine(text=row) for row in rows]


def _decoded_chunks(fh: BinaryIO, skip_first_line: bool) -> Iterator[str]:
    """The file's text in whole lines, about ``CHUNK_BYTES`` at a time; a longer line keeps its head.

    Cutting at a newline never splits a UTF-8 character, so each chunk decodes on its own.
    """
    carry = b""
    discard = skip_first_line  # inside a line whose start was not read, or whose head was kept
    first = True
    while block := fh.read(CHUNK_BYTES):
        if first:
            first = False
            if not skip_first_line:
                # logrotate's copytruncate leaves the writer's old offset as a run of NULs at the start
                block = block.lstrip(b"\0")
                if block.startswith(b"\xef\xbb\xbf"):
                    block = block[3:]
        data = carry + block
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = b"" if discard else data
            if len(carry) >= MAX_LINE_CHARS:
                yield carry[:MAX_LINE_CHARS].decode("utf-8", errors="replace") + "\n"
                carry, discard = b"", True
            continue
        head, carry = data[: cut + 1], data[cut + 1 :]
        if discard:
            head = head[head.find(b"\n") + 1 :]
            discard = False
        if head:
            yield head.decode("utf-8", errors="replace")
    if carry and not discard:
        yield carry.decode("utf-8", errors="replace")


class _Window:
    """Keeps, out of a stream of any length, the lines the analysis reads; memory stays bounded.

    Kept: every line that may belong to a crash (a traceback marker, an exception name, a
    start-up failure's wording) with ``WINDOW_LINES`` lines before and after it, the last
    ``TAIL_LINES`` lines, and the last ``DATA_LINES`` lines that carry data. Lines that are
    only context are cut at ``CONTEXT_LINE_CHARS``. Beyond ``MAX_KEPT_CHARS`` the oldest
    kept lines go: in a crash loop the last crashes are the ones to fix.
    """

    def __init__(self) -> None:
        self.count = 0
        self.saw_text = False
        self.kept: deque[tuple[int, LogLine]] = deque()
        self.kept_chars = 0
        self.before: deque[tuple[int, LogLine]] = deque(maxlen=WINDOW_LINES)
        self.tail: deque[tuple[int, LogLine]] = deque(maxlen=TAIL_LINES)
        self.data: deque[tuple[int, LogLine]] = deque(maxlen=DATA_LINES)
        self.keep_until = -1

    def feed(self, line: LogLine) -> None:
        idx = self.count
        self.count += 1
        text = line.text
        if not self.saw_text and text.strip():
            self.saw_text = True
        if _matters(text):
            while self.before:
                self._keep(*self.before.popleft())
            self._keep(idx, line)
            self.keep_until = idx + WINDOW_LINES
            self.tail.append((idx, _cut(line)))
            return
        line = _cut(line)
        if idx <= self.keep_until:
            self._keep(idx, line)
        else:
            self.before.append((idx, line))
            if "{" in text or "(" in text:
                self.data.append((idx, line))
        self.tail.append((idx, line))

    def feed_plain(self, rows: list[str], low: str) -> None:
        """Plain-text rows of one chunk; ``low`` is the chunk lowercased, to skip noise in bulk."""
        if any(k in low for k in _KEYWORDS):
            for row in rows:
                self.feed(LogLine(text=row))
            return
        # nothing in this chunk can matter: count it, keep what the windows, the tail and the
        # data lines need, and create no object for the rest
        start = self.count
        if not self.saw_text and low.strip():
            self.saw_text = True
        follow = max(0, min(len(rows), self.keep_until - start + 1))
        for i in range(follow):
            self._keep(start + i, _cut(LogLine(text=rows[i])))
        if "{" in low or "(" in low:
            for i in range(follow, len(rows)):
                if "{" in rows[i] or "(" in rows[i]:
                    self.data.append((start + i, _cut(LogLine(text=rows[i]))))
        last = max(follow, len(rows) - max(TAIL_LINES, WINDOW_LINES))
        for i in range(last, len(rows)):
            line = _cut(LogLine(text=rows[i]))
            if i >= follow:
                self.before.append((start + i, line))
            self.tail.append((start + i, line))
        self.count = start + len(rows)

    def _keep(self, idx: int, line: LogLine) -> None:
        self.kept.append((idx, line))
        self.kept_chars += len(line.text) + LINE_OVERHEAD
        while self.kept_chars > MAX_KEPT_CHARS and len(self.kept) > 1:
            _, old = self.kept.popleft()
            self.kept_chars -= len(old.text) + LINE_OVERHEAD

    def lines(self) -> LogLines:
        merged = {idx: line for idx, line in self.data}
        merged.update(self.tail)
        merged.update(self.kept)
        return LogLines((merged[i] for i in sorted(merged)), scanned=self.count)


def _matters(text: str) -> bool:
    low = text.lower()
    return any(k in low for k in _KEYWORDS)


def _cut(line: LogLine) -> LogLine:
    if len(line.text) <= CONTEXT_LINE_CHARS:
        return line
    return LogLine(text=line.text[:CONTEXT_LINE_CHARS], timestamp=line.timestamp, stream=line.stream)


def _sniff(path: Path, name: str, max_bytes: int) -> tuple[int, bool, list[str]]:
    """(offset to read from, whether the head is cut, the whole rows of the head) after the format checks."""
    size = path.stat().st_size
    offset = max(0, size - max_bytes)
    with path.open("rb") as fh:
        fh.seek(offset)
        sample = fh.read(SNIFF_BYTES)
    if offset:
        newline = sample.find(b"\n")
        sample = sample[newline + 1 :] if newline >= 0 else sample
    sample = sample.lstrip(b"\0")
    if not sample.strip() and size - offset <= SNIFF_BYTES:
        raise BadInputError(f"log file {name} is empty")
    _check_text(sample, name)
    head = sample.decode("utf-8-sig" if sample.startswith(b"\xef\xbb\xbf") else "utf-8", errors="replace")
    rows = head.splitlines()
    if size - offset > SNIFF_BYTES and len(rows) > 1:
        rows = rows[:-1]  # cut inside a line
    return offset, offset > 0, rows


def _one_line_document(head: str) -> bool:
    """A JSON array, or a Loki export, written on one line (what the first line parses to)."""
    first = head.lstrip().split("\n", 1)[0]
    if first[:1] not in ("{", "["):
        return False
    try:
        obj = loads(first)
    except ValueError:
        return False
    if isinstance(obj, list):
        return True
    return isinstance(obj, Mapping) and isinstance(obj.get("data"), Mapping) and "result" in obj["data"]


def _read_document(path: Path, name: str, max_bytes: int, head: str) -> list[LogLine] | None:
    """A file that is one JSON document (an array, a Loki export) is parsed whole, if small enough."""
    if not _starts_json_document(path) and not _one_line_document(head):
        return None
    limit = min(max_bytes, MAX_DOCUMENT_BYTES)
    if path.stat().st_size > limit:
        raise BadInputError(f"log file {name} is a JSON document larger than {limit} bytes; export less")
    data = path.read_bytes().lstrip(b"\0")
    return parse_log_text(data.decode("utf-8-sig", errors="replace"), name)


def _check_path(path: Path, name: str) -> None:
    if not path.exists():
        raise BadInputError(f"log file not found: {name}")
    if path.is_dir():
        raise BadInputError(f"log file {name} is a directory")
    if not path.is_file():
        raise BadInputError(f"log file {name} is not a regular file")
    if not os.access(path, os.R_OK):
        raise BadInputError(f"log file {name} is not readable")


def check_log_file(path: Path | str, *, max_bytes: int = MAX_BYTES) -> None:
    """The checks :func:`read_log_file` starts with (a readable file, not empty, text), alone.

    They read at most 64 KiB, so the command line makes them before any other work.
    """
    path = Path(path)
    try:
        _check_path(path, str(path))
        _sniff(path, str(path), max_bytes)
    except OSError as exc:
        raise BadInputError(f"cannot read log file {path}: {exc.strerror or exc}") from None


def read_log_file(path: Path | str, *, max_bytes: int = MAX_BYTES) -> LogLines:
    """The lines of a log file the analysis needs; ``BadInputError`` with one line when it cannot be a log.

    The file is streamed: memory stays bounded whatever its size (see ``_Window``), and
    ``.scanned`` says how many lines were read.
    """
    path = Path(path)
    name = str(path)
    window = _Window()
    document: list[LogLine] | None = None
    try:
        _check_path(path, name)
        offset, cut, head = _sniff(path, name, max_bytes)
        document = _read_document(path, name, max_bytes, "\n".join(head))
        if document is not None:
            for line in document:
                window.feed(line)
        else:
            json_lines = _looks_like_json_lines(head)
            reader = _JsonLines()
            with path.open("rb") as fh:
                fh.seek(offset)
                for chunk in _decoded_chunks(fh, skip_first_line=cut):
                    rows = chunk.splitlines()
                    if not json_lines:
                        window.feed_plain(rows, chunk.lower())
                        continue
                    for raw in rows:
                        record = reader.feed(raw)
                        if record is not None:
                            window.feed(record)
            for line in reader.rest():
                window.feed(line)
    except OSError as exc:
        raise BadInputError(f"cannot read log file {name}: {exc.strerror or exc}") from None
    if not window.saw_text:
        if window.count or document is None:
            raise BadInputError(f"log file {name} is empty")
        raise BadInputError(f"log file {name} holds no log lines")
    return window.lines()
