"""Log files a user hands us: plain text, JSON lines, docker json-file, a JSON array, Loki JSON.

The format is detected from the content, not the name: people save ``kubectl logs`` output
as ``.json`` and Loki exports as ``.log``. JSON-lines records stay whole (the extractor reads
their ``exception`` fields); only transport envelopes (docker's ``{"log": ...}``, logcli's
``{"line": ...}``) are unwrapped, because they are not what the application wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crew.errors import BadInputError
from crew.logline import LogLine

MAX_BYTES = 512 << 20
"""Beyond this only the tail is read: a crash-looping service's last crash is at the end."""
SNIFF_BYTES = 64 << 10
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


def _read_bytes(path: Path, max_bytes: int) -> tuple[bytes, bool]:
    """The file's bytes, or its last ``max_bytes`` starting at a line boundary; and truncated?"""
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size <= max_bytes:
            return fh.read(), False
        fh.seek(size - max_bytes)
        data = fh.read(max_bytes)
    newline = data.find(b"\n")
    return (data[newline + 1 :] if newline >= 0 else data), True


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


def _from_json_lines(rows: list[str]) -> list[LogLine]:
    lines: list[LogLine] = []
    partial: dict[str, LogLine] = {}  # docker splits lines over 16 KiB into records without "\n"
    for raw in rows:
        try:
            record = json.loads(raw) if raw.lstrip().startswith("{") else None
        except ValueError:
            record = None
        if not isinstance(record, Mapping):
            lines.append(LogLine(text=raw))
            continue
        line = _from_record(record, raw)
        log = record.get("log")
        if isinstance(log, str) and _is_docker(record):
            head = partial.pop(line.stream, None)
            if head is not None:
                line = LogLine(text=head.text + line.text, timestamp=head.timestamp, stream=line.stream)
            if log and not log.endswith("\n"):
                partial[line.stream] = line
                continue
        lines.append(line)
    lines.extend(partial.values())
    return lines


def _looks_like_json_lines(rows: list[str]) -> bool:
    sample = [r for r in rows[:50] if r.strip()]
    if not sample:
        return False
    objects = 0
    for row in sample:
        if row.lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                objects += isinstance(json.loads(row), dict)
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
            json.loads(first)
        except ValueError:
            return True  # pretty-printed, or one line longer than the sniff: a document
        return False
    return False


def parse_log_text(text: str, name: str = "log") -> list[LogLine]:
    """Lines out of a log's text, whatever of the supported formats it is in."""
    head = text.lstrip()
    if head[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, Mapping) and isinstance(doc.get("data"), Mapping) and "result" in doc["data"]:
            from crew.sources.loki import parse_query_range

            return parse_query_range(doc)
        if isinstance(doc, list):
            return _from_array(doc, name)
    rows = text.splitlines()
    if _looks_like_json_lines(rows):
        return _from_json_lines(rows)
    return [LogLine(text=row) for row in rows]


def read_log_file(path: Path | str, *, max_bytes: int = MAX_BYTES) -> list[LogLine]:
    """The lines of a log file; ``BadInputError`` with one line when it cannot be a log."""
    path = Path(path)
    name = str(path)
    try:
        if not path.exists():
            raise BadInputError(f"log file not found: {name}")
        if path.is_dir():
            raise BadInputError(f"log file {name} is a directory")
        if not path.is_file():
            raise BadInputError(f"log file {name} is not a regular file")
        if not os.access(path, os.R_OK):
            raise BadInputError(f"log file {name} is not readable")
        data, truncated = _read_bytes(path, max_bytes)
    except OSError as exc:
        raise BadInputError(f"cannot read log file {name}: {exc.strerror or exc}") from None
    # logrotate's copytruncate leaves the writer's old offset as a run of NULs at the start
    data = data.lstrip(b"\0")
    if not data.strip():
        raise BadInputError(f"log file {name} is empty")
    _check_text(data, name)
    text = data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8", errors="replace")
    if truncated and _starts_json_document(path):
        raise BadInputError(f"log file {name} is a JSON document larger than {max_bytes} bytes; export less")
    lines = parse_log_text(text, name)
    if not lines:
        raise BadInputError(f"log file {name} holds no log lines")
    return lines
