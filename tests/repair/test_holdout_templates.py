"""Templates for crash shapes found by the holdout benchmark (bench/holdout.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.repair.templates import index, none_guard, parse, types
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, crash, crashes, make_repo, result

SVC = '''"""A few service helpers with the bugs the holdout found."""

import json
import statistics
from datetime import date, datetime


def subject_line(message: dict) -> str:
    title = message.get("title").strip()
    return f"[{message.get('channel', 'general')}] {title}"


def call_tag(message: dict):
    return message.get("tag").copy()


def parse_event(body: str) -> dict:
    event = json.loads(body)
    return {"type": event.get("type", "unknown"), "id": event.get("id")}


def parse_reading(raw: str) -> float:
    value, unit = raw.split()
    return float(value) * {"kg": 1.0, "g": 0.001}[unit]


def event_day(starts_at: str) -> date:
    return date.fromisoformat(starts_at)


def event_time(starts_at: str) -> datetime:
    return datetime.fromisoformat(starts_at)


def summarize(samples: list) -> dict:
    return {"count": len(samples), "mean_ms": round(statistics.mean(samples), 1)}


def next_track(tracks: list, current: str) -> str:
    i = tracks.index(current)
    if i + 1 > len(tracks):
        return tracks[0]
    return tracks[i + 1]


def last(items: list):
    return items[len(items)]


def stock_line(name: str, count: str) -> str:
    return "%-8s %5d units" % (name, count)


def two_counts(a, b) -> str:
    return "%d of %d" % (a, b)
'''
SETUP = "from svc.helpers import *"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("svc"), {"svc/__init__.py": "", "svc/helpers.py": SVC})


def test_a_get_without_default_reads_a_missing_str_as_empty(svc: GitRepo, tmp_path: Path) -> None:
    ctx = crash(svc, "svc/helpers.py", 'title = message.get("title").strip()', "AttributeError",
                "'NoneType' object has no attribute 'strip'")
    best = none_guard.generate(ctx)[0]
    assert best.strategy == "get-none-default"
    assert 'title = (message.get("title") or "").strip()' in best.edits[0].updated
    assert_fixes(svc, best, tmp_path, "subject_line({'channel': 'ops'})",
                 ["subject_line({'title': ' x ', 'channel': 'a'})"], SETUP, max_changed=2)
    assert result(svc, best, "subject_line({'title': None})", tmp_path, SETUP) == "[general] "


def test_a_method_several_types_share_says_nothing_about_the_default(svc: GitRepo) -> None:
    ctx = crash(svc, "svc/helpers.py", 'return message.get("tag").copy()', "AttributeError",
                "'NoneType' object has no attribute 'copy'")
    assert none_guard.generate(ctx) == []


def test_an_empty_json_body_read_as_a_mapping_becomes_an_empty_dict(svc: GitRepo, tmp_path: Path) -> None:
    ctx = crash(svc, "svc/helpers.py", "event = json.loads(body)", "json.decoder.JSONDecodeError",
                "Expecting value: line 1 column 1 (char 0)")
    best = parse.generate(ctx)[0]
    assert best.strategy == "guard-empty-json" and "else {}" in best.edits[0].updated
    assert_fixes(svc, best, tmp_path, "parse_event('')", ["parse_event('{\"type\": \"push\", \"id\": 1}')"], SETUP)
    assert result(svc, best, "parse_event('')", tmp_path, SETUP) == {"type": "unknown", "id": None}


def test_a_decimal_comma_is_read_as_the_decimal_point(svc: GitRepo, tmp_path: Path) -> None:
    ctx = crash(svc, "svc/helpers.py", "return float(value) *", "ValueError",
                "could not convert string to float: '1,5'")
    best = parse.generate(ctx)[0]
    assert best.strategy == "parse-decimal-comma"
    assert_fixes(svc, best, tmp_path, "parse_reading('1,5 kg')", ["parse_reading('2 kg')"], SETUP, max_changed=2)
    assert result(svc, best, "parse_reading('1,5 kg')", tmp_path, SETUP) == 1.5
    assert crashes(svc, best, "parse_reading('abc kg')", tmp_path, SETUP) is not None  # garbage still raises


def test_garbage_floats_are_still_left_alone(svc: GitRepo) -> None:
    ctx = crash(svc, "svc/helpers.py", "return float(value) *", "ValueError", "could not convert string to float: 'x'")
    assert parse.generate(ctx) == []


def test_date_fromisoformat_of_a_timestamp_parses_its_date_part(svc: GitRepo, tmp_path: Path) -> None:
    ctx = crash(svc, "svc/helpers.py", "return date.fromisoformat(starts_at)", "ValueError",
                "Invalid isoformat string: '2026-11-05T10:00:00Z'")
    best = parse.generate(ctx)[0]
    assert best.strategy == "parse-date-prefix"
    assert_fixes(svc, best, tmp_path, "event_day('2026-11-05T10:00:00Z')", ["event_day('2026-01-02')"], SETUP,
                 max_changed=2)


def test_datetime_fromisoformat_with_a_z_suffix_spells_utc(svc: GitRepo) -> None:
    ctx = crash(svc, "svc/helpers.py", "return datetime.fromisoformat(starts_at)", "ValueError",
                "Invalid isoformat string: '2026-11-05T10:00:00Z'")
    best = parse.generate(ctx)[0]
    assert best.strategy == "parse-isoformat-utc"
    assert 'datetime.fromisoformat(starts_at.replace("Z", "+00:00"))' in best.edits[0].updated


def test_statistics_of_no_samples_is_an_empty_summary(svc: GitRepo, tmp_path: Path) -> None:
    ctx = crash(svc, "svc/helpers.py", "round(statistics.mean(samples), 1)", "statistics.StatisticsError",
                "mean requires at least one data point")
    assert ctx.diagnosis.root_cause == "value_parse_error"
    best = parse.generate(ctx)[0]
    assert best.strategy == "guard-empty-statistics"
    assert_fixes(svc, best, tmp_path, "summarize([])", ["summarize([1.0, 2.0])"], SETUP, max_changed=2)
    assert result(svc, best, "summarize([])", tmp_path, SETUP) == {"count": 0, "mean_ms": 0.0}


def test_a_bounds_check_off_by_one_is_corrected(svc: GitRepo, tmp_path: Path) -> None:
    ctx = crash(svc, "svc/helpers.py", "return tracks[i + 1]", "IndexError", "list index out of range")
    cands = index.generate(ctx)
    assert [c.strategy for c in cands] == ["off-by-one-bounds-check"]  # no guard that hides the wrap-around
    assert "if i + 1 >= len(tracks):" in cands[0].edits[0].updated
    assert_fixes(svc, cands[0], tmp_path, "next_track(['a', 'b'], 'b')", ["next_track(['a', 'b'], 'a')"], SETUP,
                 max_changed=2)
    assert result(svc, cands[0], "next_track(['a', 'b'], 'b')", tmp_path, SETUP) == "a"


def test_indexing_at_len_means_the_last_element(svc: GitRepo) -> None:
    ctx = crash(svc, "svc/helpers.py", "return items[len(items)]", "IndexError", "list index out of range")
    best = index.generate(ctx)[0]
    assert best.strategy == "off-by-one-last-index" and "items[len(items) - 1]" in best.edits[0].updated


def test_a_str_operand_of_percent_d_is_converted(svc: GitRepo, tmp_path: Path) -> None:
    ctx = crash(svc, "svc/helpers.py", '"%-8s %5d units" % (name, count)', "TypeError",
                "%d format: a real number is required, not str")
    best = types.generate(ctx)[0]
    assert best.strategy == "convert-format-operand" and "(name, int(count))" in best.edits[0].updated
    assert_fixes(svc, best, tmp_path, "stock_line('bolt', '3')", ["stock_line('bolt', 3)"], SETUP, max_changed=2)


def test_two_numeric_specs_are_ambiguous(svc: GitRepo) -> None:
    ctx = crash(svc, "svc/helpers.py", '"%d of %d" % (a, b)', "TypeError",
                "%d format: a real number is required, not str")
    assert types.generate(ctx) == []
