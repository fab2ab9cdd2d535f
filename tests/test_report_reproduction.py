"""report.md and the terminal summary show how the crash was reproduced, the sandbox Python and the time.

Every report here is constructed from a saved run (the flagship fixture) with the new records set,
so each section is checked present when its record is set, absent when not, and inert when the
record carries a secret or Markdown/HTML/Rich injection.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, get_args

from markdown_it import MarkdownIt
from rich.console import Console

from crew.handoffs import (
    InputSource,
    Mismatch,
    RegressionTest,
    ReproductionRecord,
    RunReport,
    SandboxPython,
    TimeSpent,
)
from crew.render import show_repair
from crew.report import INPUT_SOURCES, to_markdown, write_report

FIXTURE = Path(__file__).parent / "delivery" / "fixtures" / "flagship_report.json"
SECRET = "AKIAIOSFODNN7EXAMPLE"
ATTACK = f"<img src=x onerror=alert(1)> **PWNED** [click](http://evil.example) @octocat ` [/bold] key={SECRET}"


def flagship(**updates: Any) -> RunReport:
    """The saved flagship run, with ``updates`` applied to the report."""
    report = RunReport.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    return report.model_copy(update=updates)


def reproduced(**updates: Any) -> ReproductionRecord:
    values: dict[str, Any] = {
        "reproduced": True, "source": "repo tests", "entry": "app.api.quote", "entry_depth": 2,
        "call": "quote({'sku': 'A1', 'qty': 0})", "test_path": "tests/test_healcrew_pricing_zero_division.py",
        "entries_tried": ["app.pricing.calc", "app.api.quote"], "inputs_tried": 14, "refused": 3, "seconds": 4.25,
    }
    return ReproductionRecord(**(values | updates))


def not_reproduced(**updates: Any) -> ReproductionRecord:
    values: dict[str, Any] = {
        "reproduced": False, "entries_tried": ["app.pricing.calc"], "inputs_tried": 40, "refused": 0,
        "closest": Mismatch(part="message", production="'NoneType' object has no attribute 'city'",
                            reproduction="'NoneType' object has no attribute 'name'"),
        "failure": "no input raised the production crash", "seconds": 9.5,
    }
    return ReproductionRecord(**(values | updates))


def section(text: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"section {title!r} missing"
    return m.group(1)


def terminal_text(report: RunReport) -> str:
    console = Console(file=io.StringIO(), record=True, width=200, color_system=None, force_terminal=False)
    show_repair(console, report)
    return console.export_text()


def test_every_input_source_has_plain_words() -> None:
    assert set(INPUT_SOURCES) == set(get_args(InputSource))
    assert all(words and words != source for source, words in INPUT_SOURCES.items())


def test_a_reproduction_says_how_which_entry_and_what_was_tried() -> None:
    text = section(to_markdown(flagship(reproduction=reproduced())), "Reproduction")
    assert "**Reproduced**" in text
    assert "the repository's own tests" in text
    assert "`app.api.quote`, called through 2 caller frames above the fault function" in text
    assert "`quote({'sku': 'A1', 'qty': 0})`" in text
    assert "14 inputs across 2 entries (`app.pricing.calc`, `app.api.quote`)" in text
    assert "3 inputs raised `ZeroDivisionError` on the right line with another message: not counted" in text
    assert "4.2 s" in text
    assert "Closest" not in text


def test_the_fault_function_itself_has_no_caller_frames_and_one_frame_is_singular() -> None:
    direct = section(to_markdown(flagship(reproduction=reproduced(entry="app.pricing.calc", entry_depth=0))),
                     "Reproduction")
    assert "`app.pricing.calc`" in direct and "caller frame" not in direct
    one = section(to_markdown(flagship(reproduction=reproduced(entry_depth=1))), "Reproduction")
    assert "called through 1 caller frame above" in one
    none_refused = section(to_markdown(flagship(reproduction=reproduced(refused=0))), "Reproduction")
    assert "not counted" not in none_refused


def test_refused_near_misses_name_the_part_the_message_carries() -> None:
    report = flagship(reproduction=reproduced(refused=2))
    assert report.diagnosis is not None
    keyed = report.model_copy(update={"diagnosis": report.diagnosis.model_copy(update={"exc_type": "KeyError"})})
    assert "2 inputs raised `KeyError` on the right line with another key: not counted" in to_markdown(keyed)
    attr = report.model_copy(update={"diagnosis": report.diagnosis.model_copy(update={"exc_type": "AttributeError"})})
    assert "with another attribute: not counted" in to_markdown(attr)


def test_a_failed_reproduction_shows_the_closest_mismatch_and_the_failure() -> None:
    text = section(to_markdown(flagship(reproduction=not_reproduced())), "Reproduction")
    assert "**Not reproduced**" in text
    assert "the message differed" in text
    assert "production `'NoneType' object has no attribute 'city'`" in text
    assert "reproduction `'NoneType' object has no attribute 'name'`" in text
    assert "no input raised the production crash" in text
    assert "40 inputs across 1 entry (`app.pricing.calc`)" in text


def test_no_reproduction_record_no_section() -> None:
    report = flagship()
    assert report.reproduction is None
    assert "## Reproduction" not in to_markdown(report)
    assert "Reproduction" not in terminal_text(report)
    assert "Sandbox Python" not in to_markdown(report) and "Sandbox Python" not in terminal_text(report)


def test_the_sandbox_python_and_why() -> None:
    python = SandboxPython(version="3.9", reason="pyproject.toml requires-python >=3.8,<3.10: the newest, 3.9")
    text = to_markdown(flagship(sandbox_python=python))
    html = MarkdownIt("commonmark").render(text)
    assert ("<strong>Sandbox Python:</strong> <code>3.9</code> "
            "(pyproject.toml requires-python &gt;=3.8,&lt;3.10: the newest, 3.9)") in html
    assert "Sandbox Python: 3.9 (pyproject.toml requires-python" in terminal_text(flagship(sandbox_python=python))


def _timed(report: RunReport, time: TimeSpent | None) -> RunReport:
    assert report.accepted is not None and report.accepted.validation is not None
    validation = report.accepted.validation.model_copy(update={"time": time})
    accepted = report.accepted.model_copy(update={"validation": validation})
    return report.model_copy(update={"accepted": accepted, "attempts": [accepted]})


def test_each_attempt_says_where_its_sandbox_time_went() -> None:
    time = TimeSpent(reproduction=3.14, test_on_original=2.1, suite_on_original=4.0, test_on_patched=3.5,
                     patched_suite=3.0, differential=0.8, total=16.54)
    report = _timed(flagship(), time)
    attempts = section(to_markdown(report), "Attempts")
    assert "sandbox time" in attempts
    assert "16.5 s: reproduction 3.1, original 6.1, patched 6.5, differential 0.8" in attempts
    assert "16.5 s: reproduction 3.1, original 6.1, patched 6.5, differential 0.8" in terminal_text(report)
    # a later attempt reuses the original side: only what it paid for is shown
    later = _timed(flagship(), TimeSpent(test_on_patched=1.0, patched_suite=2.0, total=3.0))
    assert "3.0 s: patched 3.0" in section(to_markdown(later), "Attempts")
    untimed = section(to_markdown(_timed(flagship(), None)), "Attempts")
    assert "| - |" in untimed


def test_the_regression_test_says_what_it_asserts_and_where_the_input_came_from() -> None:
    report = flagship()
    assert report.accepted is not None and report.accepted.proposal.test is not None
    test: RegressionTest = report.accepted.proposal.test.model_copy(
        update={"input_source": "sentry locals", "expected": "12.5",
                "expected_from": "the value before the regression"})
    proposal = report.accepted.proposal.model_copy(update={"test": test})
    accepted = report.accepted.model_copy(update={"proposal": proposal})
    text = to_markdown(report.model_copy(update={"accepted": accepted}))
    assert "Input from the frame-local variables of the Sentry event" in text
    assert "asserts `== 12.5`: the value before the regression" in text


def _attacked() -> RunReport:
    record = not_reproduced(
        entry=f"app.x{ATTACK}", entry_depth=1, entries_tried=[f"app.y{ATTACK}"], failure=f"boom {ATTACK}",
        closest=Mismatch(part="message", production=f"prod {ATTACK}", reproduction=f"repro {ATTACK}\x1b]8;;x\x07"),
    )
    return flagship(reproduction=record, sandbox_python=SandboxPython(version="3.11", reason=f"tox.ini {ATTACK}"))


def test_hostile_text_in_the_records_is_redacted_and_inert_in_report_md(tmp_path: Path) -> None:
    _, md_path = write_report(_attacked(), tmp_path)
    body = md_path.read_text(encoding="utf-8")
    assert SECRET not in body and SECRET not in (tmp_path / "report.json").read_text(encoding="utf-8")
    assert "\x1b" not in body and "\x07" not in body
    html = MarkdownIt("commonmark").enable("table").render(body)
    outside_code = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", "", html, flags=re.S)
    assert "<img" not in html and re.search(r"<[^>]*onerror", html) is None
    assert "<strong>PWNED</strong>" not in html and 'href="http://evil.example' not in html
    assert "@octocat" not in outside_code
    assert "PWNED" in section(body, "Reproduction")  # still there, as text


def test_hostile_text_in_the_records_is_inert_on_the_terminal() -> None:
    from crew.report import public

    text = terminal_text(public(_attacked()))
    assert SECRET not in text
    assert "\x1b" not in text and "\x07" not in text
    assert "[/bold]" in text  # Rich markup shown literally, not interpreted (and no MarkupError)
