"""Attacks by log text (issue 8, item 9): log lines are written by whoever can make the service log.

Extraction must never crash on them, stay linear in their length and bounded in memory
whatever the log's size, and what they say is shown inert in the terminal, in Markdown and
in HTML.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crew.extract import extract_tracebacks, parse_traceback_text
from crew.handoffs import RunReport
from crew.logline import LogLine
from crew.payloads import dicts_in
from crew.sources.files import read_log_file
from crew.sources.loki import LokiClient, RetryPolicy
from tests.replay_server import Request, serving

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/app/app/pricing.py", line 27, in calc',
    "    return p / d",
    "ZeroDivisionError: float division by zero",
]
MB = 1 << 20


def _lines(texts: list[str]) -> list[LogLine]:
    return [LogLine(text=t) for t in texts]


# --------------------------------------------------------------------------- 1. nesting never crashes


def _deep_object(depth: int, leaf: str = '"ValueError: boom"') -> str:
    return '{"exc_info": ' * depth + leaf + "}" * depth


def test_deeply_nested_json_line_is_text_and_later_tracebacks_are_still_found() -> None:
    lines = _lines([_deep_object(100_000), '{"a": ' + "[" * 50_000 + "]" * 50_000 + ', "msg": "Error"}', *TRACEBACK])
    found = extract_tracebacks(lines)
    assert [tb.exc_type for tb in found] == ["ZeroDivisionError"]


def test_deeply_nested_json_lines_file_is_read(tmp_path: Path) -> None:
    record = json.dumps({"ts": "2024-05-01T10:00:00Z", "exception": "\n".join(TRACEBACK)})
    path = tmp_path / "app.jsonl"
    path.write_text("\n".join([record, _deep_object(100_000), record]) + "\n", encoding="utf-8")
    lines = read_log_file(path)
    assert [tb.exc_type for tb in extract_tracebacks(lines)] == ["ZeroDivisionError", "ZeroDivisionError"]


def test_deeply_nested_json_document_is_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    lines = read_log_file(path)  # not a usable document: read as one plain line
    assert extract_tracebacks(lines) == []


def test_deeply_nested_payload_is_not_data() -> None:
    line = "POST /orders body=" + '{"a": ' * 20_000 + "1" + "}" * 20_000
    assert dicts_in(line) == []
    assert dicts_in('body={"user_id": 7, "items": [1, 2]}') == [{"user_id": 7, "items": [1, 2]}]


def test_deeply_nested_loki_body_is_a_source_error() -> None:
    def handler(req: Request) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/json"}, b'{"data": ' * 100_000 + b"1" + b"}" * 100_000

    with serving(handler) as server, LokiClient(server.url, retry=RetryPolicy(attempts=1)) as loki:
        from crew.errors import SourceError

        with pytest.raises(SourceError, match="not JSON"):
            loki.query_range('{app="x"}', datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))


def _nested_groups(depth: int) -> str:
    out: list[str] = []
    for level in range(depth):
        pad = "  " + "| " * level
        out.append(f"{pad}+ Exception Group Traceback (most recent call last):")
        out.append(f'{pad}|   File "/app/app/jobs.py", line {level + 1}, in run')
        out.append(f"{pad}| ExceptionGroup: level {level} (1 sub-exception)")
        out.append(f"{pad}+-+---------------- 1 ----------------")
    out.append("  " + "| " * depth + "ValueError: innermost")
    return "\n".join(out)


def test_exception_groups_nested_beyond_the_bound_are_cut_not_a_crash() -> None:
    tb = parse_traceback_text(_nested_groups(3_000))
    assert tb is not None and tb.exc_type == "ExceptionGroup"
    depth, node = 0, tb
    while node.group:
        node, depth = node.group[0], depth + 1
    assert depth <= 32
    tb.model_dump_json()  # the report can still be written


def test_a_chain_of_thousands_of_causes_stays_serialisable() -> None:
    segment = ['  File "/app/app/a.py", line 1, in f', "KeyError: 'k'"]
    text = [TRACEBACK[0], *segment]
    for _ in range(5_000):
        text += ["", "The above exception was the direct cause of the following exception:", "", TRACEBACK[0], *segment]
    tb = parse_traceback_text("\n".join(text))
    assert tb is not None and tb.exc_type == "KeyError" and tb.truncated
    tb.model_dump_json()


# --------------------------------------------------------------------------- 2. extraction stays linear


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


HEADER = TRACEBACK[0]
# (name, a normal 1 MB case, the same size built to trigger backtracking)
PATHOLOGICAL: list[tuple[str, list[str], list[str]]] = [
    ("spaces before a header", ["x" * MB + HEADER, *TRACEBACK[1:]], [" " * MB + HEADER, *TRACEBACK[1:]]),
    (
        "spaces inside a frame line",
        [HEADER, '  File "a.py", line 1, in f' + "x" * MB, "ValueError: x"],
        [HEADER, '  File "a.py", line 1, in f' + " " * MB + "x", "ValueError: x"],
    ),
    (
        "a run of carets",
        [HEADER, '  File "a.py", line 1', "    x", "    " + "a" * MB, "SyntaxError: x"],
        [HEADER, '  File "a.py", line 1', "    x", "    " + "^" * MB + "x", "SyntaxError: x"],
    ),
    (
        "headers with ever-new prefixes",
        [f"pid=1 {HEADER}" for _ in range(20_000)],
        [f"pid={i} {HEADER}" for i in range(20_000)],
    ),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "normal", "attack"), PATHOLOGICAL, ids=[p[0] for p in PATHOLOGICAL])
def test_extraction_is_linear_on_pathological_lines(name: str, normal: list[str], attack: list[str]) -> None:
    normal_lines, attack_lines = _lines(normal), _lines(attack)
    baseline = min(_timed(lambda: extract_tracebacks(normal_lines)) for _ in range(2))
    took = _timed(lambda: extract_tracebacks(attack_lines))
    assert took < 10 * baseline + 0.25, f"{name}: {took:.3f}s against {baseline:.3f}s for a normal log of that size"


@pytest.mark.timeout(120)
def test_embedded_payload_search_is_linear_on_many_braces() -> None:
    line = "{" + "}" * (MB // 4)
    took = _timed(lambda: dicts_in(line))
    baseline = _timed(lambda: dicts_in("{" + "x" * (MB // 4) + "}"))
    assert took < 10 * baseline + 0.25


# --------------------------------------------------------------------------- 3. memory stays bounded

_MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    # a safety net for the machine: a reader that holds the whole log fails here instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    from crew.extract import extract_tracebacks
    from crew.sources.files import read_log_file
    from crew.sources.startup import find_startup_failure
    try:
        lines = read_log_file(sys.argv[1])
        found = extract_tracebacks(lines)
        find_startup_failure(lines)
        tail = [ln.text for ln in lines[-3:]]
        result = {"tracebacks": [tb.exc_type for tb in found], "tail": tail, "scanned": getattr(lines, "scanned", 0)}
    except MemoryError:
        result = {"error": "MemoryError"}
    from tests.security.peak import peak_rss_mb
    result["max_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
    """
)


@pytest.mark.timeout(180)
def test_a_huge_log_of_tiny_lines_is_read_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "tiny.log"
    tiny = b"".join(b"i %06d\n" % i for i in range(100_000))  # 9 bytes a line
    repeats = (200 * MB) // len(tiny)
    with path.open("wb") as fh:
        fh.write("\n".join(TRACEBACK).replace("ZeroDivision", "Lookup").encode() + b"\n")  # the first crash
        for _ in range(repeats):
            fh.write(tiny)
        fh.write("\n".join(TRACEBACK).encode() + b"\nlast words\n")
    size = path.stat().st_size
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=170,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result.get("error") is None, result
    assert result["tracebacks"] == ["LookupError", "ZeroDivisionError"]
    assert result["tail"][-1] == "last words"
    assert result["scanned"] == repeats * 100_000 + 2 * len(TRACEBACK) + 1
    assert result["max_rss_mb"] < 300, f"{result['max_rss_mb']:.0f} MB peak for a {size / MB:.0f} MB log"


# --------------------------------------------------------------------------- 4. shown inert

ATTACK = (
    "\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07 \x1b[2J\x1b]0;owned\x07 [/bold] [red]x[/red] "
    "**PWNED** ![img](http://evil.example/x.png) [link](http://evil.example/) <script>alert(1)</script> "
    "@octocat ``` </details> #1"
)


def _console() -> tuple[object, object]:
    import io

    from rich.console import Console

    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, color_system="truecolor", width=400), buf


def _assert_inert_on_terminal(text: str) -> None:
    assert "\x1b]" not in text and "\x07" not in text and "\x1b[2J" not in text  # Rich's own SGR colours only
    assert "[/bold]" in text and "[red]x[/red]" in text  # markup shown, not applied or fatal


def test_terminal_view_of_evidence_and_diagnosis_is_inert() -> None:
    from crew.handoffs import CrashEvidence, CrashGroup, Diagnosis, Frame, RootCause
    from crew.render import show_diagnosis, show_evidence

    console, buf = _console()
    ev = CrashEvidence(
        incident_id="i", source="/logs/[v2]/app\x1b[31m.log", lines_scanned=3,
        groups=[CrashGroup(signature="s", exc_type="ValueError", exc_message=ATTACK[:140], count=1, example=0,
                           top_frame=Frame(file="/app/[x]/a.py", line=1, function="f"))],
    )
    d = Diagnosis(incident_id="i", exc_type="ValueError", exc_message=ATTACK, root_cause=list(RootCause)[0],
                  confidence=0.5, hypothesis=ATTACK)
    show_evidence(console, ev)  # type: ignore[arg-type]
    show_diagnosis(console, d)  # type: ignore[arg-type]
    out = buf.getvalue()  # type: ignore[attr-defined]
    _assert_inert_on_terminal(out)
    assert "[v2]" in out and "[x]" in out  # bracketed names are not swallowed as markup


def test_stage_progress_shows_a_summary_from_the_log_inert() -> None:
    from crew.progress import RichReporter

    console, buf = _console()
    RichReporter(console).finished("Monitoring", 0.1, "ok", ATTACK)  # type: ignore[arg-type]
    _assert_inert_on_terminal(buf.getvalue())  # type: ignore[attr-defined]


def test_cli_error_naming_a_file_with_markup_and_escapes_is_one_line(tmp_path: Path) -> None:
    from tests.e2e_helpers import assert_one_line_error, healcrew

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=30)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
                    "--allow-empty", "-m", "init"], check=True, timeout=30)
    missing = tmp_path / "[/bold][v2]\x1b]0;owned\x07nope.log"
    proc = healcrew("diagnose", "--log", str(missing), "--repo", str(repo), cache=tmp_path / "cache")
    assert_one_line_error(proc, 2, "not found")
    assert "[/bold][v2]" in proc.stderr and "\x1b" not in proc.stderr and "\x07" not in proc.stderr


def _report_with_attack() -> RunReport:
    from crew.handoffs import AlertInfo, RunReport, Termination

    fixture = Path(__file__).resolve().parents[1] / "delivery" / "fixtures" / "flagship_report.json"
    report = RunReport.model_validate_json(fixture.read_text(encoding="utf-8"))
    ev, d = report.evidence, report.diagnosis
    assert ev is not None and d is not None
    group = ev.groups[0].model_copy(update={"exc_message": ATTACK})
    tb = ev.tracebacks[group.example].model_copy(update={"raw": "Traceback:\n" + ATTACK + "\n````\n</details>"})
    tracebacks = list(ev.tracebacks)
    tracebacks[group.example] = tb
    ev = ev.model_copy(update={
        "groups": [group], "tracebacks": tracebacks, "source": "/b/<img src=x onerror=alert(1)>.log",
        "termination": Termination(kind="startup_failure", reason="x", detail=ATTACK),
    })
    d = d.model_copy(update={"exc_message": ATTACK, "hypothesis": "The crash says `" + ATTACK + "` and " + ATTACK})
    incident = report.incident.model_copy(update={
        "service": ATTACK,
        "alerts": [AlertInfo(alertname="CrashLoop", status="firing", annotations={"summary": ATTACK})],
    })
    return report.model_copy(update={"evidence": ev, "diagnosis": d, "incident": incident})


def _pr_body(report: RunReport) -> str:
    from crew.delivery.pr_body import render_pr_body

    return render_pr_body(report, repo_web_url="https://github.com/acme/x")


def _report_md(report: RunReport) -> str:
    from crew.report import to_markdown

    return to_markdown(report)


@pytest.mark.parametrize("render", [_pr_body, _report_md], ids=["PR.md", "report.md"])
def test_markdown_and_html_from_logs_render_inert(render: Callable[[RunReport], str]) -> None:
    import re

    from markdown_it import MarkdownIt

    body = render(_report_with_attack())
    assert "\x1b" not in body and "\x07" not in body
    html = MarkdownIt("commonmark").enable("table").render(body)
    outside_code = re.sub(r"<pre>.*?</pre>|<code>.*?</code>", "", html, flags=re.S)
    assert "<strong>PWNED</strong>" not in html
    assert "<img" not in html and "<script>" not in html and re.search(r"<[^>]*onerror", html) is None
    assert 'href="http://evil.example' not in html
    assert "@octocat" not in outside_code  # no mention notifies anyone
    assert html.count("<details>") == html.count("</details>")  # no block of ours was closed early
    assert "PWNED" in html  # the text is still there, as text
