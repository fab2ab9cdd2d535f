"""Sentry-style event JSON as a log source: the same tracebacks as the text, plus frame locals."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from crew.agents.diagnostic import diagnose
from crew.agents.monitoring import gather_evidence
from crew.errors import BadInputError, NoCrashEvidenceError
from crew.extract import extract_tracebacks
from crew.handoffs import Incident
from crew.logline import LogLine
from crew.repo import GitRepo
from crew.sources import sentry
from crew.sources.files import read_log_file
from tests.e2e_helpers import commit_repo

PRICING = '''"""Unit prices."""


def unit_price(total, qty):
    return total / qty


def quote(order):
    qty = order["qty"]
    try:
        return unit_price(order["total"], qty)
    except ZeroDivisionError as exc:
        raise ValueError("no unit price") from exc
'''

MAIN = 'from shop.pricing import quote\n\nquote({"total": 12.5, "qty": 0})\n'

TEXT_TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/shop/pricing.py", line 11, in quote
    return unit_price(order["total"], qty)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/srv/app/shop/pricing.py", line 5, in unit_price
    return total / qty
           ~~~~~~^~~~~
ZeroDivisionError: float division by zero

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/app/main.py", line 3, in <module>
    quote({"total": 12.5, "qty": 0})
  File "/srv/app/shop/pricing.py", line 13, in quote
    raise ValueError("no unit price") from exc
ValueError: no unit price
"""


def _frame(path: str, line: int, function: str, code: str, vars_: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "filename": path, "abs_path": f"/srv/app/{path}", "lineno": line, "function": function,
        "module": path.removesuffix(".py").replace("/", "."), "context_line": f"    {code}",
        "pre_context": [], "post_context": [], "in_app": True, "vars": vars_ or {},
    }


def event() -> dict[str, Any]:
    """The documented event shape: ``exception.values`` oldest first, frames oldest first."""
    return {
        "event_id": "fc6d8c0c43fc4630ad850ee518f1b9d0",
        "timestamp": "2026-11-20T02:00:00Z",
        "platform": "python",
        "level": "error",
        "request": {"method": "POST", "url": "http://shop/quote", "data": {"total": 12.5, "qty": 0}},
        "exception": {"values": [
            {
                "type": "ZeroDivisionError", "value": "float division by zero", "module": None,
                "mechanism": {"type": "chained", "source": "__cause__", "handled": False},
                "stacktrace": {"frames": [
                    _frame("shop/pricing.py", 11, "quote", 'return unit_price(order["total"], qty)',
                           {"order": {"total": "12.5", "qty": "0"}, "qty": "0"}),
                    _frame("shop/pricing.py", 5, "unit_price", "return total / qty",
                           {"total": "12.5", "qty": "0"}),
                ]},
            },
            {
                "type": "ValueError", "value": "no unit price", "module": None,
                "mechanism": {"type": "excepthook", "handled": False},
                "stacktrace": {"frames": [
                    _frame("main.py", 3, "<module>", 'quote({"total": 12.5, "qty": 0})',
                           {"__name__": "'__main__'", "quote": "<function quote at 0x7f3a2c1e0f40>"}),
                    _frame("shop/pricing.py", 13, "quote", 'raise ValueError("no unit price") from exc',
                           {"order": {"total": "12.5", "qty": "0"}, "qty": "0",
                            "exc": "ZeroDivisionError('division by zero')"}),
                ]},
            },
        ]},
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    root = commit_repo(tmp_path_factory.mktemp("repo") / "shop-svc", {
        "shop/__init__.py": "", "shop/pricing.py": PRICING,
        "main.py": MAIN,
    }, "Add pricing")
    return GitRepo(root)


def _incident(log: Path) -> Incident:
    return Incident.model_validate({"id": "inc-1", "repo": ".", "logs": {"file": str(log)}})


def _evidence(log: Path) -> Any:
    return gather_evidence(_incident(log), read_log_file(log), str(log))


def _strip_locals(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_locals(v) for k, v in value.items() if k not in ("locals", "carets", "raw", "timestamp")}
    if isinstance(value, list):
        return [_strip_locals(v) for v in value]
    return value


def test_the_text_traceback_is_the_real_one(tmp_path: Path) -> None:
    """The fixture's text traceback is what Python prints for the fixture repo's crash."""
    root = commit_repo(tmp_path / "app", {"shop/__init__.py": "", "shop/pricing.py": PRICING, "main.py": MAIN}, "x")
    proc = subprocess.run([sys.executable, "main.py"], cwd=root, capture_output=True, text=True, timeout=30)
    real = proc.stderr.replace(str(root), "/srv/app")
    assert real == TEXT_TRACEBACK


@pytest.mark.parametrize("layout", ["document", "one-line", "list", "json-lines"])
def test_an_event_gives_the_tracebacks_the_text_gives(tmp_path: Path, layout: str) -> None:
    text_log = tmp_path / "crash.log"
    text_log.write_text(TEXT_TRACEBACK)
    log = tmp_path / "event.json"
    if layout == "document":
        log.write_text(json.dumps(event(), indent=2))
    elif layout == "one-line":
        log.write_text(json.dumps(event()))
    elif layout == "list":
        log.write_text(json.dumps([event(), event()], indent=1))
    else:
        log.write_text("".join(json.dumps(e) + "\n" for e in [event(), {"msg": "noise"}, event()]))
    from_text = _evidence(text_log).tracebacks
    from_event = _evidence(log).tracebacks
    assert len(from_event) == (1 if layout in ("document", "one-line") else 2)
    for tb in from_event:
        assert _strip_locals(tb.model_dump()) == _strip_locals(from_text[0].model_dump())
        assert tb.cause is not None and tb.cause_kind == "cause"
        assert tb.cause.frames[-1].locals == {"total": "12.5", "qty": "0"}
        assert tb.cause.frames[0].locals == {"order": "{'total': 12.5, 'qty': 0}", "qty": "0"}
    rendered = extract_tracebacks([LogLine(x) for x in from_event[0].raw.splitlines()])
    assert _strip_locals(rendered[0].model_dump()) == _strip_locals(from_text[0].model_dump())


def test_an_event_diagnoses_the_same_fault_line_as_the_text(tmp_path: Path, repo: GitRepo) -> None:
    text_log = tmp_path / "crash.log"
    text_log.write_text(TEXT_TRACEBACK)
    log = tmp_path / "event.json"
    log.write_text(json.dumps(event(), indent=2))
    by_text, by_event = diagnose(_evidence(text_log), repo), diagnose(_evidence(log), repo)
    assert by_event.fault_frame is not None and by_text.fault_frame is not None
    assert (by_event.fault_frame.repo_path, by_event.fault_frame.frame.line) == ("shop/pricing.py", 5)
    assert (by_event.fault_frame.repo_path, by_event.fault_frame.frame.line, by_event.exc_type, by_event.root_cause) \
        == (by_text.fault_frame.repo_path, by_text.fault_frame.frame.line, by_text.exc_type, by_text.root_cause)
    assert by_event.fault_frame.frame.locals == {"total": "12.5", "qty": "0"}


def test_the_web_api_shape_and_module_qualified_types(tmp_path: Path) -> None:
    """The web UI's JSON: ``entries[type=exception].data.values`` with camelCase frame keys."""
    api = {"eventID": "x", "dateCreated": "2026-11-20T02:00:00Z", "entries": [
        {"type": "breadcrumbs", "data": {"values": []}},
        {"type": "exception", "data": {"values": [{
            "type": "PaymentError", "value": "card declined", "module": "shop.errors",
            "stacktrace": {"frames": [{
                "filename": "shop/pay.py", "absPath": "/srv/app/shop/pay.py", "lineNo": 7, "function": "charge",
                "inApp": True, "context": [[6, "def charge(card):"], [7, "    raise PaymentError('card declined')"]],
                "vars": {"card": "'4242'"},
            }]},
        }]}},
    ]}
    log = tmp_path / "event.json"
    log.write_text(json.dumps(api, indent=2))
    (tb,) = _evidence(log).tracebacks
    assert tb.exc_type == "shop.errors.PaymentError" and tb.exc_message == "card declined"
    assert tb.frames[0].model_dump(include={"file", "line", "function", "code", "locals"}) == {
        "file": "/srv/app/shop/pay.py", "line": 7, "function": "charge",
        "code": "raise PaymentError('card declined')", "locals": {"card": "'4242'"}}


def test_request_data_of_the_event_becomes_a_context_line(tmp_path: Path) -> None:
    log = tmp_path / "event.json"
    log.write_text(json.dumps(event()))
    evidence = _evidence(log)
    assert '{"request": {"total": 12.5, "qty": 0}}' in evidence.context_lines
    assert not any('"exception"' in line for line in evidence.context_lines)


def test_a_deeply_nested_event_document_is_refused_in_one_line(tmp_path: Path) -> None:
    deep = event()
    deep["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"] = {"x": "[" * 0}
    text = json.dumps(deep, indent=1)
    text = text.replace('"x": ""', '"x": ' + "[" * 100_000 + "]" * 100_000)
    log = tmp_path / "event.json"
    log.write_text(text)
    start = time.monotonic()
    with pytest.raises(BadInputError, match="Sentry event nested deeper than 64 levels"):
        read_log_file(log)
    assert time.monotonic() - start < 5


def test_a_deeply_nested_event_line_is_refused_with_its_reason(tmp_path: Path) -> None:
    deep = json.dumps(event()).replace('"qty": "0"}', '"qty": "0", "deep": ' + "[" * 50_000 + "]" * 50_000 + "}", 1)
    log = tmp_path / "events.jsonl"
    log.write_text(deep + "\n" + '{"msg": "retrying"}\n' * 2)
    with pytest.raises(NoCrashEvidenceError, match="Sentry event is nested deeper than 64 levels"):
        _evidence(log)


def test_a_huge_event_is_capped_in_bounded_time(tmp_path: Path) -> None:
    big = event()
    small, outer = big["exception"]["values"]
    huge = json.loads(json.dumps(small))
    frames = huge["stacktrace"]["frames"]
    many_vars = {f"v{i}": str(i) for i in range(5_000)}
    many_vars["blob"] = "'" + "x" * 50_000 + "'"
    frames[-1]["vars"] = {"total": "12.5", "qty": "0", **many_vars}
    huge["stacktrace"]["frames"] = [frames[0]] * 2_000 + [frames[-1]]
    big["exception"]["values"] = [small] * 100 + [huge, outer]
    log = tmp_path / "event.json"
    log.write_text(json.dumps(big))
    assert log.stat().st_size > 512 << 10
    start = time.monotonic()
    (tb,) = _evidence(log).tracebacks
    assert time.monotonic() - start < 30
    chain = 0
    link: Any = tb
    while link is not None:
        chain += 1
        assert len(link.frames) <= sentry.MAX_FRAMES
        link = link.cause
    assert chain == sentry.MAX_EXCEPTIONS and tb.truncated
    inner = tb.cause
    assert inner is not None and inner.truncated
    fault_locals = inner.frames[-1].locals
    assert len(fault_locals) == sentry.MAX_VARS and "blob" not in fault_locals
    assert fault_locals["total"] == "12.5"


def test_an_event_line_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sentry, "MAX_EVENT_CHARS", 1000)
    log = tmp_path / "events.jsonl"
    log.write_text(json.dumps(event()) + "\n")
    with pytest.raises(NoCrashEvidenceError, match="larger than the 1000 accepted"):
        _evidence(log)


def test_vars_are_kept_as_text_never_evaluated() -> None:
    """The source only carries reprs; a var that is code stays a string (inputs_from_locals decides)."""
    got = sentry.frame_locals({"cmd": "__import__('os').system('touch /tmp/x')", "n": 3, "f": None,
                               "d": {"a": ["1", "'b'"]}, "": "1", "x" * 200: "1"})
    assert got == {"cmd": "__import__('os').system('touch /tmp/x')", "n": "3", "f": "None", "d": "{'a': [1, 'b']}"}


def test_events_among_text_lines_do_not_hide_the_text_crash(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    log.write_text("2026-11-20T01:00:00Z INFO start\n" + TEXT_TRACEBACK + json.dumps(event()) + "\n")
    tracebacks = _evidence(log).tracebacks
    assert [t.exc_type for t in tracebacks] == ["ValueError", "ValueError"]
    assert not tracebacks[0].frames[0].locals and tracebacks[1].cause is not None
    assert tracebacks[1].cause.frames[-1].locals


RATIOS = '''"""Aspect ratios sent by clients."""


def parse_ratio(text):
    left, right = text.split(":")
    return int(left) / int(right)


def handle(message):
    return {"ratio": parse_ratio(message["ratio"])}
'''
RATIO_SUITE = '''from ratios.parse import handle, parse_ratio


def test_parse_ratio():
    assert parse_ratio("16:9") == 16 / 9


def test_handle():
    assert handle({"ratio": "4:2"}) == {"ratio": 2.0}
'''


def _ratio_event() -> dict[str, Any]:
    """The crash as the SDK reports it: the input ('3:0') is only in the frames' vars."""
    def frame(line: int, function: str, code: str, vars_: dict[str, Any]) -> dict[str, Any]:
        return {"filename": "ratios/parse.py", "abs_path": "/srv/app/ratios/parse.py", "lineno": line,
                "function": function, "module": "ratios.parse", "context_line": f"    {code}",
                "in_app": True, "vars": vars_}
    return {
        "event_id": "0b6f3a6bd2f84bd3a55b0e3b1f1e2c11", "timestamp": 1795658400.0, "platform": "python",
        "exception": {"values": [{
            "type": "ZeroDivisionError", "value": "division by zero",
            "mechanism": {"type": "excepthook", "handled": False},
            "stacktrace": {"frames": [
                frame(10, "handle", 'return {"ratio": parse_ratio(message["ratio"])}',
                      {"message": {"ratio": "'3:0'", "client": "'[Filtered]'"}}),
                frame(6, "parse_ratio", "return int(left) / int(right)",
                      {"text": "'3:0'", "left": "'3'", "right": "'0'"}),
            ]},
        }]},
    }


@pytest.mark.docker
@pytest.mark.e2e
def test_run_on_a_sentry_event_reproduces_from_the_locals_and_fixes(
    tmp_path: Path, docker_client: Any,
) -> None:
    from tests.e2e_helpers import healcrew_run

    root = commit_repo(tmp_path / "ratios-svc", {
        "ratios/__init__.py": "", "ratios/parse.py": RATIOS, "tests/test_parse.py": RATIO_SUITE,
        "requirements.txt": "pytest\n",
    }, "Add ratio parsing")
    log = tmp_path / "event.json"
    log.write_text(json.dumps(_ratio_event(), indent=2))
    out = tmp_path / "out"
    proc, report = healcrew_run(root, log, out, tmp_path / "cache", timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert report["outcome"] == "fixed", report.get("outcome")
    assert report["diagnosis"]["fault_frame"]["repo_path"] == "ratios/parse.py"
    accepted = report["accepted"]
    assert accepted["validation"]["reproduces"] is True
    test = accepted["proposal"]["test"]
    assert test["input_source"] == "sentry locals"
    assert "parse_ratio('3:0')" in test["call"]
    assert "input from sentry locals" in (out / "report.md").read_text()


def test_a_secret_in_the_vars_is_redacted_in_diagnose_output(tmp_path: Path, repo: GitRepo) -> None:
    from tests.e2e_helpers import healcrew

    secret = "AKIAIOSFODNN7EXAMPLE"
    leaky = event()
    leaky["exception"]["values"][0]["stacktrace"]["frames"][1]["vars"]["aws_key"] = f"'{secret}'"
    log = tmp_path / "event.json"
    log.write_text(json.dumps(leaky))
    proc = healcrew("diagnose", "--log", str(log), "--repo", str(repo.path), "--json", cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert '"aws_key"' in proc.stdout and secret not in proc.stdout + proc.stderr
