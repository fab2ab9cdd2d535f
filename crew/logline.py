"""The unit every log source yields and the traceback extractor reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line as a source delivered it.

    ``text`` is the line without the transport's framing (Loki's envelope, a file's newline)
    but with whatever prefix the application wrote (timestamps, levels, pod names): the
    extractor strips those. ``stream`` separates interleaved producers (Loki stream labels,
    a pod name) so that lines of concurrent processes are not mixed; "" when unknown.
    """

    text: str
    timestamp: datetime | None = None
    stream: str = ""


class LogLines(list[LogLine]):
    """The lines of a log kept for analysis, and how many were read (``scanned``).

    A streamed source keeps only what the analysis reads out of a long log; ``scanned``
    still counts every line, for the report.
    """

    def __init__(self, lines: Iterable[LogLine] = (), *, scanned: int | None = None) -> None:
        super().__init__(lines)
        self.scanned = len(self) if scanned is None else scanned


def lines_read(lines: Sequence[LogLine]) -> int:
    """How many lines the source read to produce ``lines`` (more than ``len`` when it kept a part)."""
    return lines.scanned if isinstance(lines, LogLines) else len(lines)
