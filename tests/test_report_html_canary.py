"""The canary in report.html: a chart drawn by matplotlib (error rate and latency per step, canary against
stable) and tables of steps, measurements and verdicts, only when a canary ran; nothing is fetched."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

from crew.handoffs import CanaryResult
from crew.report_html import canary_chart, canary_html, to_html
from tests.canary.records import aborted, promoted
from tests.test_report_reproduction import flagship

SVG = "{http://www.w3.org/2000/svg}"


def _svg(uri: str) -> ET.Element:
    assert uri.startswith("data:image/svg+xml;base64,")
    return ET.fromstring(base64.b64decode(uri.split(",", 1)[1]))


def _texts(svg: ET.Element) -> list[str]:
    return ["".join(t.itertext()).strip() for t in svg.iter(f"{SVG}text")]


def test_the_chart_plots_both_metrics_per_step_canary_against_stable() -> None:
    svg = _svg(canary_chart(aborted()) or "")
    texts = _texts(svg)
    assert "error rate (%)" in texts and "latency p90 (ms)" in texts
    assert texts.count("canary") == 2 and texts.count("stable") == 2  # a legend in each panel
    assert {"setWeight", "pause", "analysis"} <= {w for t in texts for w in t.split()}
    lines = [p for p in svg.iter(f"{SVG}path") if "clip-path" in p.attrib and "stroke" in p.get("style", "")]
    assert len(lines) >= 4  # canary and stable in each of the two panels
    assert canary_chart(aborted()) == canary_chart(aborted())  # no date, no random ids: same result, same bytes
    assert canary_chart(aborted()) != canary_chart(promoted())


def test_the_canary_section_of_report_html_holds_the_chart_and_the_tables() -> None:
    page = to_html(flagship().model_copy(update={"canary": aborted()}))
    section = page[page.index('<section id="canary">'):]
    section = section[:section.index("</section>")]
    assert '<span class="badge bad">aborted</span>' in section
    (src,) = re.findall(r'<img class="chart" alt="[^"]+" src="([^"]+)">', section)
    assert src.startswith("data:image/svg+xml;base64,")  # allowed by the CSP's img-src data:, nothing fetched
    assert section.count("<tr><td>") >= 3 + 2 + 2  # three steps, two measurements, two verdicts of step 3
    assert "11.00% / 0.00%" in section and "66 ms / 21 ms" in section
    assert "all traffic is back on stable" in section and "judge score 0 (fail)" in section
    assert '<span class="no">high</span>' in section


def test_without_a_canary_the_report_shows_no_chart_and_makes_no_claim() -> None:
    not_run = CanaryResult(backend="local", decision="not_run", reason="no engine", stable="a", candidate="b")
    for report in (flagship(), flagship().model_copy(update={"canary": not_run})):
        page = to_html(report)
        assert "<img" not in page and "canary" not in page.lower()


def test_the_standalone_canary_page_is_self_contained() -> None:
    page = canary_html(promoted())
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert "<script" not in page and not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)
    assert "<title>healcrew canary: promoted</title>" in page and "7 of 7 step(s) passed" in page
