"""Group identical crashes so that a crash loop of 500 restarts reads as one problem.

Signature: a short SHA-1 over the exception type and, for every frame, the file's basename
and the function name, for the crash and each exception it chains to (plus the member types
of an ExceptionGroup).

Decisions, and why:

- **No line numbers, for any frame.** A redeploy that shifts a file by a few lines, or a
  library upgrade, must not split one crash into two groups; the function is what identifies
  the crash site (Sentry's grouping ignores line numbers for the same reason).
- **Basename, not full path.** The same code runs under ``/app``, ``/srv/app`` or a
  virtualenv in different pods.
- **The message counts only when there are no frames** (a truncated or header-less trace),
  and then normalised: numbers, hex addresses, UUIDs and quoted values that hold a digit are
  replaced, so ``KeyError: 'u-1042'`` and ``KeyError: 'u-77'`` group together while
  ``'user_id'`` and ``'email'`` stay apart.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from crew.handoffs import CrashGroup, Traceback

__all__ = ["group_crashes", "normalise_message", "signature"]

_UUID_RE = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX_RE = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{12,}\b")
_QUOTED_ID_RE = re.compile(r"""(['"])[^'"\n]*\d[^'"\n]*\1""")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
MAX_MESSAGE = 500


def normalise_message(message: str) -> str:
    """The message with its variable parts (ids, numbers, addresses) replaced by placeholders."""
    text = message.strip().split("\n", 1)[0][:MAX_MESSAGE]
    text = _UUID_RE.sub("<uuid>", text)
    text = _HEX_RE.sub("<hex>", text)
    text = _QUOTED_ID_RE.sub(r"\1<id>\1", text)
    return _NUMBER_RE.sub("<n>", text)


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path)[-1]


def _parts(tb: Traceback, depth: int = 0) -> list[str]:
    parts = [tb.exc_type]
    parts += [f"{_basename(f.file)}:{f.function}" for f in tb.frames]
    if not tb.frames:
        parts.append(normalise_message(tb.exc_message))
    if tb.group:
        parts.append("group[" + ",".join(sorted(m.exc_type for m in tb.group)) + "]")
    if tb.cause is not None and depth < 10:
        parts.append(f"<{tb.cause_kind}>")
        parts += _parts(tb.cause, depth + 1)
    return parts


def signature(tb: Traceback) -> str:
    """Stable 12-hex-digit id of a crash; equal for the same crash across deploys and pods."""
    return hashlib.sha1("\n".join(_parts(tb)).encode(), usedforsecurity=False).hexdigest()[:12]


def group_crashes(tracebacks: list[Traceback]) -> list[CrashGroup]:
    """Groups by signature, most frequent first, then the earliest seen."""
    groups: dict[str, CrashGroup] = {}
    for i, tb in enumerate(tracebacks):
        sig = signature(tb)
        group = groups.get(sig)
        if group is None:
            groups[sig] = CrashGroup(
                signature=sig,
                exc_type=tb.exc_type,
                exc_message=tb.exc_message[:MAX_MESSAGE],
                top_frame=tb.frames[-1] if tb.frames else None,
                count=1,
                first_seen=tb.timestamp,
                last_seen=tb.timestamp,
                example=i,
            )
            continue
        group.count += 1
        if tb.timestamp is not None:
            if group.first_seen is None or _before(tb.timestamp, group.first_seen):
                group.first_seen = tb.timestamp
            if group.last_seen is None or _before(group.last_seen, tb.timestamp):
                group.last_seen = tb.timestamp

    def order(g: CrashGroup) -> tuple[int, int, float, int]:
        seen = g.first_seen
        return (-g.count, seen is None, _epoch(seen) if seen is not None else 0.0, g.example)

    return sorted(groups.values(), key=order)


def _epoch(ts: datetime) -> float:
    """Naive timestamps (no zone in the log) are taken as UTC so that they compare with aware ones."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.timestamp() - (ts.astimezone().utcoffset() or datetime.now().astimezone().utcoffset()).total_seconds()  # type: ignore[union-attr]
    return ts.timestamp()


def _before(a: datetime, b: datetime) -> bool:
    return _epoch(a) < _epoch(b)
