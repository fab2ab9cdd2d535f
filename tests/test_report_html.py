"""report.html shows the whole run, self-contained and inert; the PR preview renders Markdown as a forge does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from crew.handoffs import CandidateRecord, RunReport, StageTiming
from crew.report import write_report
from crew.report_html import CSP, markdown_to_html, pr_preview_html, to_html
from tests.test_report_reproduction import ATTACK, SECRET, flagship, reproduced

CANDIDATES = [
    CandidateRecord(strategy="guard-zero-divisor-identity", kind="division", location="app/pricing.py:27", size=2,
                    prior=0.8, verdict="accepted", seconds=2.81, rank=1),
    CandidateRecord(strategy="revert-suspect-hunk", kind="revert", location="app/pricing.py:27", size=2, prior=0.6,
                    verdict="test still fails", seconds=1.2, warnings=["removes an intended change"]),
    CandidateRecord(strategy="conditional-zero-divisor-zero", kind="division", location="app/pricing.py:32", size=2,
                    prior=0.3, verdict="not validated: a better-ranked candidate was accepted"),
]


def _full(**updates: Any) -> RunReport:
    return flagship(**({"candidates": CANDIDATES, "reproduction": reproduced()} | updates))


def _text(html: str) -> str:
    """The visible text of a page: tags dropped, blanks squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S)).split())


def test_report_html_has_the_timeline_diagnosis_candidates_sandbox_and_diff() -> None:
    page = to_html(_full())
    for section in ("summary", "diff", "sandbox", "reproduction", "timeline", "diagnosis", "candidates", "attempts",
                    "test", "evidence"):
        assert f'<section id="{section}">' in page, section
    text = _text(page)
    # timeline: every stage with its time, nested stages drawn inside repair
    report = _full()
    for t in report.timings:
        assert t.stage in text, t.stage
    assert re.search(r'class="tl-name d0">repair', page) and re.search(r'class="tl-name d1">sandbox', page)
    # the diagnosis with the code around the fault line, the fault line marked
    assert re.search(r'<span class="fault"><span class="ln">27</span>\s*return p / d</span>', page)
    # every candidate with its verdict
    for c in CANDIDATES:
        assert c.strategy in text and c.verdict in text
    assert "ranked down: removes an intended change" in text
    # the sandbox results in words
    assert "fails before" in text and "passes after" in text and "suite green" in text
    assert "25 inputs compared" in text
    assert "Reproduced in 4.2 s by tests/test_healcrew_pricing_zero_division.py" in text  # how, in the shared words
    # the diff, each line with its role
    assert '<span class="d-add">+    if not d:</span>' in page
    assert '<span class="d-hunk">@@ -24,6 +24,8 @@</span>' in page


def test_report_html_is_self_contained() -> None:
    page = to_html(_full())
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in CSP and "script-src" not in CSP  # nothing loads, nothing runs
    assert "<script" not in page and "<link" not in page and "<img" not in page and "<iframe" not in page
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert not re.search(r"url\((?!data:)", page) and "@import" not in page and "@font-face" not in page


def test_text_from_logs_is_escaped_and_redacted_in_report_html() -> None:
    report = _full()
    assert report.evidence is not None and report.diagnosis is not None
    group = report.evidence.groups[0].model_copy(update={"exc_message": ATTACK})
    ev = report.evidence.model_copy(update={"groups": [group], "log_excerpt": [ATTACK, "</pre></details><b>x</b>"]})
    d = report.diagnosis.model_copy(update={"hypothesis": f"It says `{ATTACK}` and {ATTACK}", "exc_message": ATTACK})
    c = CANDIDATES[1].model_copy(update={"verdict": ATTACK})
    page = to_html(report.model_copy(update={"evidence": ev, "diagnosis": d, "candidates": [c],
                                             "policy_decisions": [ATTACK]}))
    assert SECRET not in page and "[REDACTED:aws-access-key]" in page
    assert "<img" not in page and "onerror=" not in page.replace("onerror=alert(1)&gt;", "")
    assert "<b>x</b>" not in page and "&lt;/pre&gt;&lt;/details&gt;&lt;b&gt;x&lt;/b&gt;" in page
    assert 'href="http://evil.example' not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # still there, as text
    assert page.count("<details>") == page.count("</details>")


@pytest.mark.parametrize("updates", [
    {"accepted": None, "attempts": [], "declined": "a deliberate invariant check: `raise ValueError`",
     "outcome": "no_fix"},
    {"diagnosis": None, "accepted": None, "attempts": [], "evidence": None, "outcome": "failed",
     "stopped_at": "monitoring", "error": "no crash evidence in the log",
     "timings": [StageTiming(stage="monitoring", seconds=0.2, status="failed", error="no crash evidence")]},
    {"timings": []},
], ids=["declined", "stopped", "no-timings"])
def test_report_html_renders_runs_that_did_not_fix(updates: dict[str, Any]) -> None:
    page = to_html(flagship(**updates))
    text = _text(page)
    assert text.startswith("healcrew: pricing-zero-division healcrew: pricing-zero-division")  # title and heading
    if updates.get("declined"):
        assert "No fix proposed: a deliberate invariant check: raise ValueError" in text
        assert "<code>raise ValueError</code>" in page
    if updates.get("stopped_at"):
        assert "Stopped in monitoring: no crash evidence in the log" in text and "failed" in text


def test_write_report_puts_report_html_beside_report_md(tmp_path: Path) -> None:
    write_report(_full(), tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"report.json", "report.md", "report.html"}
    assert '<section id="candidates">' in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_a_failing_html_template_leaves_a_note_not_a_lost_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import crew.report_html

    def broken(report: RunReport) -> str:
        raise KeyError("template bug")

    monkeypatch.setattr(crew.report_html, "to_html", broken)
    write_report(_full(), tmp_path)
    assert "could not be rendered (KeyError); see report.md" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "report.md").is_file() and (tmp_path / "report.json").is_file()


def test_markdown_renders_like_a_forge_and_only_the_pr_bodys_own_tags_pass() -> None:
    out = markdown_to_html(
        "> [!WARNING]\n> **Needs a careful look.**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "<details>\n<summary>Traceback</summary>\n\n```diff\n-x\n+y\n```\n\n</details>\n\n"
        "<script>alert(1)</script>\n\nline one\nline two <img src=x onerror=alert(1)> <sub>small</sub>\n"
    )
    assert '<blockquote class="alert alert-warning">' in out and '<p class="alert-title">Warning</p>' in out
    assert "<table>" in out and "<td>1</td>" in out
    assert "<details>" in out and "<summary>Traceback</summary>" in out and "</details>" in out
    assert '<span class="d-del">-x</span><span class="d-add">+y</span>' in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "line one<br />\nline two" in out and "<sub>small</sub>" in out  # GitHub keeps a comment's line breaks


def test_the_pr_preview_is_a_self_contained_page() -> None:
    from crew.delivery.pr_body import render_pr_body

    page = pr_preview_html(render_pr_body(_full()), "Fix <calc>")
    assert page.startswith("<!DOCTYPE html>") and f'content="{CSP}"' in page
    assert "<title>Fix &lt;calc&gt;</title>" in page and '<pre class="diff">' in page
    assert "<script" not in page and SECRET not in page
