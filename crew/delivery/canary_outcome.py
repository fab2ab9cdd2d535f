"""The canary's outcome in words for the pull request, and its delivery after the PR was opened.

Only a canary that ran is described (promoted, aborted, timed out); one that did not run makes
no claim at all. The PR is opened before the canary runs, so once it ends a local review
bundle's ``PR.md`` is rendered again with the result, and a GitHub PR gets a comment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crew.escape import markdown_code, markdown_inline, markdown_prose
from crew.handoffs import CanaryResult, CanaryStep, RunReport

RAN = ("promoted", "aborted", "timed_out")
_DECISION = {"promoted": "promoted", "aborted": "aborted", "timed_out": "timed out and aborted"}
_METRICS = (("error_rate", "error rate", "{:.2%}"), ("latency_p90_seconds", "latency p90", "{:.0f} ms"))
METRIC_LABELS = [label for _, label, _ in _METRICS]


def ran(result: CanaryResult | None) -> bool:
    """True when a canary actually ran (so there is something to say about it)."""
    return result is not None and result.decision in RAN


def _value(step: CanaryStep, name: str, side: str, fmt: str) -> str:
    metric = next((m for m in step.metrics if m.name == name), None)
    value = getattr(metric, side, None) if metric is not None else None
    if value is None:
        return "–"
    return fmt.format(value * 1000 if name.endswith("_seconds") else value)


def step_rows(result: CanaryResult) -> list[dict[str, str]]:
    """One row per step: what it was, its traffic share, the outcome and each metric canary / stable."""
    rows = []
    for s in result.steps:
        row = {"step": f"{s.index + 1}. {s.kind}", "weight": f"{s.weight} %", "outcome": s.outcome,
               "judge": f"{s.judge.verdict} ({s.judge.score:.0f})" if s.judge is not None else "–",
               "analysis": ", ".join(f"{a.metric} {a.phase}" for a in s.analysis) or "–"}
        for name, label, fmt in _METRICS:
            row[label] = f"{_value(s, name, 'canary', fmt)} / {_value(s, name, 'stable', fmt)}"
        rows.append(row)
    return rows


def _version(ref: str) -> str:
    """A commit sha shortened as git shows it; an image reference as it is."""
    return ref[:12] if len(ref) == 40 and all(c in "0123456789abcdef" for c in ref) else ref[:80]


def canary_line(result: CanaryResult) -> str:
    """The one-line outcome (Markdown): decision, steps passed, the judge's score, the reason."""
    passed = sum(1 for s in result.steps if s.outcome == "passed")
    score = f"; judge score {result.judge.score:.0f} ({result.judge.verdict})" if result.judge is not None else ""
    back = "" if result.decision == "promoted" else "; all traffic is back on stable"
    return (f"{_DECISION[result.decision]} on the {result.backend} canary after {passed} of {len(result.steps)} "
            f"step(s) passed{score}: {markdown_inline(result.reason)}{back} (stable "
            f"{markdown_code(_version(result.stable))}, candidate {markdown_code(_version(result.candidate))}, "
            f"{result.seconds:.0f} s).")


def canary_context(result: CanaryResult | None) -> dict[str, Any] | None:
    """What the PR body template shows about the canary; None when none ran."""
    if result is None or not ran(result):
        return None
    rows = [{k: markdown_prose(v) for k, v in row.items()} for row in step_rows(result)]
    return {"line": canary_line(result), "rows": rows, "labels": [label for _, label, _ in _METRICS]}


def canary_comment(result: CanaryResult) -> str:
    """The comment posted on the GitHub PR once the canary has ended."""
    ctx = canary_context(result)
    assert ctx is not None
    head = "| step | traffic | outcome | " + " | ".join(f"{x} (canary / stable)" for x in ctx["labels"]) + " |"
    lines = [f"**Canary:** {ctx['line']}", "", head, "|---|---:|---|" + "---|" * len(ctx["labels"])]
    for r in ctx["rows"]:
        lines.append(f"| {r['step']} | {r['weight']} | {r['outcome']} | "
                     + " | ".join(r[label] for label in ctx["labels"]) + " |")
    return "\n".join(lines) + "\n"


def share_canary_outcome(report: RunReport, delivery_config: dict[str, Any] | None, out_dir: Path) -> list[str]:
    """Put the ended canary where the reviewer looks; the delivery notes saying what was done."""
    from crew.delivery.config import DeliveryConfig
    from crew.delivery.redact import redact
    from crew.errors import DeliveryError

    record, result = report.delivery, report.canary
    if record is None or result is None or not ran(result):
        return []
    config = DeliveryConfig.model_validate({**(delivery_config or {}), "forge": record.forge})
    if record.forge == "github":
        pr = record.pull_request
        if pr is None or pr.number is None:
            return ["the canary's outcome was not posted: no pull request number"]
        from crew.delivery.github_forge import comment_on_pr

        try:
            comment_on_pr(config, pr.number, redact(canary_comment(result)))
        except DeliveryError as exc:
            return [f"the canary's outcome was not posted on PR #{pr.number}: {exc}"]
        return [f"the canary's outcome is posted on PR #{pr.number}"]
    body_path = out_dir / "PR.md"
    if not body_path.is_file():
        return []
    from crew.delivery.deliver import pr_body
    from crew.report import write_output

    write_output(body_path, pr_body(report, record, config))
    return ["PR.md is rendered again with the canary's outcome"]
