"""The PR says which kind of fix it is and, for a revert, links the commit it undoes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crew.delivery.pr_body import render_pr_body
from crew.handoffs import RunReport

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://github.com/acme/pricing-service"
SUSPECT = "220d2f4fcf019fe277a5663bd47981d8d644cc8d"


@pytest.fixture
def flagship() -> RunReport:
    return RunReport.model_validate_json((FIXTURES / "flagship_report.json").read_text(encoding="utf-8"))


def _summary(body: str) -> str:
    """The first screen, before any section heading, where the kind of fix is said."""
    assert "\n## " in body
    return body[: body.index("\n## ")]


def _as(report: RunReport, strategy: str, rationale: str, summary: str | None = None) -> RunReport:
    assert report.accepted is not None and report.diagnosis is not None
    proposal = report.accepted.proposal.model_copy(update={"strategy": strategy, "rationale": rationale})
    diagnosis = report.diagnosis
    if summary is not None:
        first = diagnosis.suspect_commits[0].model_copy(update={"summary": summary})
        diagnosis = diagnosis.model_copy(update={"suspect_commits": [first, *diagnosis.suspect_commits[1:]]})
    return report.model_copy(update={"accepted": report.accepted.model_copy(update={"proposal": proposal}),
                                     "diagnosis": diagnosis})


def _revert(report: RunReport, strategy: str = "revert-suspect-hunk", summary: str | None = None) -> RunReport:
    rationale = (f"Undo the hunk of commit {SUSPECT[:12]} (Apply per-item discount divisor) at the fault in `calc`: "
                 "the lines as production ran them before the crash began.")
    return _as(report, strategy, rationale, summary)


def test_a_guard_says_its_kind_in_the_summary(flagship: RunReport) -> None:
    summary = _summary(render_pr_body(flagship, repo_web_url=URL))
    assert "**Kind of fix:** guard — checks the failing value before the operation" in summary


def test_a_coercion_says_coercion(flagship: RunReport) -> None:
    summary = _summary(render_pr_body(_as(flagship, "coerce-operand-float@app/pricing.py:20", "Convert `d`.")))
    assert "**Kind of fix:** coercion — converts the value to the type the operation expects." in summary


def test_a_partial_revert_links_the_commit_it_partly_reverts(flagship: RunReport) -> None:
    summary = _summary(render_pr_body(_revert(flagship), repo_web_url=URL))
    assert (f'**Kind of fix:** revert — partly reverts [`{SUSPECT[:12]}`]({URL}/commit/{SUSPECT}) '
            '"Apply per-item discount divisor".') in summary


def test_a_function_revert_says_it_reverts_the_function(flagship: RunReport) -> None:
    summary = _summary(render_pr_body(_revert(flagship, "revert-suspect-function"), repo_web_url=URL))
    assert f"reverts the fault function's part of [`{SUSPECT[:12]}`]({URL}/commit/{SUSPECT})" in summary


def test_no_link_without_a_forge(flagship: RunReport) -> None:
    summary = _summary(render_pr_body(_revert(flagship)))
    assert f'partly reverts `{SUSPECT[:12]}` "Apply per-item discount divisor"' in summary
    assert f"]({URL}" not in summary and "/commit/" not in summary


def test_the_reverted_commit_subject_is_escaped_and_redacted(flagship: RunReport) -> None:
    dirty = "Add *tiers* for @admins <img src=x> [x](http://evil) token=ghp_FAKE0example0token0for0tests0only000"
    body = render_pr_body(_revert(flagship, summary=dirty), repo_web_url=URL)
    assert "ghp_FAKE0example0" not in body  # redacted before escaping, in the root cause's suspect list too
    summary = _summary(body)
    line = next(ln for ln in summary.splitlines() if ln.startswith("**Behaviour change:**"))
    line = line[line.index("**Kind of fix:**"):]
    assert "ghp_FAKE0example0" not in line and r"\[REDACTED:github-token\]" in line
    assert not re.search(r"(?<!\\)<img", line) and "*tiers*" not in line and "@admins" not in line
    assert "[x](http://evil)" not in line
    assert f"({URL}/commit/{SUSPECT})" in line  # the link itself survives


def test_report_md_says_the_kind_too(flagship: RunReport) -> None:
    from crew.report import to_markdown

    assert "**Kind:** guard — checks the failing value" in to_markdown(flagship)
    text = to_markdown(_revert(flagship, summary="Add *tiers*"))
    assert f'**Kind:** revert — partly reverts `{SUSPECT[:12]}` "Add \\*tiers\\*".' in text
