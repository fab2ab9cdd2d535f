"""The flagship PR and its report.html, opened in headless Chromium the way a reviewer opens them.

Each page must render, log nothing to the console (no error, no blocked resource: the pages are
self-contained), and show the diff on the first screen. The screenshots stay in the test's tmp
folder (printed, so a person can look at them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.delivery.pr_body import render_pr_body
from crew.handoffs import DeliveryRecord, RunReport
from crew.report_html import pr_preview_html, to_html
from tests.browser import chromium_binary, png_size, positions, screenshot

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "delivery" / "fixtures" / "flagship_report.json"
WIDTH, HEIGHT = 1280, 800


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_binary()


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    """The saved flagship run, pointed at the real example repository, as delivered to a branch."""
    from crew.history import materialize

    repo = materialize(ROOT / "examples" / "pricing-service", tmp_path_factory.mktemp("repo"))
    report = RunReport.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    delivery = DeliveryRecord(incident_id=report.incident.id, forge="local",
                              branch="healcrew/pricing-zero-division-division-by-zero-calc",
                              base_commit=report.incident.commit, commit="d644bea715a046565b4b94391fbce9a7c65428cd",
                              pushed=True)
    return report.model_copy(update={"incident": report.incident.model_copy(update={"repo": str(repo)}),
                                     "delivery": delivery})


def test_the_console_check_can_fail(chromium: str, tmp_path: Path) -> None:
    """The control: a page that logs an error and loads a remote image is caught by the same check."""
    page = tmp_path / "bad.html"
    page.write_text(pr_preview_html("hello").replace(
        "</main>", '<img src="http://127.0.0.1:9/x.png"></main>'), encoding="utf-8")
    messages = screenshot(chromium, page, tmp_path / "bad.png")
    assert any("Content Security Policy" in m and "127.0.0.1:9" in m for m in messages), messages


def test_the_flagship_pr_shows_the_diff_on_the_first_screen(chromium: str, flagship: RunReport,
                                                            tmp_path: Path) -> None:
    page = tmp_path / "PR.html"
    page.write_text(pr_preview_html(render_pr_body(flagship), "Fix ZeroDivisionError in calc (pricing-service)"),
                    encoding="utf-8")
    png = tmp_path / "PR.png"
    assert screenshot(chromium, page, png, width=WIDTH, height=HEIGHT) == []  # no console error, nothing blocked
    assert png_size(png) == (WIDTH, HEIGHT) and png.stat().st_size > 20_000  # a rendered page, not a blank one
    where = positions(chromium, page, {"summary": "main ul", "diff": "pre.diff", "checks": "table",
                                       "root": "h2"}, width=WIDTH, height=HEIGHT)
    print(f"\nPR first screen: {png} {where}")
    assert where["summary"] is not None and where["diff"] is not None and where["checks"] is not None
    assert where["summary"] < where["diff"] < where["checks"] < (where["root"] or 1e9)
    assert where["diff"] + 8 * 18 < HEIGHT  # the diff's first lines are on the first screen
    assert where["checks"] < HEIGHT  # and the pass/fail table starts there too


def test_report_html_renders_with_the_diff_on_the_first_screen(chromium: str, flagship: RunReport,
                                                               tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html(flagship), encoding="utf-8")
    png = tmp_path / "report.png"
    assert screenshot(chromium, page, png, width=WIDTH, height=HEIGHT) == []
    assert png_size(png) == (WIDTH, HEIGHT) and png.stat().st_size > 20_000
    where = positions(chromium, page, {"diff": "pre.diff", "timeline": "#timeline", "candidates": "#candidates",
                                       "diagnosis": "#diagnosis pre.code"}, width=WIDTH, height=HEIGHT)
    print(f"\nreport.html first screen: {png} {where}")
    assert where["diff"] is not None and where["diff"] + 8 * 18 < HEIGHT
    assert all(where[k] is not None for k in ("timeline", "diagnosis"))  # every section laid out
