"""Pull Python tracebacks out of real-world log lines (the Monitoring agent's core).

Logs reach us prefixed (timestamps, pod names, levels, ``web-1  | ``), wrapped in JSON
(structlog, python-json-logger, ECS, Docker's json-file), reversed (Loki returns newest
first) and interleaved (concurrent requests, several workers writing one stream). The
extractor works in two phases so that each concern stays small:

1. *Collect*: a small state machine per open traceback ("collector") decides which lines
   belong to it. The prefix in front of ``Traceback (most recent call last):`` is learnt from
   the header line and stripped from the continuation lines (timestamps inside it are
   generalised, everything else such as a thread id or a pid must match literally, which is
   what keeps concurrent producers apart). Lines that do not fit the traceback grammar are
   skipped, not swallowed, up to a bound.
2. *Parse*: the collected, prefix-free lines are parsed into :class:`Traceback` records:
   chains (``cause``/``context``), ExceptionGroup boxes (recursively), SyntaxError carets.

Speed matters because a crash-looping service writes mostly noise: a line is looked at with
plain substring tests first and only candidate lines reach a regular expression or
``json.loads``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from crew.handoffs import Carets, Frame, SyntaxErrorDetail, Traceback
from crew.logline import LogLine
from crew.payloads import loads

__all__ = ["UNKNOWN_EXC_TYPE", "extract_tracebacks", "parse_traceback_text"]

#: exc_type of a traceback whose exception line never arrived (log cut mid-trace).
UNKNOWN_EXC_TYPE = "<unknown>"

HEADER = "Traceback (most recent call last):"
_HEADER_CORE = "Traceback (most recent call last)"
SEP_CONTEXT = "During handling of the above exception, another exception occurred:"
SEP_CAUSE = "The above exception was the direct cause of the following exception:"

MAX_RAW_CHARS = 20_000
MAX_MESSAGE_CHARS = 4_000
MAX_MESSAGE_LINES = 30
MAX_TENTATIVE_LINES = 3
MAX_BLOCK_LINES = 5_000
#: consecutive unrelated lines an open traceback tolerates before it is given up as cut.
MAX_SKIP = 200
#: open tracebacks per producer; beyond it the oldest is closed (headers with ever-new prefixes).
MAX_OPEN = 32
#: ExceptionGroup boxes inside boxes that are parsed; deeper members are dropped (``truncated``).
MAX_NESTING = 16
#: exceptions of one chain (``__cause__``/``__context__``) kept, the outermost ones.
MAX_CHAIN = 32
#: a prefix longer than this is matched literally (no generalised timestamps, no regex).
MAX_PREFIX_CHARS = 2_000
#: volatile parts (timestamps) of a prefix that are generalised; the rest must match literally.
MAX_VOLATILE_PARTS = 4
#: longest line that can be a ``File "...", line N`` frame (paths are at most PATH_MAX).
MAX_FRAME_CHARS = 8_192

# Every pattern below is matched in time linear in the line: log lines are untrusted and may be
# megabytes long, so none has two adjacent quantifiers that can share characters.
_FRAME_RE = re.compile(r'\s*File "(?P<file>.+?)", line (?P<line>\d+)(?:, in (?P<func>.+))?')
_EXC_RE = re.compile(r"^(?P<type>[A-Za-z_][\w]*(?:\.[A-Za-z_<][\w<>]*)*)(?::(?: (?P<msg>.*)|$))?$")
_CARET_CHARS_RE = re.compile(r"[\s~^]+")
_TRUNC_RE = re.compile(
    r"\[truncated\]|\(truncated\)|<truncated>|\.\.\.\s*\d+ more\b|\u2026$|\[\.\.\.\]$", re.IGNORECASE
)
_ISO_RE = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d+))?(?:\s?(Z|[+-]\d\d:?\d\d)\b)?")
_ISO_START_RE = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?")
# Parts of a prefix that change from line to line of one producer: generalised when the
# prefix learnt on the header line is matched against continuation lines.
_VOLATILE_RE = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|\d\d:\d\d:\d\d(?:[.,]\d+)?"
    r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d\b"
    r"|\b\d{10}(?:\.\d+)?\b"
)
# The start of a new log record: ends a multi-line exception message.
_RECORD_START_RE = re.compile(
    r"^(?:\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d|\[|\{|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
    r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d "
    r"|(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|TRACE|NOTICE)\b)"
)
_NOT_EXC_NAMES = frozenset({"Traceback", "Caused", "During", "The", "Exception Group"})
_BARE_EXC_SUFFIXES = ("Error", "Exception", "Interrupt", "Exit", "Warning", "Iteration", "Group")

_TB_KEYS = ("exc_info", "exception", "exc_text", "stack_trace", "stack", "traceback", "stacktrace")
_MSG_KEYS = ("log", "message", "msg", "MESSAGE", "text", "event", "line")
_TS_KEYS = ("timestamp", "@timestamp", "time", "ts", "asctime", "t", "date")
_JSON_MARKERS = ("Traceback", "File ", "Error", "Exception", "exc_info", "stack", "exception")


def extract_tracebacks(lines: Iterable[LogLine]) -> list[Traceback]:
    """Every Python traceback in ``lines``, in log order (outermost exception of each chain)."""
    ordered = _order(list(lines))
    return _Extractor(ordered).run()


def parse_traceback_text(text: str, *, truncated: bool = False) -> Traceback | None:
    """Parse one clean traceback (no log prefixes), e.g. a JSON record's ``exc_info`` field."""
    return _parse_block(text.splitlines(), truncated)


# --------------------------------------------------------------------------- ordering


def _order(lines: list[LogLine]) -> list[LogLine]:
    """Put lines oldest-first: Loki answers newest-first; timestamps, when present, decide.

    Without timestamps, each stream whose tracebacks read upside down (frames before the
    header) is reversed.
    """
    lines = _order_by_time(lines)
    return _unreverse_streams(lines)


def _ts_key_text(text: str) -> str | None:
    """A sortable key from a leading ISO timestamp (cheap checks first: most lines have none)."""
    if len(text) >= 19 and text[4] == "-" and text[13] == ":":
        m = _ISO_START_RE.match(text)
        if m:
            return f"{m.group(1)} {m.group(2)}.{(m.group(3) or '').ljust(9, '0')}"
    return None


def _order_by_time(lines: list[LogLine]) -> list[LogLine]:
    keys: list[Any]
    if any(line.timestamp is not None for line in lines):
        raw: list[Any] = [line.timestamp for line in lines]
        # naive and aware datetimes do not compare; compare as naive UTC-less values
        raw = [ts.replace(tzinfo=None) if ts is not None and ts.tzinfo is not None else ts for ts in raw]
    else:
        raw = [_ts_key_text(line.text) for line in lines]
    ups = downs = 0
    prev: Any = None
    for k in raw:
        if k is None:
            continue
        if prev is not None:
            if k > prev:
                ups += 1
            elif k < prev:
                downs += 1
        prev = k
    if downs == 0:
        return lines
    if downs > ups:
        lines = lines[::-1]
        raw = raw[::-1]
    # carry the last known key forward so that untimed continuation lines stay with their record
    keys = []
    last: Any = None
    for k in raw:
        if k is not None:
            last = k
        keys.append(last)
    first = next((k for k in keys if k is not None), None)
    keys = [first if k is None else k for k in keys]
    if first is None:
        return lines
    order = sorted(range(len(lines)), key=keys.__getitem__)
    return [lines[i] for i in order]


def _has_frame(text: str) -> bool:
    return 'File "' in text or 'File \\"' in text


def _unreverse_streams(lines: list[LogLine]) -> list[LogLine]:
    votes: dict[str, int] = {}
    for i, line in enumerate(lines):
        text = line.text
        if _HEADER_CORE not in text or _has_frame(text):
            continue
        stream = line.stream
        prev = _neighbour(lines, i, stream, -1)
        nxt = _neighbour(lines, i, stream, +1)
        if prev is not None and _has_frame(prev) and (nxt is None or not _has_frame(nxt)):
            votes[stream] = votes.get(stream, 0) + 1
        elif nxt is not None and _has_frame(nxt):
            votes[stream] = votes.get(stream, 0) - 1
    reversed_streams = {s for s, v in votes.items() if v > 0}
    if not reversed_streams:
        return lines
    lines = list(lines)
    for stream in reversed_streams:
        idx = [i for i, line in enumerate(lines) if line.stream == stream]
        vals = [lines[i] for i in idx]
        for i, v in zip(idx, reversed(vals), strict=True):
            lines[i] = v
    return lines


def _neighbour(lines: list[LogLine], i: int, stream: str, step: int) -> str | None:
    j = i + step
    for _ in range(20):
        if not 0 <= j < len(lines):
            return None
        if lines[j].stream == stream and lines[j].text.strip():
            return lines[j].text
        j += step
    return None


# --------------------------------------------------------------------------- helpers


def parse_iso(text: str) -> datetime | None:
    """The first ISO-8601 timestamp in ``text`` (``,`` or ``.`` fractions, ``Z`` or offset)."""
    m = _ISO_RE.search(text)
    if not m:
        return None
    date, time, frac, tz = m.groups()
    s = f"{date}T{time}"
    if frac:
        s += "." + frac[:6].ljust(6, "0")
    if tz:
        s += "+00:00" if tz == "Z" else (tz if ":" in tz else f"{tz[:3]}:{tz[3:]}")
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        return None


def _json_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        return parse_iso(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
        if seconds > 1e17:  # nanoseconds
            seconds /= 1e9
        elif seconds > 1e14:  # microseconds
            seconds /= 1e6
        elif seconds > 1e11:  # milliseconds
            seconds /= 1e3
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


@dataclass(frozen=True, slots=True)
class _Header:
    """Where a ``Traceback (most recent call last):`` header starts in a line."""

    start: int
    #: whitespace before ``+ Exception Group`` (the box indent), None when the header is not boxed
    box: int | None


_GROUP_WORDS = "Exception Group "


def _find_header(text: str) -> _Header | None:
    """The header ending ``text`` (then only ``:`` and blanks), found with string methods: linear."""
    at = text.rfind(_HEADER_CORE)
    if at < 0:
        return None
    tail = text[at + len(_HEADER_CORE) :]
    if tail.startswith(":"):
        tail = tail[1:]
    if tail.strip():
        return None
    before = text[:at]
    if not before.endswith(_GROUP_WORDS):
        return _Header(at, None)
    before = before[: -len(_GROUP_WORDS)]
    if not before.endswith("+ "):
        return _Header(len(before), None)
    before = before[:-2]
    indent_at = len(before.rstrip())
    return _Header(indent_at, len(before) - indent_at)


def _frame(text: str) -> re.Match[str] | None:
    """``File "x.py", line N[, in f]`` (leading blanks allowed), or None."""
    if len(text) > MAX_FRAME_CHARS or "File " not in text:
        return None
    return _FRAME_RE.fullmatch(text.rstrip())


def _is_caret(stripped: str) -> bool:
    """A SyntaxError / PEP 657 marker line: ``^^^``, ``~~~^^^~~`` or ``~~~~``."""
    if not stripped or _CARET_CHARS_RE.fullmatch(stripped) is None:
        return False
    return "^" in stripped or not stripped.strip().strip("~")


def _carets(line: str, code_col: int, code: str) -> Carets | None:
    """The PEP 657 marker under a frame's code line, as columns of the stripped code.

    Python prints the code stripped after four blanks and the marker aligned under it; a marker
    that starts before the code or runs past its end is not the code's, so it is dropped.
    """
    body = line.rstrip()
    start = len(body) - len(body.lstrip()) - code_col
    end = len(body) - code_col
    if start < 0 or end > len(code) or start >= end:
        return None
    mark = body[code_col + start :]
    first = mark.find("^")
    if first < 0:
        return None
    last = mark.rfind("^") + 1
    return Carets(start=start, end=end, primary_start=start + first, primary_end=start + last)


def _plausible_exc(type_name: str, has_colon: bool) -> bool:
    """Does ``type_name`` look like an exception class (and not ``INFO`` or ``Caused by``)?"""
    last = type_name.rsplit(".", 1)[-1]
    if not last or last in _NOT_EXC_NAMES or not last[0].isupper() or last.isupper():
        return False
    if has_colon:
        return True
    return last.endswith(_BARE_EXC_SUFFIXES) or last in ("KeyboardInterrupt", "StopIteration")


def _exc_line(body: str) -> tuple[str, str] | None:
    """(type, message) when ``body`` is a plausible exception line."""
    if not body or body[0] in " \t" or len(body) > 10_000:
        return None
    m = _EXC_RE.match(body.rstrip())
    if not m:
        return None
    has_colon = m.group("msg") is not None or body.rstrip().endswith(":")
    if not _plausible_exc(m.group("type"), has_colon):
        return None
    return m.group("type"), (m.group("msg") or "")


def _prefix_regex(prefix: str) -> re.Pattern[str] | None:
    """The prefix with its first timestamps generalised; None when it is to be matched literally.

    Few and short generalised parts keep matching linear: each is a bounded lazy class, and
    many of them side by side (``00:00:00 00:00:00 ...``) could share characters.
    """
    if len(prefix) > MAX_PREFIX_CHARS:
        return None
    parts: list[str] = []
    pos = 0
    for i, m in enumerate(_VOLATILE_RE.finditer(prefix)):
        if i >= MAX_VOLATILE_PARTS:
            break
        parts.append(re.escape(prefix[pos : m.start()]))
        low, high = max(1, len(m.group()) - 6), len(m.group()) + 9
        parts.append(rf"[\w:.,+\- ]{{{low},{high}}}?")  # lazy: never eat into the body
        pos = m.end()
    parts.append(re.escape(prefix[pos:]))
    return re.compile("".join(parts))


# --------------------------------------------------------------------------- collecting

_State = Literal["frames", "group", "after_exc", "after_blank", "want_header"]
_CONSUMED, _SKIPPED, _FINISHED = 0, 1, 2


@dataclass
class _Collector:
    """One traceback being assembled from the lines of one producer."""

    prefix: str
    pos: int
    timestamp: datetime | None
    rx: re.Pattern[str] | None = None
    mode: Literal["unknown", "strict", "raw"] = "unknown"
    state: _State = "frames"
    lines: list[str] = field(default_factory=list)
    tentative: list[str] = field(default_factory=list)
    group_col: int = 0
    skips: int = 0
    blanks: int = 0
    message_lines: int = 0
    last_kind: str = "header"
    truncated: bool = False

    def __post_init__(self) -> None:
        if self.prefix:
            self.rx = _prefix_regex(self.prefix)
        else:
            self.mode = "strict"

    def body(self, text: str) -> str | None:
        """``text`` without this producer's prefix, or None when it belongs to another one."""
        if not self.prefix:
            return text
        if text.startswith(self.prefix):
            m_end: int | None = len(self.prefix)
        elif self.rx is not None:
            m = self.rx.match(text)
            m_end = m.end() if m else None
        else:
            m_end = None
        if m_end is not None:
            if self.mode == "unknown":
                self.mode = "strict"
            if self.mode == "strict":
                return text[m_end:]
            return text
        if self.mode == "strict":
            return None
        if self.mode == "unknown":
            if _frame(text) or text.startswith("  + ") or text.startswith("  | "):
                self.mode = "raw"
            else:
                return None
        return text

    def same_producer(self, prefix: str) -> bool:
        """Would a header written after ``prefix`` come from this collector's producer?"""
        if not self.prefix:
            return not prefix
        if self.rx is None:
            return prefix == self.prefix
        return self.rx.fullmatch(prefix) is not None

    def start(self, body: str) -> None:
        """Begin a segment at a header line (the first one, or one after a chain separator)."""
        self.lines.append(body.rstrip())
        h = _find_header(body)
        if h is not None and h.box is not None:
            self.state = "group"
            self.group_col = body.index("+")
        else:
            self.state = "frames"
        self.last_kind = "header"
        self.skips = 0

    def skip(self) -> int:
        self.skips += 1
        if self.skips > MAX_SKIP:
            if self.state in ("frames", "group", "want_header"):
                self.truncated = True
            return _FINISHED
        return _SKIPPED

    def feed(self, text: str) -> int:
        body = self.body(text)
        if body is None:
            return self.skip()
        body = body.rstrip()
        state = self.state
        if state == "group":
            return self._feed_group(body)
        if state == "frames":
            return self._feed_frames(body)
        if state == "after_exc":
            return self._feed_after_exc(body)
        if state == "after_blank":
            stripped = body.strip()
            if not stripped:
                self.blanks += 1
                return _CONSUMED if self.blanks <= 3 else _FINISHED
            if stripped in (SEP_CAUSE, SEP_CONTEXT):
                self._confirm()
                self.lines.append("")
                self.lines.append(stripped)
                self.lines.append("")
                self.state = "want_header"
                self.skips = 0
                return _CONSUMED
            return _FINISHED
        # want_header: the header itself is routed through start() by the extractor
        if not body.strip():
            return _CONSUMED
        return self.skip()

    def _append(self, body: str, kind: str) -> None:
        if len(self.lines) < MAX_BLOCK_LINES or kind == "exc":
            self.lines.append(body)
        else:
            self.truncated = True
        self.last_kind = kind
        self.skips = 0

    def _feed_frames(self, body: str) -> int:
        if not body:
            return _CONSUMED
        if body[0] in " \t":
            stripped = body.lstrip()
            if stripped.startswith("File "):
                if not _frame(body):
                    self.truncated = True
                self._append(body, "frame")
                return _CONSUMED
            if self.last_kind in ("frame", "code") or stripped.startswith("[Previous line repeated"):
                self._append(body, "code")
                return _CONSUMED
            if _TRUNC_RE.search(stripped) or stripped == "...":
                self.truncated = True
                self._append(body, "code")
                return _CONSUMED
            return self.skip()
        if self.last_kind in ("frame", "code", "header") and _exc_line(body) is not None:
            if _TRUNC_RE.search(body):
                self.truncated = True
            self._append(body, "exc")
            self.state = "after_exc"
            self.message_lines = 0
            self.tentative = []
            return _CONSUMED
        return self.skip()

    def _feed_after_exc(self, body: str) -> int:
        stripped = body.strip()
        if not stripped:
            self.state = "after_blank"
            self.blanks = 1
            return _CONSUMED
        if stripped in (SEP_CAUSE, SEP_CONTEXT):
            self._confirm()
            self.lines += ["", stripped, ""]
            self.state = "want_header"
            self.skips = 0
            return _CONSUMED
        if _RECORD_START_RE.match(body) or stripped.startswith('File "') or _HEADER_CORE in body:
            return _FINISHED
        self.message_lines += 1
        if self.message_lines > MAX_MESSAGE_LINES:
            return _FINISHED
        if body[0] in " \t":
            self._confirm()
            self.lines.append(body)
            return _CONSUMED
        if len(self.tentative) >= MAX_TENTATIVE_LINES:
            return _FINISHED
        self.tentative.append(body)
        return _CONSUMED

    def _confirm(self) -> None:
        self.lines += self.tentative
        self.tentative = []

    def _feed_group(self, body: str) -> int:
        col = self.group_col
        inner = body[col:].lstrip()
        if inner[:1] in ("|", "+") and not body[:col].strip():
            self._append(body, "box")
            if body[col + 2 : col + 3] == "+":
                rest = body[col + 2 :]
                if rest.strip("-") == "+":  # the closing line of the outermost box
                    self.state = "after_blank"
                    self.blanks = 0
            return _CONSUMED
        if not body.strip():
            return _CONSUMED
        return self.skip()

    def finish(self) -> Traceback | None:
        # unconfirmed unindented lines after the exception line are dropped: at the end of a
        # crash log they are more often the next record than a message continuation
        truncated = self.truncated or self.state in ("frames", "group", "want_header")
        tb = _parse_block(self.lines, truncated)
        if tb is None:
            return None
        return tb.model_copy(update={"timestamp": self.timestamp})


@dataclass
class _Decoded:
    text: str | None = None
    block: str | None = None
    structured: list[Any] | None = None
    stream: str = ""
    timestamp: datetime | None = None


class _Extractor:
    """Feeds ordered lines to collectors, one list of open collectors per producer."""

    def __init__(self, lines: list[LogLine]) -> None:
        self.lines = lines
        self.results: list[tuple[int, Traceback]] = []
        self.open: dict[str, list[_Collector]] = {}
        self.busy: dict[str, int] = {}

    def run(self) -> list[Traceback]:
        busy = self.busy
        for idx, line in enumerate(self.lines):
            text = line.text
            base = line.stream
            if (
                base not in busy
                and "Traceback" not in text
                and ("{" not in text or not any(m in text for m in _JSON_MARKERS))
            ):
                continue
            key = base
            ts = line.timestamp
            if "{" in text and text.rstrip().endswith("}"):
                dec = _decode_json(text)
                if dec is not None:
                    ts = ts or dec.timestamp
                    if dec.block is not None or dec.structured is not None:
                        self._add_embedded(idx, dec, ts)
                        continue
                    if dec.text is None:
                        continue
                    text = dec.text.rstrip("\n")
                    key = f"{base}\x1f{dec.stream}" if dec.stream else base
            if "\n" in text:
                for part in text.split("\n"):
                    self._feed(idx, key, base, part, ts)
            else:
                self._feed(idx, key, base, text, ts)
        for key in list(self.open):
            for col in list(self.open.get(key, [])):
                self._close(key, col, at_eof=True)
        self.results.sort(key=lambda r: r[0])
        return [tb for _, tb in self.results]

    def _add_embedded(self, idx: int, dec: _Decoded, ts: datetime | None) -> None:
        tb: Traceback | None
        if dec.structured is not None:
            tb = _from_structured(dec.structured)
        else:
            assert dec.block is not None
            tb = parse_traceback_text(dec.block)
        if tb is not None:
            self.results.append((idx, tb.model_copy(update={"timestamp": ts})))

    def _feed(self, idx: int, key: str, base: str, text: str, ts: datetime | None) -> None:
        cols = self.open.get(key, [])
        offered: list[_Collector] = []
        for col in [c for c in cols if c.state == "group"]:
            if col.body(text) is not None:
                offered.append(col)
                res = col.feed(text)
                if res == _CONSUMED:
                    return
                if res == _FINISHED:
                    self._close(key, col)
        if _HEADER_CORE in text:
            if "\\n" in text:  # a whole traceback on one line, newlines escaped
                at = text.index(_HEADER_CORE)
                block = text[at:].replace("\\n", "\n").replace('\\"', '"')
                tb = parse_traceback_text(block)
                if tb is not None:
                    tb = tb.model_copy(update={"timestamp": ts or parse_iso(text[:at])})
                    self.results.append((idx, tb))
                return
            h = _find_header(text)
            if h is not None:
                self._header(idx, key, base, text, h, ts)
                return
        for col in list(self.open.get(key, [])):
            if col in offered:
                continue
            res = col.feed(text)
            if res == _CONSUMED:
                return
            if res == _FINISHED:
                self._close(key, col)

    def _header(self, idx: int, key: str, base: str, text: str, h: _Header, ts: datetime | None) -> None:
        start = h.start
        if h.box is not None:  # "  + Exception Group": the box indent is not prefix
            start = h.start + max(0, h.box - 2)
        prefix = text[:start]
        cols = self.open.get(key, [])
        for col in cols:
            if col.state == "want_header":
                body = col.body(text)
                if body is not None:
                    col.start(body)
                    return
        for col in list(cols):
            if col.same_producer(prefix):
                self._close(key, col)
        if ts is None:
            ts = parse_iso(prefix) if prefix else None
            if ts is None:
                ts = self._previous_time(idx, base)
        col = _Collector(prefix=prefix, pos=idx, timestamp=ts)
        col.start(text[len(prefix) :])
        self.open.setdefault(key, []).append(col)
        self.busy[base] = self.busy.get(base, 0) + 1
        if len(self.open[key]) > MAX_OPEN:  # every line is offered to every open one: keep them few
            self._close(key, self.open[key][0])

    def _previous_time(self, idx: int, base: str) -> datetime | None:
        """A header written by ``logging`` has no prefix: its record's first line has the time."""
        j = idx - 1
        while j >= 0 and idx - j <= 5:
            line = self.lines[j]
            if line.stream == base:
                if line.timestamp is not None:
                    return line.timestamp
                return parse_iso(line.text[:40])
            j -= 1
        return None

    def _close(self, key: str, col: _Collector, *, at_eof: bool = False) -> None:
        cols = self.open.get(key, [])
        if col not in cols:
            return
        cols.remove(col)
        if not cols:
            del self.open[key]
        base = key.split("\x1f", 1)[0]
        self.busy[base] -= 1
        if self.busy[base] <= 0:
            del self.busy[base]
        tb = col.finish()
        if tb is not None:
            self.results.append((col.pos, tb))


# --------------------------------------------------------------------------- JSON records


def _decode_json(text: str) -> _Decoded | None:
    j = text.find("{")
    try:
        obj = loads(text[j:])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    dec = _Decoded()
    for k in _TS_KEYS:
        if k in obj:
            dec.timestamp = _json_time(obj[k])
            if dec.timestamp is not None:
                break
    stream = obj.get("stream")
    if isinstance(stream, str):
        dec.stream = stream
    found = _find_traceback(obj, 0)
    if isinstance(found, list):
        dec.structured = found
        return dec
    if isinstance(found, str):
        dec.block = found
        return dec
    for k in _MSG_KEYS:
        value = obj.get(k)
        if isinstance(value, str):
            dec.text = value
            break
    return dec


def _find_traceback(obj: Any, depth: int) -> str | list[Any] | None:
    """A formatted traceback (or structlog's dict form) anywhere in a JSON record."""
    if depth > 5:
        return None
    if isinstance(obj, dict):
        for k in _TB_KEYS:
            value = obj.get(k)
            if isinstance(value, str) and (_HEADER_CORE in value or _has_frame(value)):
                return value if _HEADER_CORE in value else _synth_header(value, obj)
            if (
                isinstance(value, list)
                and value
                and isinstance(value[0], dict)
                and "exc_type" in value[0]
                and "frames" in value[0]
            ):
                return value
        for value in obj.values():
            if isinstance(value, str):
                if _HEADER_CORE in value and "\n" in value.strip():
                    return value
            elif isinstance(value, dict | list):
                found = _find_traceback(value, depth + 1)
                if found is not None:
                    return found
    elif isinstance(obj, list):
        for value in obj[:50]:
            if isinstance(value, dict | list):
                found = _find_traceback(value, depth + 1)
                if found is not None:
                    return found
    return None


def _synth_header(frames_text: str, obj: dict[str, Any]) -> str:
    """ECS-style records may keep only the frames in the stack field, the type beside it."""
    text = HEADER + "\n" + frames_text.rstrip("\n")
    last = frames_text.rstrip("\n").rsplit("\n", 1)[-1]
    if _exc_line(last) is None:
        exc_type = obj.get("type") or obj.get("exc_type")
        if isinstance(exc_type, str):
            msg = obj.get("message") or obj.get("exc_value") or ""
            text += f"\n{exc_type}: {msg}" if msg else f"\n{exc_type}"
    return text


def _from_structured(stacks: list[Any]) -> Traceback | None:
    """structlog's ``dict_tracebacks``: stacks[0] is the raised exception, then its causes."""
    tb: Traceback | None = None
    kinds: list[Literal["cause", "context"] | None] = []
    built: list[Traceback] = []
    for stack in stacks:
        if not isinstance(stack, dict):
            continue
        frames = []
        for fr in stack.get("frames") or []:
            if isinstance(fr, dict):
                code = fr.get("line")
                frames.append(
                    Frame(
                        file=str(fr.get("filename", "")),
                        line=int(fr.get("lineno") or 0),
                        function=str(fr.get("name", "")),
                        code=code.strip() if isinstance(code, str) and code.strip() else None,
                    )
                )
        members: list[Traceback] = []
        for sub in stack.get("exceptions") or []:
            member = _from_structured(sub if isinstance(sub, list) else [sub])
            if member is not None:
                members.append(member)
        built.append(
            Traceback(
                exc_type=str(stack.get("exc_type") or UNKNOWN_EXC_TYPE),
                exc_message=str(stack.get("exc_value") or "")[:MAX_MESSAGE_CHARS],
                frames=frames,
                group=members,
            )
        )
        kinds.append("cause" if stack.get("is_cause") else "context")
    built = [t.model_copy(update={"raw": _render(t)}) for t in built]
    # innermost cause first, then wrap outwards
    for i in range(len(built) - 1, -1, -1):
        cur = built[i]
        if tb is not None:
            cur = cur.model_copy(update={"cause": tb, "cause_kind": kinds[i + 1]})
        tb = cur
    return tb


def _render(tb: Traceback) -> str:
    """Python's own text for a traceback that arrived as data (structlog's dict form)."""
    out = [HEADER]
    for fr in tb.frames:
        out.append(f'  File "{fr.file}", line {fr.line}, in {fr.function}')
        if fr.code:
            out.append(f"    {fr.code}")
    out.append(f"{tb.exc_type}: {tb.exc_message}" if tb.exc_message else tb.exc_type)
    return "\n".join(out)[:MAX_RAW_CHARS]


# --------------------------------------------------------------------------- parsing


def _parse_block(lines: list[str], truncated: bool, nesting: int = 0) -> Traceback | None:
    """Parse prefix-free traceback lines; the result is the outermost exception of a chain.

    Chains longer than ``MAX_CHAIN`` keep their outermost exceptions: a nested ``cause`` per
    separator would otherwise let one log line build a model too deep to serialise.
    """
    segments: list[tuple[Literal["cause", "context"] | None, list[str]]] = []
    kind: Literal["cause", "context"] | None = None
    cur: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped in (SEP_CAUSE, SEP_CONTEXT):
            segments.append((kind, cur))
            cur = []
            kind = "cause" if stripped == SEP_CAUSE else "context"
        else:
            cur.append(line)
    segments.append((kind, cur))
    if len(segments) > MAX_CHAIN:
        segments = segments[-MAX_CHAIN:]
        segments[0] = (None, segments[0][1])
        truncated = True
    tb: Traceback | None = None
    for seg_kind, seg in segments:
        parsed = _parse_segment(seg, nesting)
        if parsed is None:
            continue
        if tb is not None:
            parsed = parsed.model_copy(update={"cause": tb, "cause_kind": seg_kind})
        tb = parsed
    if tb is None:
        return None
    raw = "\n".join(lines).strip("\n")
    if len(raw) > MAX_RAW_CHARS:
        raw = raw[:MAX_RAW_CHARS]
    update: dict[str, Any] = {"raw": raw}
    if truncated:
        update["truncated"] = True
    return tb.model_copy(update=update)


def _parse_segment(seg: list[str], nesting: int = 0) -> Traceback | None:
    while seg and not seg[0].strip():
        seg = seg[1:]
    if not seg:
        return None
    m = re.match(r"^(\s*)\+ Exception Group Traceback", seg[0])
    if m:
        col = len(m.group(1))
        return _parse_member([line[col:] for line in seg], nesting)
    return _parse_plain(seg)


def _parse_member(lines: list[str], nesting: int = 0) -> Traceback | None:
    """A boxed exception (box at column 0): its own lines, then ``+-+`` members, recursively.

    Boxes deeper than ``MAX_NESTING`` are not parsed (the group is marked truncated).
    """
    own: list[str] = []
    i = 0
    while i < len(lines) and not lines[i].startswith("+-+"):
        line = lines[i]
        if line[:1] in ("|", "+"):
            own.append(line[2:])
        i += 1
    members, more = _split_members(lines[i:])
    tb = _parse_block(own, False, nesting + 1)
    if tb is None:
        return None
    if members and nesting >= MAX_NESTING:
        members, more = [], True
    if members or more:
        group = [t for t in (_parse_member(m, nesting + 1) for m in members) if t is not None]
        tb = tb.model_copy(update={"group": group, "truncated": tb.truncated or more})
    return tb


def _split_members(rest: list[str]) -> tuple[list[list[str]], bool]:
    members: list[list[str]] = []
    current: list[str] | None = None
    more = False
    for line in rest:
        if line.startswith("+-+"):
            current = []
            members.append(current)
            continue
        inner = line[2:]
        if inner.startswith("+-") and not inner.startswith("+-+"):
            if "..." in inner:
                more = True
                current = None
            elif any(ch.isdigit() for ch in inner):
                current = []
                members.append(current)
            else:
                current = None
            continue
        if current is not None:
            current.append(inner)
    return [m for m in members if m], more


def _parse_plain(seg: list[str]) -> Traceback | None:
    frames: list[dict[str, Any]] = []
    syn: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    truncated = False
    exc_at: int | None = None
    for i, line in enumerate(seg):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.endswith(HEADER) or stripped.endswith(_HEADER_CORE):
            continue
        if _TRUNC_RE.search(stripped):
            truncated = True
        m = _frame(line)
        if m:
            entry: dict[str, Any] = {"file": m.group("file"), "line": int(m.group("line"))}
            if m.group("func"):
                entry["function"] = m.group("func")
                entry["code"] = None
                frames.append(entry)
            else:
                syn = entry
            last = entry
            continue
        if line[0] in " \t":
            if stripped.startswith("File "):
                truncated = True
                last = None
                continue
            if stripped.startswith("[Previous line repeated") or stripped.startswith("..."):
                continue
            if _is_caret(stripped):
                if last is syn and syn is not None and "code_col" in syn and "offset" not in syn:
                    caret = line.find("^")
                    if caret < 0:
                        caret = len(line) - len(line.lstrip())
                    syn["offset"] = max(1, caret - syn["code_col"] + 1)
                elif last is not None and last is not syn and "code_col" in last and "carets" not in last:
                    last["carets"] = _carets(line, last["code_col"], last["code"])
                continue
            if last is not None and last.get("code") is None and "code_col" not in last:
                last["code"] = stripped
                last["code_col"] = len(line) - len(line.lstrip())
            continue
        exc_at = i
        break
    if exc_at is None:
        if not frames and syn is None:
            return None
        exc_type, message = UNKNOWN_EXC_TYPE, ""
        truncated = True
    else:
        first = seg[exc_at].rstrip()
        m2 = _EXC_RE.match(first)
        if m2:
            exc_type, message = m2.group("type"), m2.group("msg") or ""
        else:
            exc_type, message = UNKNOWN_EXC_TYPE, first
        extra = [line.rstrip() for line in seg[exc_at + 1 :]]
        while extra and not extra[-1].strip():
            extra.pop()
        if extra:
            message = "\n".join([message, *extra])
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS]
            truncated = True
        if _TRUNC_RE.search(first):
            truncated = True
    return Traceback(
        exc_type=exc_type,
        exc_message=message,
        frames=[
            Frame(file=f["file"], line=f["line"], function=f["function"], code=f.get("code"), carets=f.get("carets"))
            for f in frames
        ],
        truncated=truncated,
        syntax_error=(
            SyntaxErrorDetail(file=syn["file"], line=syn["line"], code=syn.get("code"), offset=syn.get("offset"))
            if syn is not None
            else None
        ),
    )
