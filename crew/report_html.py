"""HTML views of a run: ``report.html`` (the whole run, for people) and a preview of ``PR.md`` as a forge shows it.

Both are single self-contained files: styles inline, no script, no font, image or any other
resource fetched, and a Content-Security-Policy that forbids loading anything, so opening a
report never calls out. Every value in a report came from logs, an alert or a repository, so
``report.html`` is rendered from the redacted report (:func:`crew.report.public`) by Jinja2 with
autoescaping on; the only markup added to text is ``<code>`` around backtick spans, added after
escaping. The PR preview renders Markdown the way GitHub does (tables, hard line breaks, alerts)
and lets through only the HTML tags the PR body itself uses (``details``, ``summary``, ``sub``).
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markupsafe import Markup

    from crew.handoffs import CanaryResult, CanaryStep, RunReport

__all__ = ["CSP", "canary_chart", "canary_html", "markdown_to_html", "pr_preview_html", "to_html"]

TEMPLATE = "report.html.j2"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
_HTML_PART = re.compile(r"(<!--.*?-->|<[^>]*>)", re.S)
_ALLOWED_TAG = re.compile(r"^(?:<!--.*-->|</?(?:details|summary|sub|sup|br)\s*/?>)$", re.S)
_ALERT = re.compile(r"<blockquote>\n<p>\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\](?:<br />)?\n")


def _diff_lines(text: str) -> list[tuple[str, str]]:
    """Each line of a unified diff with its role: add, del, hunk, meta or context."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith(("+++", "---", "diff ", "index ")):
            role = "meta"
        elif line.startswith("@@"):
            role = "hunk"
        elif line.startswith("+"):
            role = "add"
        elif line.startswith("-"):
            role = "del"
        else:
            role = "ctx"
        out.append((role, line))
    return out


def _diff_html(text: str) -> str:
    rows = "".join(f'<span class="d-{role}">{html.escape(line) or " "}</span>' for role, line in _diff_lines(text))
    return f'<pre class="diff"><code>{rows}</code></pre>'


def markdown_to_html(text: str) -> str:
    """Markdown rendered like a GitHub comment; raw HTML other than the PR body's own few tags is escaped."""
    from markdown_it import MarkdownIt

    mdit = MarkdownIt("commonmark", {"html": True, "breaks": True}).enable(["table", "strikethrough"])

    def html_token(_self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        parts = _HTML_PART.split(tokens[idx].content)
        return "".join(p if i % 2 and _ALLOWED_TAG.match(p) else html.escape(p) for i, p in enumerate(parts))

    def fence(_self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        lang = token.info.strip().split(" ")[0]
        if lang == "diff":
            return _diff_html(token.content)
        cls = f' class="language-{html.escape(lang)}"' if lang else ""
        return f"<pre><code{cls}>{html.escape(token.content)}</code></pre>\n"

    mdit.add_render_rule("html_block", html_token)
    mdit.add_render_rule("html_inline", html_token)
    mdit.add_render_rule("fence", fence)
    out = mdit.render(text)
    return _ALERT.sub(lambda m: f'<blockquote class="alert alert-{m.group(1).lower()}">\n'
                                f'<p class="alert-title">{m.group(1).title()}</p>\n<p>', out)


def _page(title: str, body: str, css: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _css(name: str) -> str:
    from importlib.resources import files

    return files("crew").joinpath("templates", name).read_text(encoding="utf-8")


def pr_preview_html(markdown: str, title: str = "Pull request") -> str:
    """``PR.md`` as a reviewer sees it on a forge: one HTML page, for previews and the screenshot test."""
    from crew.report import public_text

    body = f'<main class="markdown-body pr">\n<h1 class="pr-title">{html.escape(title)}</h1>\n' \
           f"{markdown_to_html(public_text(markdown))}</main>"
    return public_text(_page(title, body, _css("report.css")))


# --------------------------------------------------------------------------- report.html


def _ticks(text: object) -> Markup:
    """Escaped text whose own `code` spans become <code> (after escaping, so nothing else is markup)."""
    from markupsafe import Markup

    escaped = html.escape(str(text))
    parts = escaped.split("`")
    if len(parts) % 2 == 0:
        return Markup(escaped)
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


def _timeline(report: RunReport) -> list[dict[str, Any]]:
    """The stages as bars on one time axis; nested stages (``sandbox``, ``sandbox: ...``) inside ``repair``."""
    top = [t for t in report.timings if t.stage not in ("sandbox", "reflection") and not t.stage.startswith("sandbox:")]
    total = sum(t.seconds for t in top) or 1.0
    starts: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    clock = 0.0
    for t in top:
        starts[t.stage] = clock
        clock += t.seconds
    inner = starts.get("repair", 0.0)
    sub = starts.get("repair", 0.0)
    for t in report.timings:
        if t.stage in starts:
            start, depth = starts[t.stage], 0
        elif t.stage.startswith("sandbox:"):
            start, depth = sub, 2
            sub += t.seconds
        else:  # sandbox, reflection: inside the repair loop, in order
            start, depth = inner, 1
            inner += t.seconds
        rows.append({
            "stage": t.stage, "status": t.status, "seconds": t.seconds, "error": t.error or "", "depth": depth,
            "left": round(100 * min(start, total) / total, 2),
            "width": round(max(0.4, 100 * min(t.seconds, total - min(start, total)) / total), 2),
        })
    return rows


def _code_rows(report: RunReport) -> list[dict[str, Any]]:
    d = report.diagnosis
    if d is None or d.code_context is None:
        return []
    c = d.code_context
    return [{"n": n, "text": text, "fault": n == c.fault_line} for n, text in enumerate(c.lines, start=c.start_line)]


def _context(report: RunReport) -> dict[str, Any]:
    from crew.delivery.repo_facts import real_suspects
    from crew.repair.kinds import describe
    from crew.report import input_source_words, reproduction_lines, time_words, validated_patch, yes_no

    d, a = report.diagnosis, report.accepted
    traceback = ""
    ev = report.evidence
    if ev is not None and ev.groups and 0 <= ev.groups[0].example < len(ev.tracebacks):
        traceback = ev.tracebacks[ev.groups[0].example].raw.strip()
    plain = _plain_style()
    return {
        "r": report,
        "d": d,
        "a": a,
        "ev": ev,
        "suspects": real_suspects(d.suspect_commits) if d is not None else [],
        "timeline": _timeline(report),
        "total_seconds": sum(t.seconds for t in report.timings if t.stage in ("monitoring", "diagnostic", "repair",
                                                                            "delivery")),
        "code_rows": _code_rows(report),
        "diff": _diff_lines(a.proposal.diff) if a is not None else [],
        "patch_files": len(re.findall(r"^diff --git ", validated_patch(report), re.M)) if a is not None else 0,
        "kind": describe(a.proposal.strategy) if a is not None else None,
        "input_from": input_source_words(a.proposal.test.input_source) if a and a.proposal.test else "",
        "reproduction": reproduction_lines(report, plain),
        "time_words": time_words,
        "yes_no": yes_no,
        "traceback": traceback,
    }


# --------------------------------------------------------------------------- the canary


_CHART_METRICS = (("error_rate", "error rate (%)", 100.0), ("latency_p90_seconds", "latency p90 (ms)", 1000.0))


def canary_chart(result: CanaryResult) -> str | None:
    """Error rate and latency per step, canary against stable, as an SVG ``data:`` URI (None: nothing measured).

    Drawn by matplotlib's SVG canvas on a ``Figure`` of its own (no pyplot, no global backend),
    text kept as text and ids salted with a constant, so the same result gives the same bytes.
    The page shows it as an ``<img>``: an SVG image runs no script and loads nothing.
    """
    steps = [s for s in result.steps if s.metrics]
    if not steps:
        return None
    import base64
    import io

    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    labels = [f"{s.index + 1}\n{s.kind}\n{s.weight}%" for s in steps]
    with matplotlib.rc_context({"svg.hashsalt": "healcrew", "svg.fonttype": "none", "font.size": 9}):
        fig = Figure(figsize=(9.0, 3.2), layout="constrained")
        FigureCanvasSVG(fig)
        for ax, (name, title, scale) in zip(fig.subplots(1, 2), _CHART_METRICS, strict=True):
            for side, style in (("stable", {"color": "#59636e", "marker": "o", "linestyle": "--"}),
                                ("canary", {"color": "#0969da", "marker": "s", "linestyle": "-"})):
                values = [_metric_value(s, name, side, scale) for s in steps]
                ax.plot(range(len(steps)), values, label=side, **style)
            for i, s in enumerate(steps):
                if s.outcome == "failed":
                    ax.axvspan(i - 0.4, i + 0.4, color="#ffebe9", zorder=0)
            ax.set_title(title)
            ax.set_xticks(range(len(steps)), labels)
            ax.set_ylim(bottom=0)
            ax.grid(axis="y", color="#d1d9e0", linewidth=0.6)
            ax.legend(loc="best", frameon=False)
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "healcrew"})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _metric_value(step: CanaryStep, name: str, side: str, scale: float) -> float:
    metric = next((m for m in step.metrics if m.name == name), None)
    value = getattr(metric, side, None) if metric is not None else None
    return float("nan") if value is None else float(value) * scale  # a gap in the line, not a zero


def _canary_context(result: CanaryResult | None) -> dict[str, Any] | None:
    """What the canary section shows; None when no canary ran (then the report says nothing of one)."""
    from crew.delivery.canary_outcome import METRIC_LABELS, ran, step_rows

    if result is None or not ran(result):
        return None
    return {"c": result, "chart": canary_chart(result), "rows": step_rows(result), "labels": METRIC_LABELS}


def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("crew", "templates"), autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["ticks"] = _ticks
    return env


def canary_html(result: CanaryResult) -> str:
    """``canary.html`` of ``healcrew canary``: the canary section alone, as a self-contained page."""
    from crew.report import public_text

    text = _env().get_template("canary.html.j2").render(css=_css("report.css"), csp=CSP,
                                                        canary=_canary_context(result), standalone=True)
    return public_text(text)


def _plain_style() -> Any:
    """The report's shared wording (:mod:`crew.report`) as plain text with `code` spans, for ``_ticks``."""
    from crew.report import Style

    return Style(text=lambda s: " ".join(str(s).split()), code=lambda s: f"`{' '.join(str(s).split())}`",
                 strong=lambda s: s)


def to_html(report: RunReport) -> str:
    """``report.html``: the run's timeline, diagnosis with code, candidates, sandbox results and diff; redacted."""
    from crew.report import public, public_text

    safe = public(report)
    text = _env().get_template(TEMPLATE).render(css=_css("report.css"), csp=CSP, standalone=False,
                                                canary=_canary_context(safe.canary), **_context(safe))
    return public_text(text)
