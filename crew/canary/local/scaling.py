"""One time factor for the local canary: Argo durations and PromQL range selectors, scaled together.

A Rollout written for a cluster pauses for minutes and its analysis looks at ``[2m]`` or ``[5m]`` of
data; on one machine the same steps run ``time_scale`` times faster. Every pause, analysis
interval and range selector is multiplied by the same factor, so the queries still cover the
same share of each step; a range is never shorter than four scrape intervals, the least that
``rate()`` and ``increase()`` need to see two samples even when a scrape is late.
"""

from __future__ import annotations

import math
import re

from crew.errors import BadInputError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
# A range or subquery selector: ``[5m]``, ``[1h30m]``, ``[10m:1m]`` (both parts are scaled).
_D = r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))"
_RANGE = re.compile(rf"\[\s*({_D}+)\s*(?::\s*({_D}*)\s*)?\]")


def parse_duration(text: str | int | float, what: str = "duration") -> float:
    """Seconds of an Argo/Prometheus duration (``90s``, ``2m``, ``1h30m``); a bare number is seconds."""
    if isinstance(text, bool):
        raise BadInputError(f"{what} {text!r} is not a duration")
    if isinstance(text, int | float):
        if text < 0:
            raise BadInputError(f"{what} {text!r} is negative")
        return float(text)
    raw = str(text).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return float(raw)
    parts = _DURATION.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise BadInputError(f"{what} {text!r} is not a duration such as 30s, 2m or 1h")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def format_seconds(seconds: float) -> str:
    """A PromQL duration for ``seconds``, in whole milliseconds (PromQL accepts ``1500ms``)."""
    ms = max(1, int(round(seconds * 1000)))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scale_ranges(query: str, factor: float, min_range: float) -> str:
    """``query`` with every range selector multiplied by ``factor``, at least ``min_range`` seconds."""
    def one(match: re.Match[str]) -> str:
        window = max(min_range, parse_duration(match.group(1), "range") * factor)
        if match.group(2) is None:
            return f"[{format_seconds(window)}]"
        step = match.group(2)
        scaled_step = "" if not step else format_seconds(max(min_range / 4, parse_duration(step, "step") * factor))
        return f"[{format_seconds(window)}:{scaled_step}]"

    return _RANGE.sub(one, query)


def check_scale(time_scale: float) -> float:
    """``time_scale`` when it is a positive finite factor; a one-line error otherwise."""
    if (isinstance(time_scale, bool) or not isinstance(time_scale, int | float) or not math.isfinite(time_scale)
            or time_scale <= 0):
        raise BadInputError(f"time_scale must be a positive number, not {time_scale!r}")
    return float(time_scale)
