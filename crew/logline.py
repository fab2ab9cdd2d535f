"""The unit every log source yields and the traceback extractor reads."""

from __future__ import annotations

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
