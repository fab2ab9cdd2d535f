"""Every kind of tampering with the audit log is found, at the first record it breaks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import rfc8785
from typer.testing import CliRunner

from crew.audit import AuditLog, record_hash, verify_chain
from crew.cli import app


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for n, action in enumerate(("alert.received", "run.started", "policy.decision", "branch.pushed", "pr.opened")):
        log.append(action, correlation_id="inc-7", actor="service", detail={"n": n})
    return path


def _rows(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _write(path: Path, rows: list[bytes]) -> None:
    path.write_bytes(b"".join(rows))


def test_an_untouched_log_verifies(log_file: Path) -> None:
    check = verify_chain(log_file)
    assert check.ok and check.records == 5


def test_an_edited_field_is_found_at_its_line(log_file: Path) -> None:
    rows = _rows(log_file)
    rows[2] = rows[2].replace(b'"policy.decision"', b'"policy.decisioN"')
    _write(log_file, rows)
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 3 and check.records == 2
    assert "edited" in check.reason and check.reason.startswith("line 3:")


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(log_file: Path) -> None:
    rows = _rows(log_file)
    data = json.loads(rows[1])
    data["actor"] = "mallory"
    data["hash"] = record_hash(data)
    rows[1] = rfc8785.dumps(data) + b"\n"
    _write(log_file, rows)
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 3 and "prev" in check.reason


def test_a_deleted_line_is_found(log_file: Path) -> None:
    rows = _rows(log_file)
    del rows[2]
    _write(log_file, rows)
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 3 and "missing" in check.reason


def test_a_deleted_first_line_is_found(log_file: Path) -> None:
    _write(log_file, _rows(log_file)[1:])
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 1 and check.records == 0


def test_reordered_lines_are_found(log_file: Path) -> None:
    rows = _rows(log_file)
    rows[1], rows[3] = rows[3], rows[1]
    _write(log_file, rows)
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 2
    assert "seq 4 where 2" in check.reason


def test_a_repeated_line_is_found(log_file: Path) -> None:
    rows = _rows(log_file)
    _write(log_file, [*rows[:3], rows[2], *rows[3:]])
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 4 and "repeated" in check.reason


def test_a_truncated_last_line_is_found(log_file: Path) -> None:
    log_file.write_bytes(log_file.read_bytes()[:-15])
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 5 and check.records == 4


def test_a_last_line_without_its_newline_is_cut_short(log_file: Path) -> None:
    log_file.write_bytes(log_file.read_bytes()[:-1])
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 5 and "cut short" in check.reason


@pytest.mark.parametrize("change", [
    pytest.param(lambda raw: raw.replace(b'{"action"', b'{"action":"forged","action"', 1), id="duplicate-key"),
    pytest.param(lambda raw: raw.replace(b'","', b'", "', 1), id="whitespace"),
    pytest.param(lambda raw: raw[:-2] + b',"extra":1}\n', id="extra-field"),
    pytest.param(lambda raw: b"not json\n", id="garbage"),
])
def test_a_rewritten_line_that_keeps_its_values_is_still_refused(
    log_file: Path, change: Callable[[bytes], bytes],
) -> None:
    rows = _rows(log_file)
    rows[1] = change(rows[1])
    _write(log_file, rows)
    check = verify_chain(log_file)
    assert not check.ok and check.first_bad == 2


def test_the_cli_says_ok_and_exits_0(log_file: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "verify", str(log_file)])
    assert result.exit_code == 0, result.output
    assert "5 record(s), chain verifies" in result.output


def test_the_cli_names_the_first_bad_record_and_exits_1(log_file: Path) -> None:
    rows = _rows(log_file)
    del rows[1]
    _write(log_file, rows)
    result = CliRunner().invoke(app, ["audit", "verify", "--json", str(log_file)])
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["ok"] is False and out["first_bad"] == 2 and out["records"] == 1


def test_the_cli_on_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "verify", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "not found" in result.output


def test_the_cli_defaults_to_the_service_audit_path(log_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALCREW_AUDIT_LOG", str(log_file))
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 0 and "5 record(s)" in result.output
    monkeypatch.delenv("HEALCREW_AUDIT_LOG")
    monkeypatch.setenv("XDG_STATE_HOME", str(log_file.parent / "state"))
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 2 and "state/healcrew/audit.jsonl" in result.output


def test_escapes_in_a_forged_line_do_not_reach_the_terminal(log_file: Path) -> None:
    rows = _rows(log_file)
    rows[0] = rows[0][:-2] + b',"\\u001b]8;;http://x\\u0007evil":1}\n'
    _write(log_file, rows)
    result = CliRunner().invoke(app, ["audit", "verify", str(log_file)])
    assert result.exit_code == 1 and "\x1b" not in result.output and "\x07" not in result.output


def test_records_cut_from_the_end_are_found_against_a_noted_head(log_file: Path) -> None:
    head = verify_chain(log_file).head
    assert head is not None and verify_chain(log_file, expect_head=head).ok
    _write(log_file, _rows(log_file)[:3])
    assert verify_chain(log_file).ok  # the chain alone cannot tell
    check = verify_chain(log_file, expect_head=head)
    assert not check.ok and check.first_bad == 4 and "removed from the end" in check.reason
    result = CliRunner().invoke(app, ["audit", "verify", "--expect-head", head, str(log_file)])
    assert result.exit_code == 1 and "removed from the end" in result.output


def test_a_noted_head_older_than_the_last_record_still_verifies(log_file: Path) -> None:
    head = verify_chain(log_file).head
    assert head is not None
    AuditLog(log_file).append("canary.step", correlation_id="inc-7", actor="service")
    assert verify_chain(log_file, expect_head=head).ok
