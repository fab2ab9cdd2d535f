"""The PR body says where the test's input came from, what it asserts and why, and which Python ran it."""

from __future__ import annotations

import re
from typing import Any, get_args

import pytest
from markdown_it import MarkdownIt

from crew.delivery.pr_body import render_pr_body
from crew.handoffs import InputSource, RunReport, SandboxPython
from crew.report import INPUT_SOURCES
from tests.test_report_reproduction import ATTACK, SECRET, flagship, reproduced, section


def _with_test(report: RunReport, **updates: Any) -> RunReport:
    assert report.accepted is not None and report.accepted.proposal.test is not None
    test = report.accepted.proposal.test.model_copy(update=updates)
    accepted = report.accepted.model_copy(
        update={"proposal": report.accepted.proposal.model_copy(update={"test": test})})
    return report.model_copy(update={"accepted": accepted, "attempts": [accepted]})


@pytest.mark.parametrize("source", get_args(InputSource))
def test_every_input_source_is_worded_in_the_test_section(source: str) -> None:
    test = section(render_pr_body(_with_test(flagship(), input_source=source)), "Regression test")
    assert f"its input came from {INPUT_SOURCES[source]}" in " ".join(test.replace("\\", "").split())


def test_the_test_section_says_what_it_asserts_and_where_the_value_came_from() -> None:
    report = _with_test(flagship(), expected="12.5", expected_from="the value before the regression")
    test = section(render_pr_body(report), "Regression test")
    assert "It asserts `== 12.5`: the value before the regression." in test
    plain = section(render_pr_body(_with_test(flagship(), expected="12.5")), "Regression test")
    assert "It asserts `== 12.5`." in plain
    assert "asserts" not in section(render_pr_body(flagship()), "Regression test")


def test_an_entry_above_the_fault_function_is_named_in_the_test_section() -> None:
    body = render_pr_body(flagship(reproduction=reproduced(entry="app.api.quote", entry_depth=2)))
    assert ("It drives `app.api.quote`, called through 2 caller frames above the fault function."
            in section(body, "Regression test"))
    direct = render_pr_body(flagship(reproduction=reproduced(entry="app.pricing.calc", entry_depth=0)))
    assert "It drives" not in direct and "caller frame" not in direct


def test_the_sandbox_python_is_in_how_it_was_checked() -> None:
    python = SandboxPython(version="3.9", reason="tox.ini envlist py39")
    checked = section(render_pr_body(flagship(sandbox_python=python)), "How it was checked")
    assert "- **Sandbox Python:** `3.9` (tox.ini envlist py39)" in checked
    assert "Sandbox Python" not in render_pr_body(flagship())


def test_the_summary_still_comes_first() -> None:
    python = SandboxPython(version="3.9", reason="tox.ini envlist py39")
    body = render_pr_body(_with_test(flagship(sandbox_python=python, reproduction=reproduced()), expected="12.5"))
    assert body.splitlines()[1].startswith("- **Crash:**")
    assert re.findall(r"^## (.+)$", body, re.M)[0] == "Root cause"


def test_hostile_text_in_the_new_fields_is_redacted_and_inert() -> None:
    report = _with_test(
        flagship(reproduction=reproduced(entry=f"app.x{ATTACK}", entry_depth=1),
                 sandbox_python=SandboxPython(version="3.9", reason=f"setup.cfg {ATTACK}")),
        expected=f"12.5 {ATTACK}", expected_from=f"the docstring {ATTACK}",
    )
    body = render_pr_body(report)
    assert SECRET not in body
    html = MarkdownIt("commonmark").enable("table").render(body)
    outside_code = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", "", html, flags=re.S)
    assert "<img" not in html and re.search(r"<[^>]*onerror", html) is None
    assert "<strong>PWNED</strong>" not in html and 'href="http://evil.example' not in html
    assert "@octocat" not in outside_code
    assert html.count("<details>") == html.count("</details>")
    assert body.count("PWNED") == 5  # each value is still there, as text (the expected one twice: behaviour, test)
