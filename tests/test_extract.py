"""The traceback extractor against the log corpus in tests/fixtures/logs, plus focused cases."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crew.extract import UNKNOWN_EXC_TYPE, extract_tracebacks, parse_traceback_text
from crew.handoffs import Traceback
from crew.logline import LogLine

FIXTURES = Path(__file__).parent / "fixtures" / "logs"
LOGS = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".log", ".jsonl") and not p.name.startswith("_"))


def read_lines(path: Path) -> list[LogLine]:
    """One LogLine per line of a text file, as the file source would deliver it."""
    with path.open(encoding="utf-8") as fh:
        return [LogLine(text=line.rstrip("\n")) for line in fh]


def lines_of(text: str, stream: str = "") -> list[LogLine]:
    return [LogLine(text=line, stream=stream) for line in text.splitlines()]


def check(tb: Traceback, want: dict[str, Any], where: str) -> None:
    assert tb.exc_type == want["exc_type"], where
    if "exc_message" in want:
        assert tb.exc_message == want["exc_message"], where
    if "exc_message_startswith" in want:
        assert tb.exc_message.startswith(want["exc_message_startswith"]), where
    assert [[f.file, f.line, f.function] for f in tb.frames] == want["frames"], where
    if "codes" in want:
        assert [f.code for f in tb.frames] == want["codes"], where
    assert tb.truncated == want.get("truncated", False), where
    if "timestamp" in want:
        assert tb.timestamp is not None, where
        assert tb.timestamp == datetime.fromisoformat(want["timestamp"]), where
    assert tb.cause_kind == want.get("cause_kind"), where
    if "cause" in want:
        assert tb.cause is not None, where
        check(tb.cause, want["cause"], where + " > cause")
    else:
        assert tb.cause is None, where
    members = want.get("group", [])
    assert len(tb.group) == len(members), where
    for i, (got, exp) in enumerate(zip(tb.group, members, strict=True)):
        check(got, exp, f"{where} > member {i}")
    if "syntax_error" in want:
        assert tb.syntax_error is not None, where
        assert tb.syntax_error.model_dump() == want["syntax_error"], where


def test_corpus_is_large_enough() -> None:
    assert len(LOGS) >= 30
    for log in LOGS:
        assert (FIXTURES / f"{log.stem}.expected.json").exists(), log.name


@pytest.mark.parametrize("log", LOGS, ids=[p.stem for p in LOGS])
def test_fixture(log: Path) -> None:
    expected = json.loads((FIXTURES / f"{log.stem}.expected.json").read_text())
    got = extract_tracebacks(read_lines(log))
    wanted = [entry for entry in expected for _ in range(entry.get("count", 1))]
    assert [t.exc_type for t in got] == [w["exc_type"] for w in wanted]
    for i, (tb, want) in enumerate(zip(got, wanted, strict=True)):
        check(tb, want, f"{log.name}[{i}]")
        assert tb.raw and len(tb.raw) <= 20_000


# --------------------------------------------------------------------------- focused cases

SIMPLE = """\
Traceback (most recent call last):
  File "/app/a.py", line 3, in f
    return 1 / 0
           ~~^~~
ZeroDivisionError: division by zero"""


def test_plain_traceback_fields() -> None:
    (tb,) = extract_tracebacks(lines_of(SIMPLE))
    assert tb.exc_type == "ZeroDivisionError"
    assert tb.exc_message == "division by zero"
    assert tb.frames[0].code == "return 1 / 0"  # the ~~^~~ marker line is not code
    assert tb.raw == SIMPLE
    assert not tb.truncated


def test_bare_exception_line_is_not_a_traceback() -> None:
    assert extract_tracebacks(lines_of("KeyError: 'x'\nValueError: nope")) == []


def test_empty_input() -> None:
    assert extract_tracebacks([]) == []


def test_prefix_is_learnt_from_header_and_stripped() -> None:
    text = "\n".join(f"app-5f7 | 2024-05-01T10:00:0{i}Z | {line}" for i, line in enumerate(SIMPLE.splitlines()))
    (tb,) = extract_tracebacks(lines_of(text))
    assert tb.frames[0].file == "/app/a.py"
    assert tb.exc_message == "division by zero"
    assert tb.timestamp == datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def test_logline_timestamp_wins_and_loki_order_is_undone() -> None:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    lines = [LogLine(text=t, timestamp=t0 + timedelta(seconds=i)) for i, t in enumerate(SIMPLE.splitlines())]
    (tb,) = extract_tracebacks(list(reversed(lines)))
    assert tb.exc_type == "ZeroDivisionError"
    assert tb.frames[0].line == 3
    assert tb.timestamp == t0


def test_streams_keep_concurrent_producers_apart() -> None:
    a = SIMPLE.splitlines()
    b = SIMPLE.replace("ZeroDivisionError: division by zero", "KeyError: 'k'").replace("a.py", "b.py").splitlines()
    lines = []
    for x, y in zip(a, b, strict=True):
        lines += [LogLine(text=x, stream="pod-a"), LogLine(text=y, stream="pod-b")]
    got = extract_tracebacks(lines)
    assert sorted((t.exc_type, t.frames[0].file) for t in got) == [
        ("KeyError", "/app/b.py"),
        ("ZeroDivisionError", "/app/a.py"),
    ]


def test_unrelated_lines_are_skipped_not_swallowed() -> None:
    body = SIMPLE.splitlines()
    noisy = [
        body[0],
        'INFO:     127.0.0.1:1 - "GET / HTTP/1.1" 200 OK',
        *body[1:3],
        'INFO:     127.0.0.1:2 - "GET / HTTP/1.1" 200 OK',
        *body[3:],
    ]
    (tb,) = extract_tracebacks(lines_of("\n".join(noisy)))
    assert tb.exc_type == "ZeroDivisionError"
    assert "GET" not in tb.raw


def test_log_cut_mid_trace_is_truncated() -> None:
    (tb,) = extract_tracebacks(lines_of("\n".join(SIMPLE.splitlines()[:2])))
    assert tb.truncated
    assert tb.exc_type == UNKNOWN_EXC_TYPE
    assert tb.frames[0].function == "f"


def test_new_header_closes_unfinished_trace() -> None:
    text = "\n".join(SIMPLE.splitlines()[:2]) + "\n" + SIMPLE
    first, second = extract_tracebacks(lines_of(text))
    assert first.truncated and not second.truncated
    assert second.exc_type == "ZeroDivisionError"


def test_json_message_field_line_by_line() -> None:
    recs = [json.dumps({"msg": line, "level": "error"}) for line in SIMPLE.splitlines()]
    (tb,) = extract_tracebacks(lines_of("\n".join(recs)))
    assert tb.exc_type == "ZeroDivisionError"


def test_nested_json_error_stack() -> None:
    rec = {"level": "error", "ctx": {"error": {"stack": SIMPLE}}, "time": 1714557600}
    (tb,) = extract_tracebacks(lines_of(json.dumps(rec)))
    assert tb.exc_type == "ZeroDivisionError"
    assert tb.timestamp == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_json_without_traceback_is_noise() -> None:
    assert extract_tracebacks(lines_of('{"level": "error", "message": "ValueError: bad input"}')) == []


def test_previous_line_repeated_is_not_a_frame() -> None:
    text = SIMPLE.replace(
        "ZeroDivisionError: division by zero",
        "  [Previous line repeated 996 more times]\nRecursionError: maximum recursion depth exceeded",
    )
    (tb,) = extract_tracebacks(lines_of(text))
    assert tb.exc_type == "RecursionError"
    assert len(tb.frames) == 1


def test_parse_traceback_text_syntax_error_offset() -> None:
    tb = parse_traceback_text(
        'Traceback (most recent call last):\n  File "/app/s.py", line 2\n    x = (1,\n        ^\n'
        "SyntaxError: '(' was never closed"
    )
    assert tb is not None and tb.syntax_error is not None
    assert (tb.syntax_error.file, tb.syntax_error.line, tb.syntax_error.offset) == ("/app/s.py", 2, 5)
    assert tb.frames == []


def test_exception_line_needs_plausible_type() -> None:
    text = SIMPLE.replace(
        "ZeroDivisionError: division by zero", "INFO: something else\nZeroDivisionError: division by zero"
    )
    (tb,) = extract_tracebacks(lines_of(text))
    assert tb.exc_type == "ZeroDivisionError"


def test_message_is_bounded() -> None:
    text = SIMPLE.replace("division by zero", "x" * 50_000)
    (tb,) = extract_tracebacks(lines_of(text))
    assert len(tb.exc_message) <= 4_000
    assert len(tb.raw) <= 20_000


def test_noise_lines_are_cheap() -> None:
    """Not a timing test of the target (that is bench/), only a guard against quadratic paths."""
    noise = [LogLine(text=f"2024-05-01T10:00:00Z INFO GET /item/{i} 200") for i in range(50_000)]
    start = time.perf_counter()
    assert extract_tracebacks(noise + lines_of(SIMPLE))[0].exc_type == "ZeroDivisionError"
    assert time.perf_counter() - start < 5


def test_nanosecond_timestamp_prefix_does_not_eat_into_the_frame_lines() -> None:
    """kubectl --timestamps writes RFC3339Nano; the prefix pattern must stop at the body."""
    from crew.extract import extract_tracebacks as extract
    from crew.logline import LogLine as Line

    text = [
        "2026-03-14T05:40:02.118407304Z Traceback (most recent call last):",
        '2026-03-14T05:40:02.118460235Z   File "/app/feed.py", line 14, in feed_header',
        "2026-03-14T05:40:02.118513166Z     latest = items[0]",
        "2026-03-14T05:40:02.118566097Z IndexError: list index out of range",
    ]
    [tb] = extract([Line(t) for t in text])
    assert [(f.file, f.line, f.function) for f in tb.frames] == [("/app/feed.py", 14, "feed_header")]


# --------------------------------------------------------------------------- PEP 657 carets

CARETS = """\
2026-01-05 10:00:01 ERROR worker-1 Traceback (most recent call last):
2026-01-05 10:00:01 ERROR worker-1   File "/app/svc/main.py", line 9, in handle
2026-01-05 10:00:01 ERROR worker-1     return price(row)
2026-01-05 10:00:01 ERROR worker-1            ^^^^^^^^^^
2026-01-05 10:00:01 ERROR worker-1   File "/app/svc/rows.py", line 3, in price
2026-01-05 10:00:01 ERROR worker-1     return row["a"]["b"]["c"] * 2
2026-01-05 10:00:01 ERROR worker-1            ~~~~~~~~^^^^^
2026-01-05 10:00:01 ERROR worker-1 KeyError: 'b'"""


def test_caret_columns_are_kept_per_frame_relative_to_the_code() -> None:
    (tb,) = extract_tracebacks(lines_of(CARETS))
    outer, inner = tb.frames
    assert outer.code == "return price(row)" and outer.carets is not None
    assert outer.code[outer.carets.start : outer.carets.end] == "price(row)"
    assert inner.carets is not None
    assert inner.code is not None
    assert inner.code[inner.carets.start : inner.carets.end] == 'row["a"]["b"]'
    assert inner.code[inner.carets.primary_start : inner.carets.primary_end] == '["b"]'


def test_caret_columns_count_characters_not_bytes() -> None:
    text = (
        'Traceback (most recent call last):\n  File "/app/u.py", line 2, in f\n'
        '    x = {"ü": None}; y = é["ü"]["z"]\n'
        "                         ~~~~~~^^^^^\n"
        "TypeError: 'NoneType' object is not subscriptable"
    )
    tb = parse_traceback_text(text)
    assert tb is not None
    frame = tb.frames[0]
    assert frame.carets is not None and frame.code is not None
    assert frame.code[frame.carets.start : frame.carets.end] == 'é["ü"]["z"]'


def test_frames_without_carets_or_with_a_misaligned_marker_have_none() -> None:
    old = 'Traceback (most recent call last):\n  File "/app/a.py", line 3, in f\n    return a / b\nZeroDivisionError: x'
    tb = parse_traceback_text(old)
    assert tb is not None and tb.frames[0].carets is None
    # a marker running past the end of the code line is not trusted
    bad = (
        'Traceback (most recent call last):\n  File "/app/a.py", line 3, in f\n'
        "    a / b\n    ~~~~~~~~~^^^^^^^\nZeroDivisionError: x"
    )
    tb = parse_traceback_text(bad)
    assert tb is not None and tb.frames[0].carets is None
