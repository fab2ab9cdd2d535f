"""The audit log: records chained by hash, safe under concurrent writers, and redacted."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from crew.audit import GENESIS, AuditError, AuditLog, verify_chain
from tests.audit.appender import kill_hard, start_appender

pytestmark = pytest.mark.timeout(120)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_are_chained_from_a_fixed_genesis(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    first = log.append("alert.received", correlation_id="inc-1", actor="service", detail={"alertname": "X"})
    second = log.append("run.started", correlation_id="inc-1", actor="worker-1")
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev == GENESIS and second.prev == first.hash
    assert first.time.endswith("Z")
    rows = _lines(tmp_path / "audit.jsonl")
    assert rows[0]["action"] == "alert.received" and rows[1]["actor"] == "worker-1"
    body = {k: v for k, v in rows[1].items() if k != "hash"}
    assert rows[1]["hash"] == hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    assert (tmp_path / "audit.jsonl").read_bytes().split(b"\n")[0] == rfc8785.dumps(rows[0])
    check = verify_chain(tmp_path / "audit.jsonl")
    assert check.ok and check.records == 2 and check.first_bad is None and check.head == second.hash


def test_the_file_is_private_to_its_owner(tmp_path: Path) -> None:
    AuditLog(tmp_path / "state" / "audit.jsonl").append("x", correlation_id="", actor="a")
    assert (tmp_path / "state" / "audit.jsonl").stat().st_mode & 0o077 == 0


def _nested(depth: int) -> dict[str, object]:
    inner: dict[str, object] = {"leaf": 1}
    for _ in range(depth):
        inner = {"k": inner}
    return inner


def test_detail_is_redacted_and_bounded_before_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    key = "AKIAIOSFODNN7EXAMPLE"
    AuditLog(path).append("alert.received", correlation_id="inc-1", actor="service", detail={
        "log": f"boto creds {key} loaded", "nested": {"headers": ["Authorization: Bearer abc.def-123456"]},
        "huge": "y" * 100_000, "nan": float("nan"), "deep": _nested(12),
    })
    text = path.read_text()
    assert key not in text and "abc.def-123456" not in text
    assert "[REDACTED:" in text
    assert len(text) < 10_000
    row = _lines(path)[0]
    assert row["detail"]["nan"] == "nan"  # type: ignore[index]
    assert "[too deep]" in text
    assert verify_chain(path).ok


def test_threads_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)

    def work(n: int) -> None:
        for i in range(40):
            log.append("step", correlation_id=f"t{n}", actor="worker", detail={"i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    check = verify_chain(path)
    assert check.ok, check.reason
    assert check.records == 320
    assert [r["seq"] for r in _lines(path)] == list(range(1, 321))


def test_two_processes_and_a_thread_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    a = start_appender(path, count=150, actor="a")
    b = start_appender(path, count=150, actor="b")
    log = AuditLog(path)
    for i in range(100):
        log.append("step", correlation_id="main", actor="main", detail={"i": i})
    assert a.wait(timeout=60) == 0 and b.wait(timeout=60) == 0
    check = verify_chain(path)
    assert check.ok, check.reason
    assert check.records == 400
    actors = [r["actor"] for r in _lines(path)]
    assert actors.count("a") == 150 and actors.count("b") == 150 and actors.count("main") == 100


def test_kill_9_while_appending_leaves_a_chain_that_verifies_and_continues(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for _ in range(3):
        proc = start_appender(path)
        kill_hard(proc)
        check = verify_chain(path)
        assert check.ok, check.reason
    before = verify_chain(path)
    record = AuditLog(path).append("service.started", correlation_id="", actor="service")
    assert record.seq == before.records + 1 and record.prev == before.head
    assert verify_chain(path).ok


def test_a_failed_write_leaves_no_half_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("one", correlation_id="", actor="a")
    size = path.stat().st_size
    real_write = os.write

    def half_then_full_disk(fd: int, data: bytes) -> int:
        if fd > 2 and data.endswith(b"\n"):
            real_write(fd, data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full_disk)
    with pytest.raises(AuditError, match="No space left"):
        log.append("two", correlation_id="", actor="a")
    monkeypatch.undo()
    assert path.stat().st_size == size
    log.append("two", correlation_id="", actor="a")
    assert verify_chain(path).ok and verify_chain(path).records == 2


def test_a_write_cut_short_by_a_crash_is_moved_aside_and_the_chain_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    one = log.append("one", correlation_id="", actor="a")
    log.append("two", correlation_id="", actor="a")
    raw = path.read_bytes()
    torn = raw[raw.index(b"\n") + 1 : -20]  # "two" as a crash mid-write leaves it: no newline
    path.write_bytes(raw[:-20])
    assert "cut short" in verify_chain(path).reason
    three = log.append("three", correlation_id="c", actor="a")
    records = _lines(path)
    assert [r["action"] for r in records] == ["one", "audit_tail_cut", "three"]
    assert records[1]["prev"] == one.hash and three.seq == 3
    assert records[1]["detail"]["bytes"] == len(torn)
    assert records[1]["detail"]["sha256"] == hashlib.sha256(torn).hexdigest()
    assert log.torn_path.read_bytes() == torn + b"\n" and log.torn_path.stat().st_mode & 0o777 == 0o600
    check = verify_chain(path)
    assert check.ok and check.records == 3 and check.head == three.hash


def test_a_log_that_is_only_a_cut_short_write_starts_its_chain_again(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"action":"half')
    record = AuditLog(path).append("next", correlation_id="", actor="a")
    first = _lines(path)[0]
    assert first["action"] == "audit_tail_cut" and first["prev"] == GENESIS and record.seq == 2
    assert verify_chain(path).ok


def test_a_damaged_whole_last_line_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("one", correlation_id="", actor="a")
    path.write_bytes(path.read_bytes().replace(b'"one"', b'"0ne"'))  # edited, newline kept: not a crash
    with pytest.raises(AuditError, match="damaged"):
        log.append("two", correlation_id="", actor="a")
    assert not log.torn_path.exists()


def test_a_missing_or_unreadable_log_is_an_audit_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="not found"):
        verify_chain(tmp_path / "nope.jsonl")
    with pytest.raises(AuditError, match="directory"):
        verify_chain(tmp_path)


def test_an_empty_log_verifies_with_no_records(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"")
    check = verify_chain(tmp_path / "a.jsonl")
    assert check.ok and check.records == 0 and check.head is None


def test_the_webhook_token_from_the_environment_never_reaches_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "s3rv1ce-t0ken-ab12cd34ef"
    monkeypatch.setenv("HEALCREW_WEBHOOK_TOKEN", token)
    path = tmp_path / "audit.jsonl"
    AuditLog(path).append("alert.rejected", correlation_id="", actor=f"client {token}",
                          detail={"header": f"X-Token: {token}", "labels": {"pod": token}})
    assert token not in path.read_text()
    assert verify_chain(path).ok
