"""The local canary's one time factor: durations read, PromQL ranges scaled with their floor, and the
planned length of a Rollout's steps (no Docker)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from crew.canary.local import judging
from crew.canary.local.engine import DEFAULT_TIME_SCALE, MIN_RANGE, planned_seconds
from crew.canary.local.prometheus import SCRAPE_INTERVAL
from crew.canary.local.scaling import check_scale, format_seconds, parse_duration, scale_ranges
from crew.canary.local.spec import parse_rollout, parse_template, read_manifest
from crew.errors import BadInputError

DEPLOY = Path(__file__).resolve().parents[3] / "examples" / "pricing-service" / "deploy"


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90.0), ("2m", 120.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1.5m", 90.0), ("1d", 86400.0),
    ("45", 45.0), (30, 30.0), (2.5, 2.5), ("  5m ", 300.0),
])
def test_durations_are_read_as_argo_and_prometheus_write_them(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 m", "5x", "m5", "1h-30m", "-5s", -1, True, "5m30"])
def test_a_malformed_duration_is_a_one_line_error(text: object) -> None:
    with pytest.raises(BadInputError, match="pause"):
        parse_duration(text, "pause")  # type: ignore[arg-type]


@pytest.mark.parametrize(("seconds", "text"), [
    (120.0, "120s"), (4.8, "4800ms"), (0.25, "250ms"), (4.0, "4s"), (0.0001, "1ms"), (9.6, "9600ms"),
])
def test_seconds_become_a_promql_duration_in_whole_milliseconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds, abs=0.001)


@pytest.mark.parametrize(("query", "factor", "expected"), [
    ("rate(x[2m])", 0.1, "rate(x[12s])"),
    ("rate(x[2m])", 0.05, "rate(x[6s])"),
    ("rate(x[2m])", 0.01, "rate(x[4s])"),  # 1.2 s is floored to four scrape intervals
    ("increase(x[1h30m])", 0.001, "increase(x[5400ms])"),
    ("max_over_time(rate(x[1m])[10m:1m])", 0.1, "max_over_time(rate(x[6s])[60s:6s])"),  # a subquery: both parts
    ("max_over_time(rate(x[1m])[10m:])", 0.1, "max_over_time(rate(x[6s])[60s:])"),  # default step stays default
    ("max_over_time(x[10m:4s])", 0.1, "max_over_time(x[60s:1s])"),  # the step is floored to one scrape
    ("sum(rate(a[2m])) / sum(rate(b[ 5m ]))", 0.08, "sum(rate(a[9600ms])) / sum(rate(b[24s]))"),
    ('sum(x{code=~"5.."})', 0.1, 'sum(x{code=~"5.."})'),  # no range: unchanged
    ("x[2m]", 1.0, "x[120s]"),
])
def test_every_range_is_scaled_with_a_floor(query: str, factor: float, expected: str) -> None:
    assert scale_ranges(query, factor, MIN_RANGE) == expected


def test_the_floor_is_four_scrape_intervals() -> None:
    assert MIN_RANGE == 4 * SCRAPE_INTERVAL


def test_the_flagship_ranges_keep_their_share_of_a_step() -> None:
    template = parse_template(read_manifest(DEPLOY / "analysis-template.yaml", "AnalysisTemplate"))
    rollout = parse_rollout(read_manifest(DEPLOY / "rollout.yaml", "Rollout"))
    pause = next(s.pause for s in rollout.steps if s.kind == "pause")
    assert pause == 120.0
    for m in template.metrics:
        scaled = scale_ranges(m.query, DEFAULT_TIME_SCALE, MIN_RANGE)
        ranges = [parse_duration(r) for r in _ranges(scaled)]
        originals = [parse_duration(r) for r in _ranges(m.query)]
        assert ranges and len(ranges) == len(originals)
        for original, now in zip(originals, ranges, strict=True):
            assert now / (pause * DEFAULT_TIME_SCALE) == pytest.approx(original / pause)


def _ranges(query: str) -> list[str]:
    import re

    return re.findall(r"\[([0-9a-z]+)\]", query)


@pytest.mark.parametrize("scale", [0.0, -0.1, math.nan, math.inf, "0.1", None, True])
def test_a_time_scale_must_be_a_positive_finite_number(scale: object) -> None:
    with pytest.raises(BadInputError, match="time_scale must be a positive number"):
        check_scale(scale)  # type: ignore[arg-type]


def test_a_valid_time_scale_is_kept() -> None:
    assert check_scale(0.05) == 0.05 and check_scale(2) == 2.0 and isinstance(check_scale(2), float)


def test_the_planned_length_of_the_flagship_steps_scales_linearly() -> None:
    template = parse_template(read_manifest(DEPLOY / "analysis-template.yaml", "AnalysisTemplate"))
    rollout = parse_rollout(read_manifest(DEPLOY / "rollout.yaml", "Rollout"))
    # unscaled: pauses 2m + 2m + 1m; each of the two analyses takes (count - 1) intervals of 1m
    unscaled = 120 + 120 + 60 + 2 * (3 - 1) * 60
    judged = sum(1 for s in rollout.steps if s.kind != "setWeight")  # each judged step adds one window
    assert judged == 5
    for scale in (0.01, 0.05, DEFAULT_TIME_SCALE, 1.0):
        assert planned_seconds(rollout, template, scale) == pytest.approx(unscaled * scale + judged * judging.WINDOW)
    # the engine's own note: at the default scale the flagship's steps take about 45 s
    assert planned_seconds(rollout, template, DEFAULT_TIME_SCALE) == pytest.approx(45, abs=5)
