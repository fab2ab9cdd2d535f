"""Sentry-style error events as a log source: their exceptions become tracebacks, their vars frame locals.

Many services report crashes to Sentry rather than printing them; the event JSON (from the SDK,
a relay, or "JSON" in the web UI) holds more than a text traceback: each frame's local
variables as repr strings. Two shapes are read: the SDK's ``exception.values[]`` and the web
API's ``entries[type=exception].data.values[]`` (camelCase frame keys). ``values`` lists chained
exceptions oldest first, and ``stacktrace.frames`` lists frames oldest first, as a printed
traceback does, so the records built here are what the text parser builds from the equivalent
traceback, plus ``Frame.locals``.

The event is untrusted: it is parsed with :func:`crew.payloads.loads` (bounded depth), and
every list and string taken from it is capped. Nothing in it is evaluated here; vars stay text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from crew.handoffs import Frame, Traceback
from crew.logline import LogLine
from crew.payloads import MAX_DEPTH, TooDeepError, loads

MAX_EVENT_CHARS = 8 << 20
"""A longer event line is refused (Sentry itself accepts about 1 MB per event)."""
MAX_EXCEPTIONS = 32
"""Chained exceptions kept per event, the newest (outermost) ones."""
MAX_FRAMES = 256
"""Frames kept per exception: the oldest and the newest halves, as Python's own recursion report does."""
MAX_VARS = 64
MAX_VAR_NAME_CHARS = 100
MAX_VAR_CHARS = 2_000
"""Longest repr kept for one variable: longer values are not literals a test can hold anyway."""
MAX_VAR_ITEMS = 100
MAX_VAR_DEPTH = 8
MAX_TEXT_CHARS = 4_000
MAX_CONTEXT_LINES = 20
_MARKERS = ('"exception"', '"entries"')


@dataclass
class SentryRead:
    """What a log's Sentry events gave: tracebacks, data lines for reproduction, and refusals."""

    tracebacks: list[Traceback] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    others: list[LogLine] = field(default_factory=list)


def _exception_values(event: Mapping[str, Any]) -> list[Any] | None:
    exc = event.get("exception")
    if isinstance(exc, Mapping) and isinstance(exc.get("values"), list):
        return list(exc["values"])
    if isinstance(exc, list) and exc and all(isinstance(v, Mapping) and "type" in v for v in exc[:3]):
        return exc  # the older interface: a bare list of exceptions
    entries = event.get("entries")
    if isinstance(entries, list):
        for entry in entries[:50]:
            if isinstance(entry, Mapping) and entry.get("type") == "exception":
                data = entry.get("data")
                if isinstance(data, Mapping) and isinstance(data.get("values"), list):
                    return list(data["values"])
    return None


def is_event(value: Any) -> bool:
    """Is ``value`` (parsed JSON) a Sentry-style event carrying at least one exception?"""
    if not isinstance(value, Mapping):
        return False
    values = _exception_values(value) or []
    return any(isinstance(v, Mapping) and ("type" in v or "stacktrace" in v) for v in values)


def maybe_event(text: str) -> bool:
    """A cheap test: could this line be a Sentry event (a JSON object naming exception or entries)?"""
    return text.lstrip()[:1] == "{" and any(m in text for m in _MARKERS) and (
        '"values"' in text or '"stacktrace"' in text)


def _text(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value))[:limit]


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    return 0


def _repr_of(value: Any, depth: int = 0) -> str | None:
    """A Sentry var as a repr string. The SDK sends scalars as reprs and containers as JSON of reprs.

    Strings are the SDK's reprs already; containers are rebuilt around them; None when too deep
    or too big, so the variable is dropped rather than cut into something that is not its repr.
    """
    if depth > MAX_VAR_DEPTH:
        return None
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, Mapping):
        if len(value) > MAX_VAR_ITEMS:
            return None
        parts = []
        for k, v in value.items():
            inner = _repr_of(v, depth + 1)
            if inner is None:
                return None
            parts.append(f"{str(k)!r}: {inner}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list):
        if len(value) > MAX_VAR_ITEMS:
            return None
        items = [_repr_of(v, depth + 1) for v in value]
        if any(i is None for i in items):
            return None
        return "[" + ", ".join(i for i in items if i is not None) + "]"
    return None


def frame_locals(vars_: Any) -> dict[str, str]:
    """Up to ``MAX_VARS`` variables as repr strings; over-long names and values are dropped, not cut."""
    if not isinstance(vars_, Mapping):
        return {}
    out: dict[str, str] = {}
    for name, value in vars_.items():
        if len(out) >= MAX_VARS:
            break
        key = str(name)
        if not key or len(key) > MAX_VAR_NAME_CHARS:
            continue
        text = _repr_of(value)
        if text is not None and len(text) <= MAX_VAR_CHARS:
            out[key] = text
    return out


def _get(frame: Mapping[str, Any], *keys: str) -> Any:
    return next((frame[k] for k in keys if frame.get(k) not in (None, "")), None)


def _frame(raw: Mapping[str, Any]) -> Frame:
    code = _get(raw, "context_line")
    if code is None and isinstance(raw.get("context"), list):  # the web API: [[lineno, text], ...]
        line = _int(_get(raw, "lineno", "lineNo"))
        code = next((c[1] for c in raw["context"][:50]
                     if isinstance(c, list) and len(c) == 2 and c[0] == line), None)
    code_text = _text(code, 1000).strip() if isinstance(code, str) else ""
    return Frame(
        file=_text(_get(raw, "abs_path", "absPath", "filename") or "<unknown>", 1000),
        line=_int(_get(raw, "lineno", "lineNo")),
        function=_text(_get(raw, "function") or "<module>", 200),
        code=code_text or None,
        locals=frame_locals(raw.get("vars")),
    )


def _frames(value: Mapping[str, Any]) -> tuple[list[Frame], bool]:
    stack = value.get("stacktrace")
    raw = stack.get("frames") if isinstance(stack, Mapping) else None
    if not isinstance(raw, list):
        return [], False
    truncated = len(raw) > MAX_FRAMES
    if truncated:
        raw = raw[: MAX_FRAMES // 2] + raw[-(MAX_FRAMES // 2):]
    return [_frame(f) for f in raw if isinstance(f, Mapping)], truncated


def _kind(value: Mapping[str, Any]) -> Literal["cause", "context"]:
    """How the next exception chains to this one: the SDK's mechanism source, else implicit context."""
    mechanism = value.get("mechanism")
    source = mechanism.get("source") if isinstance(mechanism, Mapping) else None
    return "cause" if source == "__cause__" else "context"


def render(tb: Traceback) -> str:
    """Python's own text for one exception of the chain (the excerpt and ``raw`` show it)."""
    out = ["Traceback (most recent call last):"]
    for fr in tb.frames:
        out.append(f'  File "{fr.file}", line {fr.line}, in {fr.function}')
        if fr.code:
            out.append(f"    {fr.code}")
    out.append(f"{tb.exc_type}: {tb.exc_message}" if tb.exc_message else tb.exc_type)
    return "\n".join(out)


def _type_name(value: Mapping[str, Any]) -> str:
    name = _text(value.get("type") or "<unknown>", 200)
    module = value.get("module")
    if isinstance(module, str) and module and module not in ("builtins", "__main__") and "." not in name:
        return f"{module[:200]}.{name}"
    return name


def _timestamp(event: Mapping[str, Any]) -> datetime | None:
    stamp = event.get("timestamp") or event.get("dateCreated")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(float(stamp), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(stamp, str):
        try:
            parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def event_traceback(event: Mapping[str, Any]) -> Traceback | None:
    """The event's exceptions as one chain: the last of ``values`` is raised, each chains to the one before."""
    values = [v for v in (_exception_values(event) or []) if isinstance(v, Mapping)]
    truncated = len(values) > MAX_EXCEPTIONS
    values = values[-MAX_EXCEPTIONS:]
    tb: Traceback | None = None
    kind: Literal["cause", "context"] | None = None
    raws: list[str] = []
    for value in values:
        frames, cut = _frames(value)
        current = Traceback(
            exc_type=_type_name(value), exc_message=_text(value.get("value")), frames=frames,
            truncated=cut, timestamp=_timestamp(event),
        )
        raws.append(render(current))
        if tb is not None:
            current = current.model_copy(update={"cause": tb, "cause_kind": kind})
        tb, kind = current, _kind(value)
    if tb is None:
        return None
    separators = {"cause": "The above exception was the direct cause of the following exception:",
                  "context": "During handling of the above exception, another exception occurred:"}
    text = raws[0]
    for value, raw in zip(values, raws[1:], strict=False):
        text += f"\n\n{separators[_kind(value)]}\n\n{raw}"
    return tb.model_copy(update={"raw": text[-20_000:], "truncated": tb.truncated or truncated})


def _context(event: Mapping[str, Any]) -> list[str]:
    """Data the event carries next to the crash (the request body, breadcrumbs' data), as JSON lines."""
    out: list[str] = []
    request = event.get("request")
    if isinstance(request, Mapping) and isinstance(request.get("data"), Mapping | list):
        out.append(json.dumps({"request": request["data"]}, ensure_ascii=False)[:MAX_TEXT_CHARS])
    crumbs = event.get("breadcrumbs")
    if isinstance(crumbs, Mapping):
        crumbs = crumbs.get("values")
    if isinstance(crumbs, list):
        for crumb in crumbs[-MAX_CONTEXT_LINES:]:
            if isinstance(crumb, Mapping) and isinstance(crumb.get("data"), Mapping):
                out.append(json.dumps(crumb["data"], ensure_ascii=False)[:MAX_TEXT_CHARS])
    return out[-MAX_CONTEXT_LINES:]


def read_events(lines: Sequence[LogLine]) -> SentryRead:
    """Split ``lines`` into Sentry events (read here) and the other lines (for the text extractor)."""
    read = SentryRead()
    for line in lines:
        text = line.text
        if not maybe_event(text):
            read.others.append(line)
            continue
        if len(text) > MAX_EVENT_CHARS:
            read.refused.append(
                f"a Sentry event of {len(text)} characters is larger than the {MAX_EVENT_CHARS} accepted")
            continue
        try:
            event = loads(text)
        except TooDeepError:
            read.refused.append(f"a Sentry event is nested deeper than {MAX_DEPTH} levels")
            continue
        except ValueError:
            read.others.append(line)
            continue
        if not is_event(event):
            read.others.append(line)
            continue
        tb = event_traceback(event)
        if tb is not None:
            read.tracebacks.append(tb)
            read.context.extend(_context(event))
    return read


def document_line(doc: Any) -> LogLine | None:
    """A file that is one event (pretty-printed JSON) as one record line; None when it is no event."""
    if not is_event(doc):
        return None
    return LogLine(text=json.dumps(doc, ensure_ascii=False), timestamp=_timestamp(doc))


def looks_like_event_document(head: str) -> bool:
    """A document's first bytes name an exception the Sentry way (for a clear refusal when it cannot be read)."""
    return head.lstrip()[:1] == "{" and any(m in head for m in _MARKERS) and (
        '"values"' in head or '"event_id"' in head or '"stacktrace"' in head)
