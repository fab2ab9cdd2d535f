"""Parse generator: numbers with separators or units, durations, timestamps with fractions or zones."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.handoffs import Frame
from crew.repair.templates import parse
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, make_repo, result

CODE = '''"""Readers of producer values."""
from datetime import datetime


def quantity(raw):
    return int(raw)


def weight(raw):
    return float(raw)


def request_timeout(setting):
    timeout = int(setting)
    return timeout


def seen_at(stamp):
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S")
'''
SETUP = "from app import read"
STRPTIME = Frame(file="/usr/local/lib/python3.11/_strptime.py", line=352, function="_strptime")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("parse"), {"app/__init__.py": "", "app/read.py": CODE})


def test_thousands_separators(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/read.py", "return int(raw)", "ValueError", "invalid literal for int() with base 10: '1,234'")
    best = by_strategy(parse.generate(ctx), "parse-thousands-separators")
    assert_fixes(repo, best, tmp_path, "read.quantity('1,234')", ["read.quantity('12')", "read.quantity(7)"], SETUP,
                 max_changed=2)
    assert result(repo, best, "read.quantity('1,234')", tmp_path, SETUP) == 1234
    ctx = crash(repo, "app/read.py", "return float(raw)", "ValueError", "could not convert string to float: '1,234.5'")
    best = by_strategy(parse.generate(ctx), "parse-thousands-separators")
    assert result(repo, best, "read.weight('1,234.5')", tmp_path, SETUP) == 1234.5
    assert result(repo, best, "read.weight(0.1)", tmp_path, SETUP) == 0.1


def test_trailing_unit(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/read.py", "return float(raw)", "ValueError", "could not convert string to float: '12.5kg'")
    cands = parse.generate(ctx)
    best = by_strategy(cands, "parse-strip-unit")
    assert "parse-duration-seconds" not in [c.strategy for c in cands]  # "kg" is no time unit
    assert_fixes(repo, best, tmp_path, "read.weight('12.5kg')", ["read.weight('3')", "read.weight(2.5)"], SETUP,
                 max_changed=12)
    assert result(repo, best, "read.weight('12.5 kg')", tmp_path, SETUP) == 12.5
    assert "ValueError" in str(_crash(repo, best, "read.weight('heavy')", tmp_path))  # garbage still raises


def _crash(repo: GitRepo, cand: object, call: str, tmp: Path) -> str | None:
    from tests.repair.helpers import crashes

    return crashes(repo, cand, call, tmp, SETUP)  # type: ignore[arg-type]


def test_duration_with_units_where_the_value_is_a_time_span(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/read.py", "timeout = int(setting)", "ValueError",
                "invalid literal for int() with base 10: '1h30m'")
    cands = parse.generate(ctx)
    assert cands[0].strategy == "parse-duration-seconds"
    assert_fixes(repo, cands[0], tmp_path, "read.request_timeout('1h30m')",
                 ["read.request_timeout('30')", "read.request_timeout(45)"], SETUP, max_changed=16)
    for text, seconds in (("1h30m", 5400), ("30s", 30), ("5m", 300), ("1500ms", 1)):
        assert result(repo, cands[0], f"read.request_timeout({text!r})", tmp_path, SETUP) == seconds
    assert "ValueError" in str(_crash(repo, cands[0], "read.request_timeout('soon')", tmp_path))


def test_timestamp_with_fraction_and_utc_suffix(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/read.py", "datetime.strptime(stamp", "ValueError", "unconverted data remains: .123Z",
                library=STRPTIME)
    best = by_strategy(parse.generate(ctx), "parse-date-drop-fraction")
    assert "stamp[:19]" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "read.seen_at('2024-05-01T10:00:00.123Z')",
                 ["read.seen_at('2024-05-01T10:00:00')"], SETUP, max_changed=2)


def test_timestamp_with_an_offset_is_read_with_its_zone(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/read.py", "datetime.strptime(stamp", "ValueError", "unconverted data remains: +02:00",
                library=STRPTIME)
    cands = parse.generate(ctx)
    assert "parse-date-drop-fraction" not in [c.strategy for c in cands]  # dropping an offset shifts the instant
    best = by_strategy(cands, "parse-isoformat")
    assert result(repo, best, "read.seen_at('2024-05-01T10:00:00+02:00').isoformat()", tmp_path, SETUP) == (
        "2024-05-01T10:00:00+02:00")


def test_garbage_numbers_still_yield_nothing(repo: GitRepo) -> None:
    ctx = crash(repo, "app/read.py", "return int(raw)", "ValueError", "invalid literal for int() with base 10: 'abc'")
    assert parse.generate(ctx) == []
