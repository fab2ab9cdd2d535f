"""The audit log: who did what to which incident, in a file that shows any later edit.

The service records every action that matters to a reviewer after the fact (alert received,
run started, policy decision, branch pushed, PR opened, canary step) as one JSON line. Each
record carries the SHA-256 of the one before (``prev``) and its own (``hash``), so editing a
field, deleting or reordering lines, or cutting the file short is found by :func:`verify_chain`.

Hashes are taken over the record's RFC 8785 canonical JSON (the JSON Canonicalization Scheme:
sorted keys, no whitespace, one spelling of every number and string), without its ``hash``
field; the line written is the canonical JSON of the whole record, so a verifier in any
language with a JCS library gets the same bytes. The first record's ``prev`` is 64 zeros.

Appends are safe across threads and processes: each one takes an exclusive ``flock`` on the
file, reads the last record under the lock, writes one line with ``O_APPEND`` in one call and
``fsync``s before letting go; a failed write is cut back off, so a full disk cannot leave half
a record. ``kill -9`` between two appends leaves the chain whole. A write that a crash cut
short (a power cut, or a kill inside a write of many pages) leaves a last line without its
newline; it was never a record (no caller was told it was written), so the next append moves
those bytes to ``<log>.torn`` and first appends an ``audit_tail_cut`` record with their size and
SHA-256: the chain goes on, and says what was cut. Until then ``verify`` reports the line as cut
short. Detail goes through the same redaction as everything else that leaves the process, and
is bounded in size, because much of it (alert labels, log lines, exception messages) is
untrusted text.

A hash chain proves the file was not changed *inside*; someone who can write the file can
still drop records from its end or rewrite it whole. :func:`verify_chain` therefore reports the
head hash, which an operator can keep elsewhere (a ticket, another host) to anchor the chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import HealcrewError

__all__ = [
    "GENESIS", "AuditError", "AuditLog", "AuditRecord", "ChainCheck", "default_audit_path", "verify_chain",
]

GENESIS = "0" * 64
AUDIT_ENV = "HEALCREW_AUDIT_LOG"
MAX_LINE_BYTES = 256 * 1024
MAX_TEXT = 4096
MAX_DEPTH = 8
MAX_ITEMS = 200
_HEX64 = r"^[0-9a-f]{64}$"
_TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"


class AuditError(HealcrewError):
    """The audit log cannot be read or extended."""

    exit_code = 2


class AuditRecord(BaseModel):
    """One line of the audit log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(ge=1, description="1 for the first record, then one more for each.")
    time: str = Field(pattern=_TIME, description="When it was written: UTC, with microseconds.")
    correlation_id: str = Field(description="The incident's correlation id (empty for service-wide actions).")
    actor: str = Field(description="Who acted: the service, a worker, or the human who approved.")
    action: str = Field(description="What happened, e.g. alert.received, policy.decision, pr.opened.")
    detail: dict[str, Any] = Field(default_factory=dict, description="Redacted, bounded JSON detail.")
    prev: str = Field(pattern=_HEX64, description="The previous record's hash; GENESIS for the first.")
    hash: str = Field(pattern=_HEX64, description="SHA-256 of this record's canonical JSON without this field.")


class ChainCheck(BaseModel):
    """The result of checking an audit log."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    records: int = Field(description="Records that verified before the first bad one (all of them when ok).")
    first_bad: int | None = Field(default=None, description="1-based line of the first broken record.")
    reason: str = Field(default="", description="Why that line is bad, in one line.")
    head: str | None = Field(default=None, description="Hash of the last good record, to anchor the chain elsewhere.")


def default_audit_path() -> Path:
    """``$HEALCREW_AUDIT_LOG``, else ``$XDG_STATE_HOME/healcrew/audit.jsonl`` (``~/.local/state`` by default)."""
    configured = os.environ.get(AUDIT_ENV)
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "healcrew" / "audit.jsonl"


def canonical(body: Mapping[str, Any]) -> bytes:
    """The RFC 8785 canonical JSON of ``body``."""
    return rfc8785.dumps(dict(body))


def record_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``body``'s canonical JSON, its ``hash`` field left out."""
    return hashlib.sha256(canonical({k: v for k, v in body.items() if k != "hash"})).hexdigest()


# --------------------------------------------------------------------------- detail


def _bounded(value: Any, depth: int = 0) -> Any:
    """``value`` as plain, finite, bounded JSON data with every string redacted."""
    from crew.delivery.redact import redact

    if depth > MAX_DEPTH:
        return "[too deep]"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)  # JCS numbers are IEEE doubles
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        text = value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…[truncated]"
        return redact(text)
    if isinstance(value, BaseModel):
        return _bounded(value.model_dump(mode="json"), depth)
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {redact(str(k))[:MAX_TEXT]: _bounded(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["…"] = f"{len(items) - MAX_ITEMS} more"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        items_out = [_bounded(v, depth + 1) for v in seq[:MAX_ITEMS]]
        if len(seq) > MAX_ITEMS:
            items_out.append(f"… {len(seq) - MAX_ITEMS} more")
        return items_out
    if isinstance(value, datetime):
        return value.isoformat()
    return _bounded(str(value), depth)


def _text(value: str) -> str:
    from crew.delivery.redact import redact

    return redact(value[:MAX_TEXT])


def _body(action: str, correlation_id: str, actor: str, detail: Mapping[str, object] | None) -> dict[str, Any]:
    """A record's own fields, redacted and bounded (``seq``, ``time``, ``prev`` and ``hash`` come at the write)."""
    return {"correlation_id": _text(correlation_id), "actor": _text(actor), "action": _text(action),
            "detail": _bounded(dict(detail or {}))}


# --------------------------------------------------------------------------- writing


def _line_start(fd: int, end: int) -> int:
    """Where the line that ends at offset ``end`` (its newline, or the end of the file) begins."""
    pos, tail = end, b""
    while pos > 0:
        step = min(8192, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        newline = tail.rfind(b"\n")
        if newline >= 0:
            return pos + newline + 1
        if len(tail) > MAX_LINE_BYTES:
            raise AuditError("the audit log's last record is too long; run 'healcrew audit verify'")
    return 0


def _last_line(fd: int, size: int) -> bytes:
    """The last line of the file open as ``fd`` (``size`` bytes, ending with a newline), without it."""
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditError("the audit log's last record is cut short; run 'healcrew audit verify'")
    start = _line_start(fd, size - 1)
    return os.pread(fd, size - 1 - start, start)


def _write_all(fd: int, data: bytes) -> None:
    written = 0
    while written < len(data):
        written += os.write(fd, data[written:])


class AuditLog:
    """An append-only, hash-chained JSON-lines file; one instance may be shared by threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def torn_path(self) -> Path:
        """Where the bytes of a write cut short by a crash are moved (see the module docstring)."""
        return self.path.with_name(self.path.name + ".torn")

    def append(
        self, action: str, *, correlation_id: str, actor: str, detail: Mapping[str, object] | None = None,
    ) -> AuditRecord:
        """Write one record after the current last one and return it (raises ``AuditError``)."""
        body = _body(action, correlation_id, actor, detail)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            notice = self._cut_torn_tail(fd)
            if notice is not None:
                self._append_locked(fd, notice)
            return self._append_locked(fd, body)
        finally:
            os.close(fd)  # closing releases the lock

    def _cut_torn_tail(self, fd: int) -> dict[str, Any] | None:
        """Move a last line that has no newline to ``torn_path``; the body of the record saying so."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return None
        start = _line_start(fd, size)
        tail = os.pread(fd, size - start, start)
        try:
            side = os.open(self.torn_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                _write_all(side, tail + b"\n")
                os.fsync(side)  # the bytes are kept before they leave the log
            finally:
                os.close(side)
            os.ftruncate(fd, start)
            os.fsync(fd)
        except OSError as exc:
            raise AuditError(f"cannot move the cut-short last line of {self.path} aside: {exc.strerror}") from None
        return _body("audit_tail_cut", "", "healcrew", {
            "bytes": len(tail), "sha256": hashlib.sha256(tail).hexdigest(), "moved_to": self.torn_path.name,
            "why": "the last write was cut short by a crash and never acknowledged"})

    def _append_locked(self, fd: int, body: dict[str, Any]) -> AuditRecord:
        size = os.fstat(fd).st_size
        if size == 0:
            seq, prev = 1, GENESIS
        else:
            last = _parse_line(_last_line(fd, size))
            if isinstance(last, str):
                raise AuditError(f"the audit log's last record is damaged ({last}); run 'healcrew audit verify'")
            seq, prev = last.seq + 1, last.hash
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        full = {**body, "seq": seq, "time": now, "prev": prev}
        full["hash"] = record_hash(full)
        record = AuditRecord.model_validate(full)
        line = canonical(full) + b"\n"
        if len(line) > MAX_LINE_BYTES:
            raise AuditError(f"audit record too large ({len(line)} bytes)")
        try:
            _write_all(fd, line)
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size)  # never leave half a record behind
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror}") from None
        if size == 0:
            _fsync_dir(self.path.parent)
        return record


def _fsync_dir(folder: Path) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# --------------------------------------------------------------------------- checking


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_line(raw: bytes) -> AuditRecord | str:
    """The record on one line, or why it is not a good one (its own hash included)."""
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError):
        return "not a JSON record"
    if not isinstance(data, dict):
        return "not a JSON object"
    try:
        record = AuditRecord.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        return f"field {'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
    try:
        if canonical(data) != raw:
            return "not in canonical form (the line was rewritten)"
    except (rfc8785.CanonicalizationError, ValueError):
        return "not canonical JSON"
    if record_hash(data) != record.hash:
        return "its hash does not match its content (the record was edited)"
    return record


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(1-based number, line without newline, whether it ended with a newline) for each line."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise AuditError(f"audit log not found: {path}") from None
    except IsADirectoryError:
        raise AuditError(f"audit log is a directory: {path}") from None
    except OSError as exc:
        raise AuditError(f"cannot read the audit log {path}: {exc.strerror}") from None
    with fh:
        number = 0
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise AuditError(f"cannot read the audit log {path}: {exc.strerror}") from None
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                yield number, b"", False
                return
            yield number, raw.rstrip(b"\n"), raw.endswith(b"\n")


def _problem(raw: bytes, ended: bool, seq: int, prev: str) -> AuditRecord | str:
    """The record on this line if it follows record ``seq`` (hash ``prev``), else why not."""
    if not ended:
        return "the record is cut short (no end of line, or longer than the limit)"
    parsed = _parse_line(raw)
    if isinstance(parsed, str):
        return parsed
    if parsed.seq != seq + 1:
        what = "a record before it is missing" if parsed.seq > seq + 1 else "records are out of order or repeated"
        return f"seq {parsed.seq} where {seq + 1} was expected ({what})"
    if parsed.prev != prev:
        return "prev does not match the hash of the record before it (the chain is broken)"
    return parsed


def verify_chain(path: Path, *, expect_head: str | None = None) -> ChainCheck:
    """Check every record of the log at ``path``: the first broken one and why (``AuditError`` if unreadable).

    ``expect_head`` is a hash noted earlier (a past ``head``): when no record has it, records were
    removed from the end or the log was rewritten, which the chain alone cannot show.
    """
    prev, seq, head = GENESIS, 0, None
    seen_expected = expect_head is None
    for number, raw, ended in _lines(Path(path)):
        found = _problem(raw, ended, seq, prev)
        if isinstance(found, str):
            return ChainCheck(ok=False, records=seq, first_bad=number, reason=f"line {number}: {found}", head=head)
        prev, seq, head = found.hash, found.seq, found.hash
        seen_expected = seen_expected or found.hash == expect_head
    if not seen_expected:
        return ChainCheck(ok=False, records=seq, first_bad=seq + 1, head=head,
                          reason=f"line {seq + 1}: no record has the expected head {expect_head} "
                                 "(records were removed from the end, or the log was rewritten)")
    return ChainCheck(ok=True, records=seq, head=head)
