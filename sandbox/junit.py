"""Test outcomes from pytest's JUnit XML: id, outcome, exception and the frame that raised.

pytest writes the failure's traceback as text. In the default (long) style its last line is the
crash location, ``path.py:LINE: ExcType``; in ``--tb=short`` the last ``path.py:LINE: in func``
line is the raising frame and ``E   ExcType: message`` holds the exception. Both are handled.

The report is written by code we do not trust, so it is parsed as hostile input: no DTD (so no
entity expansion, billion laughs or external entities; defusedxml refuses them), a size cap
before parsing, a streaming parse that drops each case once read, and every field it yields
capped. Test ids, types and messages are text for comparison and the report, never code.
"""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from sandbox.errors import SandboxError
from sandbox.results import Outcome, TestOutcome

MAX_JUNIT_BYTES = 64 << 20  # a report this large is refused unread
MAX_CASES = 20_000  # test cases read from one report
MAX_FIELD_CHARS = 2000  # test id, message and frame as reported
MAX_TRACEBACK_CHARS = 64 << 10  # of a failure's traceback text, the end (where the raising frame is)
MAX_LINE_CHARS = 2000  # traceback lines longer than this are not searched for a frame
MAX_TYPE_CHARS = 200

_FRAME = re.compile(r"^(?P<path>[^\s:][^:\n]*?\.py):(?P<line>\d+):(?P<rest>.*)$", re.MULTILINE)
_EXC = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$", re.DOTALL)
_E_LINE = re.compile(r"^E\s+(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$", re.MULTILINE)
_PHASE = re.compile(r'^failed on (?:setup|teardown|call) with "(?P<inner>.*)"$', re.DOTALL)


def parse_junit(xml: bytes | str, root: Path | None = None, workdir: str = "/work") -> list[TestOutcome]:
    """Every test case in a pytest JUnit XML report.

    ``root`` is the repo copy on the host: used to tell package dirs from modules when turning
    ``classname`` back into a node id. ``workdir`` (and ``root``) prefixes are stripped from frames.
    """
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    if len(data) > MAX_JUNIT_BYTES:
        raise SandboxError(f"JUnit XML too large: {len(data)} bytes (at most {MAX_JUNIT_BYTES})")
    prefixes = [p.rstrip("/") + "/" for p in (workdir, str(root) if root else None) if p and p != "/"]
    cases: list[TestOutcome] = []
    try:
        for _, elem in iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
            if elem.tag != "testcase":
                continue
            if len(cases) < MAX_CASES:
                cases.append(_case(elem, root, prefixes))
            elem.clear()
    except DefusedXmlException as exc:
        raise SandboxError(f"JUnit XML refused: {type(exc).__name__} (no DTD or entities allowed)") from None
    except ET.ParseError as exc:
        raise SandboxError(f"JUnit XML cannot be parsed: {exc}") from None
    return cases


def _cap(text: str | None, limit: int = MAX_FIELD_CHARS) -> str | None:
    return None if text is None else text[:limit]


def _seconds(value: str | None) -> float:
    try:
        seconds = float(value or 0.0)
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds >= 0 else 0.0


def _case(case: ET.Element, root: Path | None, prefixes: list[str]) -> TestOutcome:
    name = case.get("name", "")[:MAX_FIELD_CHARS]
    test_id = _node_id(case.get("classname", "")[:MAX_FIELD_CHARS], name, _cap(case.get("file")), root)
    test_id = test_id[:MAX_FIELD_CHARS]
    seconds = _seconds(case.get("time"))
    outcome: Outcome = "passed"
    detail: ET.Element | None = None
    for tag, kind in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        detail = case.find(tag)
        if detail is not None:
            outcome = kind  # type: ignore[assignment]
            break
    if detail is None:
        return TestOutcome(test_id=test_id, outcome="passed", seconds=seconds)
    message = _cap(detail.get("message"), MAX_TRACEBACK_CHARS)
    if outcome == "skipped":
        return TestOutcome(test_id=test_id, outcome="skipped", message=_cap(message), seconds=seconds)
    text = (detail.text or "")[-MAX_TRACEBACK_CHARS:]
    frame, crash_type = _raising_frame(text, prefixes)
    exc_type, exc_message = _exception(message, text, crash_type)
    return TestOutcome(
        test_id=test_id, outcome=outcome, exc_type=exc_type, message=_cap(exc_message), frame=_cap(frame),
        seconds=seconds,
    )


def _node_id(classname: str, name: str, file: str | None, root: Path | None) -> str:
    """``tests.test_app.TestX`` + ``test_y`` -> ``tests/test_app.py::TestX::test_y``."""
    parts = [p for p in classname.split(".") if p]
    if not parts:
        return f"{file}::{name}" if file else name
    split = None
    if root is not None and all(re.fullmatch(r"[\w-]+", p) for p in parts):  # names only: no path out of root
        for i in range(len(parts), 0, -1):
            if (root / Path(*parts[:i])).with_suffix(".py").is_file():
                split = i
                break
    if split is None and file:
        return "::".join([file, *parts[len(Path(file).with_suffix("").parts):], name])
    if split is None:  # no copy to look at: the module is the last part that is not a class
        split = len(parts)
        while split > 1 and parts[split - 1][:1].isupper():
            split -= 1
    module = "/".join(parts[:split]) + ".py"
    return "::".join([module, *parts[split:], name])


def _raising_frame(text: str, prefixes: list[str]) -> tuple[str | None, str | None]:
    """The last ``path.py:LINE`` location in the traceback text, and the exception type if the
    long style named it there."""
    last = None
    for line in reversed(text.splitlines()):  # line by line: one huge line cannot make the search quadratic
        if len(line) <= MAX_LINE_CHARS and (last := _FRAME.match(line)) is not None:
            break
    if last is None:
        return None, None
    path = last.group("path")
    for prefix in prefixes:
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    rest = last.group("rest").strip()
    crash_type = rest if rest and not rest.startswith("in ") and _looks_like_type(rest) else None
    return f"{path}:{last.group('line')}", crash_type


def _looks_like_type(name: str) -> bool:
    return (len(name) <= MAX_TYPE_CHARS and bool(re.fullmatch(r"[A-Za-z_][\w.]*", name))
            and name.rsplit(".", 1)[-1][:1].isupper())


def _exception(message: str | None, text: str, crash_type: str | None) -> tuple[str | None, str | None]:
    msg = (message or "").strip()
    phase = _PHASE.match(msg)
    if phase:
        msg = phase.group("inner")
    match = _EXC.match(msg)
    if match and _looks_like_type(match.group("type")) and (match.group("msg") is not None or msg == crash_type):
        return match.group("type"), (match.group("msg") or "").strip()
    if crash_type:
        return crash_type, msg or None
    if msg.startswith("assert"):
        return "AssertionError", msg
    for e_line in _E_LINE.finditer(text):
        if _looks_like_type(e_line.group("type")):
            return e_line.group("type"), (e_line.group("msg") or "").strip()
    if re.search(r"^E\s+assert", text, re.MULTILINE):
        return "AssertionError", msg or None
    return None, msg or None


def read_junit(path: Path, root: Path | None = None, workdir: str = "/work") -> list[TestOutcome]:
    """``parse_junit`` of a file on the host; an absent or empty file means no tests ran."""
    if not path.is_file() or path.stat().st_size == 0:
        return []
    if path.stat().st_size > MAX_JUNIT_BYTES:
        raise SandboxError(f"JUnit XML too large: {path.stat().st_size} bytes (at most {MAX_JUNIT_BYTES})")
    return parse_junit(path.read_bytes(), root=root, workdir=workdir)
