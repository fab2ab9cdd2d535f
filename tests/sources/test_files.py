"""Log files: each supported format, and each way a file can fail to be a log."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crew.errors import BadInputError
from crew.sources.files import read_log_file

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/app/pricing.py", line 27, in calc',
    "    return p / d",
    "ZeroDivisionError: float division by zero",
]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_plain_text_keeps_lines_and_prefixes(tmp_path: Path) -> None:
    text = "2026-03-14 01:52:03,118 INFO starting\r\n" + "\n".join(TRACEBACK) + "\n"
    lines = read_log_file(write(tmp_path, "app.log", text))
    assert [ln.text for ln in lines] == ["2026-03-14 01:52:03,118 INFO starting", *TRACEBACK]
    assert all(ln.timestamp is None and ln.stream == "" for ln in lines)


def test_plain_text_starting_with_a_bracket_is_not_json(tmp_path: Path) -> None:
    lines = read_log_file(write(tmp_path, "app.json", "[2026-03-14 01:52:03] INFO up\n[2026-03-14 01:52:04] ERROR x\n"))
    assert [ln.text for ln in lines] == ["[2026-03-14 01:52:03] INFO up", "[2026-03-14 01:52:04] ERROR x"]


def test_loki_query_range_json(tmp_path: Path) -> None:
    body = {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"namespace": "shop", "pod": "p"},
         "values": [[str(1_793_758_419_000_000_000 + i), line] for i, line in reversed(list(enumerate(TRACEBACK)))]},
    ]}}
    lines = read_log_file(write(tmp_path, "logs.log", json.dumps(body, indent=2)))
    assert [ln.text for ln in lines] == TRACEBACK  # backward export comes out oldest first
    assert lines[0].stream == '{namespace="shop", pod="p"}'
    assert lines[0].timestamp == datetime(2026, 11, 4, 2, 13, 39, tzinfo=UTC)


def test_loki_matrix_json_is_bad_input(tmp_path: Path) -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    with pytest.raises(BadInputError, match="matrix"):
        read_log_file(write(tmp_path, "m.json", json.dumps(body)))


def test_json_array_of_lines(tmp_path: Path) -> None:
    lines = read_log_file(write(tmp_path, "lines.json", json.dumps(["INFO up", "\n".join(TRACEBACK)])))
    assert [ln.text for ln in lines] == ["INFO up", *TRACEBACK]


def test_json_array_of_numbers_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="JSON array"):
        read_log_file(write(tmp_path, "n.json", "[1, 2, 3]"))


def test_json_lines_stay_whole_with_their_timestamp(tmp_path: Path) -> None:
    records = [
        {"event": "sync.start", "level": "info", "timestamp": "2026-03-14T03:00:01.519114Z"},
        {"event": "sync.failed", "level": "error", "timestamp": "2026-03-14T03:00:01.919114Z",
         "exception": "\n".join(TRACEBACK)},
    ]
    raw = [json.dumps(r) for r in records]
    lines = read_log_file(write(tmp_path, "app.jsonl", "\n".join([raw[0], "not json at all", raw[1]]) + "\n"))
    assert [ln.text for ln in lines] == [raw[0], "not json at all", raw[1]]
    assert lines[0].timestamp == datetime(2026, 3, 14, 3, 0, 1, 519114, tzinfo=UTC)
    assert lines[1].timestamp is None


def test_single_json_record_file_is_a_json_line(tmp_path: Path) -> None:
    raw = json.dumps({"event": "boom", "exception": "\n".join(TRACEBACK)})
    assert [ln.text for ln in read_log_file(write(tmp_path, "one.json", raw))] == [raw]


def test_docker_json_file_records_are_unwrapped_and_split_lines_joined(tmp_path: Path) -> None:
    def rec(log: str, stream: str = "stderr", time: str = "2026-03-14T03:00:01.123456789Z") -> str:
        return json.dumps({"log": log, "stream": stream, "time": time})

    rows = [
        rec("INFO up\n", "stdout", "2026-03-14T03:00:00.000000001Z"),
        *(rec(line + "\n") for line in TRACEBACK[:3]),
        rec("ZeroDivisionError: float "),  # docker splits long lines into records without "\n"
        rec("division by zero\n"),
    ]
    lines = read_log_file(write(tmp_path, "container-json.log", "\n".join(rows) + "\n"))
    assert [ln.text for ln in lines] == ["INFO up", *TRACEBACK]
    assert lines[0].stream == "stdout" and lines[1].stream == "stderr"
    assert lines[1].timestamp == datetime(2026, 3, 14, 3, 0, 1, 123456, tzinfo=UTC)


def test_logcli_jsonl_is_unwrapped_with_its_labels(tmp_path: Path) -> None:
    row = {"labels": {"pod": "p", "namespace": "shop"}, "line": "ZeroDivisionError: x",
           "timestamp": "2026-11-04T02:13:39.309353531Z"}
    (line,) = read_log_file(write(tmp_path, "logcli.jsonl", json.dumps(row) + "\n"))
    assert line.text == "ZeroDivisionError: x"
    assert line.stream == '{namespace="shop", pod="p"}'
    assert line.timestamp == datetime(2026, 11, 4, 2, 13, 39, 309353, tzinfo=UTC)


def test_occasional_bad_bytes_are_replaced_and_bom_dropped(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbfINFO caf\xe9 opened\n" + "\n".join(TRACEBACK).encode()
    lines = read_log_file(write(tmp_path, "latin.log", data))
    assert lines[0].text == "INFO caf\ufffd opened"
    assert lines[-1].text == TRACEBACK[-1]


def test_gigantic_file_reads_only_the_tail(tmp_path: Path) -> None:
    head = "".join(f"INFO filler line {i}\n" for i in range(5000))
    path = write(tmp_path, "big.log", head + "\n".join(TRACEBACK) + "\n")
    lines = read_log_file(path, max_bytes=4096)
    assert [ln.text for ln in lines][-4:] == TRACEBACK
    assert lines[0].text.startswith("INFO filler line ")  # starts on a whole line
    assert sum(len(ln.text) + 1 for ln in lines) <= 4096


def test_gigantic_json_document_is_bad_input(tmp_path: Path) -> None:
    body = {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"pod": "p"}, "values": [[str(10**18 + i), f"line {i}"] for i in range(2000)]}]}}
    path = write(tmp_path, "big.json", json.dumps(body, indent=2))
    with pytest.raises(BadInputError, match="JSON document larger than 4096 bytes"):
        read_log_file(path, max_bytes=4096)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "nope.log", "not found"),
        (lambda p: p, "is a directory"),
        (lambda p: write(p, "empty.log", ""), "is empty"),
        (lambda p: write(p, "blank.log", "\n \n\t\n"), "is empty"),
        (lambda p: write(p, "core", bytes(range(256)) * 64), "binary"),
        (lambda p: write(p, "utf16.log", "hello log\n".encode("utf-16-le") * 50), "binary"),
        (lambda p: write(p, "latin1.bin", bytes([0x80 + i % 64 for i in range(4096)])), "not UTF-8"),
        (lambda p: write(p, "logs.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 64), "gzip"),
    ],
)
def test_unusable_files_are_bad_input_in_one_line(tmp_path: Path, make: object, match: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(BadInputError, match=match) as err:
        read_log_file(path)
    assert "\n" not in str(err.value)


def test_nul_run_left_by_copytruncate_is_skipped(tmp_path: Path) -> None:
    lines = read_log_file(write(tmp_path, "rotated.log", b"\0" * 100_000 + "\n".join(TRACEBACK).encode()))
    assert [ln.text for ln in lines] == TRACEBACK


def test_fifo_is_bad_input(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(BadInputError, match="not a regular file"):
        read_log_file(fifo)


@pytest.mark.parametrize(
    "name", ["pricing-zero-division/logs.json", "profile-none-attribute/logs.jsonl", "orders-schema-keyerror/logs.txt"]
)
def test_example_bundle_logs_read(name: str) -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "incidents" / name
    if not path.is_file():
        pytest.skip(f"example {name} not present")
    lines = read_log_file(path)
    assert len(lines) > 10
    assert any("Error" in ln.text for ln in lines)


def test_streamed_read_keeps_crashes_far_from_the_end_and_counts_every_line(tmp_path: Path) -> None:
    noise = "".join(f"INFO tick {i}\n" for i in range(20_000))
    path = write(tmp_path, "long.log", "\n".join(TRACEBACK) + "\n" + noise + "INFO done\n")
    lines = read_log_file(path)
    assert lines.scanned == len(TRACEBACK) + 20_001
    assert [ln.text for ln in lines][: len(TRACEBACK)] == TRACEBACK  # the crash and its window are kept
    assert lines[-1].text == "INFO done"
    assert len(lines) < 3_000  # the noise between is not


def test_a_line_longer_than_the_cap_keeps_its_head(tmp_path: Path) -> None:
    from crew.sources.files import MAX_LINE_CHARS

    path = write(tmp_path, "wide.log", "x" * (3 * MAX_LINE_CHARS) + "\n" + "\n".join(TRACEBACK) + "\n")
    lines = read_log_file(path)
    assert len(lines[0].text) <= MAX_LINE_CHARS
    assert [ln.text for ln in lines][1:] == TRACEBACK
