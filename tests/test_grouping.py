"""Crash grouping: one group per crash site, counted, ordered, stable across deploys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from crew.extract import extract_tracebacks
from crew.grouping import group_crashes, normalise_message, signature
from crew.handoffs import Frame, Traceback
from crew.logline import LogLine

FIXTURES = Path(__file__).parent / "fixtures" / "logs"


def read_lines(path: Path) -> list[LogLine]:
    with path.open(encoding="utf-8") as fh:
        return [LogLine(text=line.rstrip("\n")) for line in fh]


def tb(
    exc: str = "KeyError",
    msg: str = "'x'",
    frames: list[tuple[str, int, str]] | None = None,
    ts: datetime | None = None,
) -> Traceback:
    fr = frames if frames is not None else [("/app/a.py", 3, "f"), ("/app/b.py", 9, "g")]
    return Traceback(
        exc_type=exc,
        exc_message=msg,
        frames=[Frame(file=f, line=n, function=fn) for f, n, fn in fr],
        timestamp=ts,
    )


def test_repeated_crash_fixture_is_one_group_of_40() -> None:
    tbs = extract_tracebacks(read_lines(FIXTURES / "repeated_crash_40.log"))
    (group,) = group_crashes(tbs)
    assert group.count == 40
    assert group.exc_type == "ValueError"
    assert group.top_frame is not None and group.top_frame.function == "create_app"
    assert group.first_seen == datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert group.last_seen == datetime(2024, 5, 1, 10, 0, 39, tzinfo=UTC)
    assert group.example == 0


def test_gunicorn_two_workers_same_group() -> None:
    tbs = extract_tracebacks(read_lines(FIXTURES / "gunicorn_worker_boot.log"))
    groups = group_crashes(tbs)
    assert [g.count for g in groups] == [2]


def test_line_numbers_and_directories_do_not_split() -> None:
    a = tb(frames=[("/app/svc/a.py", 3, "f")])
    b = tb(frames=[("/srv/other/a.py", 30, "f")])
    assert signature(a) == signature(b)
    assert len(group_crashes([a, b])) == 1


def test_type_and_function_split() -> None:
    base = tb()
    assert signature(base) != signature(tb(exc="ValueError"))
    assert signature(base) != signature(tb(frames=[("/app/a.py", 3, "h"), ("/app/b.py", 9, "g")]))


def test_chained_cause_is_part_of_the_signature() -> None:
    outer = tb(exc="RuntimeError", msg="failed")
    with_key = outer.model_copy(update={"cause": tb(exc="KeyError"), "cause_kind": "cause"})
    with_val = outer.model_copy(update={"cause": tb(exc="ValueError"), "cause_kind": "cause"})
    assert signature(with_key) != signature(with_val)


def test_message_used_only_without_frames_and_normalised() -> None:
    assert signature(tb(msg="'a'")) == signature(tb(msg="'b'"))
    assert signature(tb(msg="'u-1042'", frames=[])) == signature(tb(msg="'u-77'", frames=[]))
    assert signature(tb(msg="'user_id'", frames=[])) != signature(tb(msg="'email'", frames=[]))


def test_normalise_message() -> None:
    assert normalise_message("object at 0x7f3a2c1d5e50 failed 3 times") == "object at <hex> failed <n> times"
    assert normalise_message("order 3f2a9c1e-8b7d-4e2a-9f10-2b6c1d0e9a77 missing") == "order <uuid> missing"
    assert normalise_message("KeyError 'user_id' and 'u-12'") == "KeyError 'user_id' and '<id>'"


def test_signature_is_short_and_stable() -> None:
    sig = signature(tb())
    assert len(sig) == 12 and int(sig, 16) >= 0
    assert sig == signature(tb())


def test_sorted_by_count_then_first_seen() -> None:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    late = [tb(exc="ValueError", ts=t0 + timedelta(minutes=5))]
    early = [tb(exc="TypeError", ts=t0)]
    many = [tb(exc="KeyError", ts=t0 + timedelta(minutes=9, seconds=i)) for i in range(3)]
    groups = group_crashes(late + early + many)
    assert [(g.exc_type, g.count) for g in groups] == [("KeyError", 3), ("TypeError", 1), ("ValueError", 1)]
    assert groups[0].example == 2
    assert groups[0].first_seen == t0 + timedelta(minutes=9)
    assert groups[0].last_seen == t0 + timedelta(minutes=9, seconds=2)


def test_naive_and_aware_timestamps_mix() -> None:
    a = tb(ts=datetime(2024, 5, 1, 10, 0))
    b = tb(ts=datetime(2024, 5, 1, 9, 0, tzinfo=UTC))
    (g,) = group_crashes([a, b])
    assert g.first_seen == b.timestamp and g.last_seen == a.timestamp


def test_empty() -> None:
    assert group_crashes([]) == []
