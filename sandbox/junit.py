"""Test outcomes from pytest's JUnit XML: id, outcome, exception and the frame that raised.

pytest writes the failure's traceback as text. In the default (long) style its last line is the
crash location, ``path.py:LINE: ExcType``; in ``--tb=short`` the last ``path.py:LINE: in func``
line is the raising frame and ``E   ExcType: message`` holds the exception. Both are handled.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.results import Outcome, TestOutcome

_FRAME = re.compile(r"^(?P<path>[^\s:][^:\n]*?\.py):(?P<line>\d+):(?P<rest>.*)$", re.MULTILINE)
_EXC = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$", re.DOTALL)
_E_LINE = re.compile(r"^E\s+(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$", re.MULTILINE)
_PHASE = re.compile(r'^failed on (?:setup|teardown|call) with "(?P<inner>.*)"$', re.DOTALL)


def parse_junit(xml: bytes | str, root: Path | None = None, workdir: str = "/work") -> list[TestOutcome]:
    """Every test case in a pytest JUnit XML report.

    ``root`` is the repo copy on the host: used to tell package dirs from modules when turning
    ``classname`` back into a node id. ``workdir`` (and ``root``) prefixes are stripped from frames.
    """
    try:
        tree = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise SandboxError(f"JUnit XML cannot be parsed: {exc}") from exc
    prefixes = [p.rstrip("/") + "/" for p in (workdir, str(root) if root else None) if p and p != "/"]
    return [_case(case, root, prefixes) for case in tree.iter("testcase")]


def _case(case: ET.Element, root: Path | None, prefixes: list[str]) -> TestOutcome:
    name = case.get("name", "")
    test_id = _node_id(case.get("classname", ""), name, case.get("file"), root)
    seconds = float(case.get("time") or 0.0)
    outcome: Outcome = "passed"
    detail: ET.Element | None = None
    for tag, kind in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        detail = case.find(tag)
        if detail is not None:
            outcome = kind  # type: ignore[assignment]
            break
    if detail is None:
        return TestOutcome(test_id=test_id, outcome="passed", seconds=seconds)
    message = detail.get("message")
    if outcome == "skipped":
        return TestOutcome(test_id=test_id, outcome="skipped", message=message, seconds=seconds)
    text = detail.text or ""
    frame, crash_type = _raising_frame(text, prefixes)
    exc_type, exc_message = _exception(message, text, crash_type)
    return TestOutcome(
        test_id=test_id, outcome=outcome, exc_type=exc_type, message=exc_message, frame=frame, seconds=seconds
    )


def _node_id(classname: str, name: str, file: str | None, root: Path | None) -> str:
    """``tests.test_app.TestX`` + ``test_y`` -> ``tests/test_app.py::TestX::test_y``."""
    parts = [p for p in classname.split(".") if p]
    if not parts:
        return f"{file}::{name}" if file else name
    split = None
    if root is not None:
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
    matches = list(_FRAME.finditer(text))
    if not matches:
        return None, None
    last = matches[-1]
    path = last.group("path")
    for prefix in prefixes:
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    rest = last.group("rest").strip()
    crash_type = rest if rest and not rest.startswith("in ") and _looks_like_type(rest) else None
    return f"{path}:{last.group('line')}", crash_type


def _looks_like_type(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][\w.]*", name)) and name.rsplit(".", 1)[-1][:1].isupper()


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
    return parse_junit(path.read_bytes(), root=root, workdir=workdir)
