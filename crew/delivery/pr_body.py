"""The pull request body: the whole case for the fix, so a reviewer can approve it in a minute.

``render_pr_body`` turns a ``RunReport`` into Markdown through ``crew/templates/pr_body.md.j2``.
This module decides *what* to say (links, verdicts, the one-sentence fix, how to roll back);
the template decides the layout. The result always goes through :func:`crew.delivery.redact.redact`
before it is returned: a PR body leaves the process.

Nearly every value comes from the service's logs, the alert or the repository, so none reaches
the template raw: code and names go into code spans (``code``), prose through ``md`` (Markdown
made literal, no @mention), blocks into fences longer than any backtick run, and the text of
HTML elements through ``html_text`` (see :mod:`crew.escape`).
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from crew.delivery.redact import redact
from crew.escape import html_text, markdown_code, markdown_fence, markdown_inline, markdown_prose
from crew.handoffs import (
    Attempt,
    DeliveryRecord,
    Diagnosis,
    RepairProposal,
    RunReport,
    RunSummary,
    ValidationReport,
)
from crew.repair.kinds import kind_sentence
from crew.report import MARKDOWN, expected_words, input_source_words, public, sandbox_python_words

__all__ = ["render_pr_body", "repo_web_url_from", "TEMPLATE", "MAX_BODY_CHARS", "LOW_CONFIDENCE"]

TEMPLATE = "pr_body.md.j2"
MAX_BODY_CHARS = 60_000  # GitHub refuses bodies over 65,536 characters
LOW_CONFIDENCE = 0.7  # used when no config says otherwise
_MAX_BLOCK_LINES = 120
_MAX_TRACEBACK_LINES = 80
_MAX_LOG_LINES = 25
_MAX_CONTEXT_LINES = 10
_IMPERATIVE = re.compile(
    r"^(?:Guard|Raise|Lower|Return|Use|Handle|Check|Default|Fall|Skip|Catch|Convert|Parse|Import|Rename|Read|"
    r"Add|Replace|Treat|Decode|Coerce|Validate|Accept|Keep|Wrap|Set|Restore|Point|Cap|Limit|Clamp|Initialise|"
    r"Initialize|Give|Make|Pass|Strip|Normalise|Normalize|Load|Declare|Define|Move|Ignore|Retry)\b"
)


# --------------------------------------------------------------------------- helpers for the template


fence = markdown_fence
code = markdown_code
md = markdown_inline
prose = markdown_prose


def cell(text: object) -> str:
    """Already escaped Markdown made safe inside one table cell (GFM splits cells at any ``|``)."""
    return re.sub(r"(?<!\\)\|", r"\\|", " ".join(str(text).split()))


def _cap_lines(text: str, limit: int, what: str) -> str:
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= limit:
        return "\n".join(lines)
    return "\n".join([*lines[:limit], f"... ({len(lines) - limit} more lines of {what} not shown)"])


def _when(dt: datetime | None) -> str:
    if dt is None:
        return "?"
    if dt.tzinfo is None:
        return dt.strftime("%Y-%m-%d %H:%M:%S")
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z`])", " ".join(text.split())) if s.strip()]


def fix_in_one_sentence(rationale: str) -> str:
    """The sentence of the rationale that says what the change does (an imperative), else its last."""
    sentences = _sentences(rationale)
    if not sentences:
        return ""
    for s in sentences:
        if _IMPERATIVE.match(s):
            return s
    return sentences[-1]


def repo_web_url_from(config: Any) -> str | None:
    """``https://github.com/owner/name`` (or the GitHub Enterprise web URL) from a delivery config."""
    github = getattr(config, "github", None)
    repo = getattr(github, "repo", None) if github is not None else None
    if not repo:
        return None
    base = getattr(github, "base_url", None)
    if not base:
        return f"https://github.com/{repo}"
    web = re.sub(r"/api/v3/?$", "", base.rstrip("/"))
    web = re.sub(r"^(https?://)api\.", r"\1", web)
    return f"{web}/{repo}"


def _is_config_change(paths: list[str]) -> bool:
    code = (".py", ".pyi", ".pyx")
    return bool(paths) and not any(p.endswith(code) for p in paths)


def _previous_values(diff: str) -> list[dict[str, Any]]:
    """For a configuration change: per file, the lines the diff removes (the values to restore)."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    old_line = 0
    for line in diff.splitlines():
        if line.startswith("--- "):
            continue
        if line.startswith("+++ "):
            path = line[4:].strip()
            path = path[2:] if path.startswith("b/") else path
            current = {"path": path, "lines": []}
            out.append(current)
            continue
        m = re.match(r"@@ -(\d+)", line)
        if m:
            old_line = int(m.group(1))
            continue
        if current is None or line.startswith(("diff ", "index ")):
            continue
        if line.startswith("-"):
            current["lines"].append({"line": old_line, "text": line[1:].strip()})
            old_line += 1
        elif line.startswith(" ") or line == "":
            old_line += 1
    return [f for f in out if f["lines"]]


def _frame_link(url: str | None, sha: str, path: str, line: int) -> str:
    if url and sha:
        return f"[{code(f'{path}:{line}')}]({url}/blob/{quote(sha)}/{quote(path)}#L{line})"
    return code(f"{path}:{line}") + (f" @ {code(sha[:12])}" if sha else "")


def _commit_link(url: str | None, sha: str) -> str:
    if url and sha:
        return f"[{code(sha[:12])}]({url}/commit/{quote(sha)})"
    return code(sha[:12])


# --------------------------------------------------------------------------- sections


def _kind(proposal: RepairProposal, d: Diagnosis | None, url: str | None) -> str:
    """Which kind of fix this is, and for a revert the commit it undoes (linked when there is a forge)."""
    return kind_sentence(proposal.strategy, proposal.rationale, d.suspect_commits if d is not None else [],
                         commit=lambda sha: _commit_link(url, sha), text=md)


def _summary(report: RunReport, d: Diagnosis | None) -> dict[str, Any]:
    inc, ev = report.incident, report.evidence
    group = ev.groups[0] if ev is not None and ev.groups else None
    where = "/".join(x for x in (inc.namespace, inc.pod) if x)
    crash: str
    if group is not None:
        crash = code(f"{group.exc_type}: {group.exc_message[:160]}" if group.exc_message else group.exc_type)
    elif ev is not None and ev.termination is not None:
        t = ev.termination
        crash = {"oom_killed": "an out-of-memory kill", "startup_failure": "a start-up failure"}.get(t.kind, "an exit")
        details = ", ".join(x for x in (t.reason, f"exit code {t.exit_code}" if t.exit_code is not None else "") if x)
        crash += f" ({md(details)})" if details else ""
    elif d is not None:
        crash = code(d.exc_type)
    else:
        crash = "a crash"
    first = group.first_seen if group else None
    last = group.last_seen if group else None
    since = first or inc.started_at or (inc.alerts[0].starts_at if inc.alerts else None)
    return {
        "service": md(inc.service or "the service"),
        "where": code(where) if where else "",
        "container": code(inc.container) if inc.container else "",
        "crash": crash,
        "count": group.count if group is not None else None,
        "since": _when(since) if since else None,
        "last": _when(last) if last and last != first else None,
        "crash_groups": len(ev.groups) if ev is not None else 0,
    }


def _root_cause(d: Diagnosis, url: str | None) -> dict[str, Any]:
    fault = None
    if d.fault_frame is not None and d.fault_frame.repo_path:
        f = d.fault_frame
        fault = {
            "link": _frame_link(url, d.commit, f.repo_path or "", f.frame.line),
            "function": code(f.frame.function),
            "code": code(f.frame.code) if f.frame.code else None,
        }
    context = None
    if d.code_context is not None:
        c = d.code_context
        body = "\n".join(
            f"{'>' if n == c.fault_line else ' '} {n:4d}  {text}" for n, text in enumerate(c.lines, start=c.start_line)
        )
        context = {"path": code(c.path), "block": fence(_cap_lines(body, 40, "code"), "python")}
    suspects = [
        {
            "link": _commit_link(url, s.sha),
            "summary": md(s.summary),
            "author": md(re.sub(r"\s*<[^>]*>", "", s.author)),
            "date": s.date.strftime("%Y-%m-%d"),
            "reason": md(s.reason) if s.reason else "",
        }
        for s in d.suspect_commits[:3]
    ]
    return {
        "hypothesis": prose(d.hypothesis),
        "root_cause": md(d.root_cause.value.replace("_", " ")),
        "exc": code(
            f"{d.exc_type}: {d.exc_message}" if d.exc_message and d.exc_message != d.exc_type else d.exc_type
        ),
        "fault": fault,
        "deployed": _commit_link(url, d.commit) if d.commit else None,
        "context": context,
        "suspects": suspects,
        "culprit": code(d.culprit) if d.culprit else None,
        "library": (
            f"{code(f'{d.library_frame.frame.file}:{d.library_frame.frame.line}')} in "
            f"{code(d.library_frame.frame.function)}"
            if d.library_frame is not None
            else None
        ),
    }


def _evidence(report: RunReport, d: Diagnosis | None) -> dict[str, Any] | None:
    inc, ev = report.incident, report.evidence
    alerts = [
        {
            "name": code(a.alertname),
            "status": md(a.status),
            "starts_at": _when(a.starts_at) if a.starts_at else None,
            "labels": ", ".join(code(f"{k}={v}") for k, v in sorted(a.labels.items()) if k != "alertname"),
            "summary": md(a.annotations.get("summary") or a.annotations.get("description") or ""),
        }
        for a in inc.alerts[:3]
    ]
    python = (sandbox_python_words(report.sandbox_python, MARKDOWN) if report.sandbox_python is not None else None)
    if ev is None and not alerts and python is None:
        return None
    groups = []
    traceback = None
    repo_frames: list[str] = []
    termination = None
    log_excerpt: dict[str, Any] | None = None
    if ev is not None:
        groups = [
            {
                "signature": cell(code(g.signature)),
                "exc": cell(code(f"{g.exc_type}: {g.exc_message}"[:160])),
                "count": g.count,
                "top": (
                    cell(code(f"{g.top_frame.file}:{g.top_frame.line} in {g.top_frame.function}"))
                    if g.top_frame
                    else "-"
                ),
                "first": _when(g.first_seen) if g.first_seen else "-",
                "last": _when(g.last_seen) if g.last_seen else "-",
            }
            for g in ev.groups[:5]
        ]
        if ev.groups and 0 <= ev.groups[0].example < len(ev.tracebacks):
            tb = ev.tracebacks[ev.groups[0].example]
            raw = tb.raw.strip() or "\n".join(
                ["Traceback (most recent call last):"]
                + [
                    f'  File "{f.file}", line {f.line}, in {f.function}' + (f"\n    {f.code}" if f.code else "")
                    for f in tb.frames
                ]
                + [f"{tb.exc_type}: {tb.exc_message}".rstrip(": ")]
            )
            traceback = {
                "lines": len(raw.splitlines()),
                "block": fence(_cap_lines(raw, _MAX_TRACEBACK_LINES, "traceback"), "pytb"),
            }
        if d is not None:
            repo_frames = [
                f"{code(f'{m.repo_path}:{m.frame.line}')} in {code(m.frame.function)}"
                + (" ← fault" if d.fault_frame is not None and m == d.fault_frame else "")
                for m in d.frames
                if m.repo_path and not m.is_library
            ]
        if ev.termination is not None:
            t = ev.termination
            termination = {
                "kind": md(t.kind.replace("_", " ")),
                "reason": code(t.reason) if t.reason else "",
                "exit_code": t.exit_code,
                "detail": md(t.detail) if t.detail else "",
            }
        # With a traceback, the lines worth showing are the inputs logged near the crash; without one
        # (an OOM kill, a start-up failure), the last lines before the end are the evidence.
        if traceback is not None and ev.context_lines:
            lines = ev.context_lines[-_MAX_CONTEXT_LINES:]
            log_excerpt = {"what": "log lines with data near the crash", "count": len(lines)}
        elif traceback is None and ev.log_excerpt:
            lines = ev.log_excerpt[-_MAX_LOG_LINES:]
            log_excerpt = {"what": "last log lines", "count": len(lines)}
        if log_excerpt is not None:
            log_excerpt["block"] = fence("\n".join(line[:400] for line in lines))
    return {
        "alerts": alerts,
        "groups": groups,
        "traceback": traceback,
        "repo_frames": repo_frames,
        "termination": termination,
        "log_excerpt": log_excerpt,
        "source": html_text(PurePosixPath(ev.source).name) if ev is not None and ev.source else None,
        "lines_scanned": ev.lines_scanned if ev is not None else 0,
        "sandbox_python": python,
    }


def _entry(report: RunReport) -> str:
    """The function the test drives, when it is a caller of the fault function (else nothing to say)."""
    rec = report.reproduction
    if rec is None or not rec.entry or rec.entry_depth <= 0:
        return ""
    frames = "frame" if rec.entry_depth == 1 else "frames"
    return f"{code(rec.entry)}, called through {rec.entry_depth} caller {frames} above the fault function"


def _yes(ok: bool | None) -> str:
    return "✅" if ok else ("➖" if ok is None else "❌")


def _verdicts(v: ValidationReport, d: Diagnosis | None) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    orig: RunSummary | None = v.test_on_original
    if orig is not None:
        if v.reproduces:
            at = f" at {code(orig.raising_frame)}" if orig.raising_frame else ""
            same = ""
            if d is not None and d.fault_frame is not None and d.fault_frame.repo_path and orig.raising_frame:
                fault = f"{d.fault_frame.repo_path}:{d.fault_frame.frame.line}"
                same = (
                    " (the fault frame)" if orig.raising_frame == fault else f" (diagnosed fault frame: {code(fault)})"
                )
            result = f"failed with {code(orig.exc_type or '?')}{at}{same}, as in production"
        else:
            result = f"did not reproduce the crash ({md(orig.exc_type or 'no exception')})"
        rows.append({"check": "regression test on the deployed code", "ok": _yes(v.reproduces), "result": result})
    patched = v.test_on_patched
    if patched is not None:
        result = "passed" if v.fixed else f"failed ({md(patched.exc_type or f'{patched.failed} failing')})"
        rows.append({"check": "regression test on the patched code", "ok": _yes(v.fixed), "result": result})
    suite = v.suite_on_patched
    if suite is not None:
        base = v.suite_on_original
        if v.newly_failing:
            newly = f"{len(v.newly_failing)} newly failing: " + ", ".join(code(t) for t in v.newly_failing[:5])
        else:
            newly = "none newly failing"
        before = f" (before: {base.passed} passed, {base.failed + base.errors} failing)" if base is not None else ""
        rows.append(
            {
                "check": "existing test suite",
                "ok": _yes(v.no_regressions),
                "result": f"{suite.passed} passed, {newly}{before}",
            }
        )
    if v.differential_ok is not None:
        mism = len(v.differential_mismatches)
        rows.append(
            {
                "check": "differential check (original vs patched)",
                "ok": _yes(v.differential_ok),
                "result": f"{v.differential_inputs} inputs, {mism} differ"
                + (" on inputs that did not crash" if v.differential_ok else ""),
            }
        )
    elif v.differential_inputs == 0:
        rows.append({"check": "differential check", "ok": _yes(None), "result": "no input could be generated"})
    if not v.patch_applies:
        rows.append({"check": "patch applies", "ok": _yes(False), "result": "the diff does not apply"})
    rows.append(
        {
            "check": "sandbox",
            "ok": _yes(v.passed),
            "result": f"{code(v.backend)}: {md(v.isolation_note or 'no isolation note')}; "
            f"{v.sandbox_runs} run(s), {v.seconds:.1f} s" + (f" — {md(v.failure)}" if v.failure else ""),
        }
    )
    return [{k: cell(x) for k, x in r.items()} for r in rows]


def _attempts(attempts: list[Attempt]) -> list[dict[str, str]]:
    rows = []
    for a in attempts:
        v = a.validation
        rows.append(
            {
                "number": str(a.number),
                "strategy": code(a.proposal.strategy),
                "reproduces": _yes(v.reproduces) if v else "➖",
                "fixed": _yes(v.fixed) if v else "➖",
                "suite": _yes(v.no_regressions) if v else "➖",
                "verdict": md(a.critique.verdict) if a.critique else "-",
                "why": cell(prose((a.rejected_because or (a.critique.feedback if a.critique else "") or "")[:160])),
            }
        )
    return rows


def _reproduce_block(
    report: RunReport, test_path: str | None, replay_hint: str | None, commit: str, delivery: DeliveryRecord | None
) -> str:
    """The shell commands that reproduce the run, as one fenced block (names quoted for the shell)."""
    commands: list[str] = []
    if replay_hint:
        commands.append(
            replay_hint if replay_hint.startswith("healcrew ") else f"healcrew replay {shlex.quote(replay_hint)}"
        )
    else:
        log = report.incident.logs.file if report.incident.logs and report.incident.logs.file else None
        name = PurePosixPath(log).name if log else "crash.log"
        sha = commit or report.incident.commit or ""
        commands.append(f"healcrew run --repo . --log {shlex.quote(name)} --commit {shlex.quote(sha)}")
    if test_path:
        branch = shlex.quote(delivery.branch) if delivery is not None else "<this branch>"
        commands += [
            "# or: the regression test alone fails on the deployed commit and passes on this branch",
            f"git checkout {shlex.quote(commit[:12])} && git checkout {branch} -- {shlex.quote(test_path)}",
            f"python -m pytest -q {shlex.quote(test_path)}",
        ]
    return fence("\n".join(commands), "sh")


def _delivery(delivery: DeliveryRecord | None) -> dict[str, Any] | None:
    if delivery is None:
        return None
    return {
        "branch": code(delivery.branch),
        "commit": code(delivery.commit[:12]) if delivery.commit else "",
        "base": "deployed commit" if delivery.base_kind == "deployed" else "default branch",
        "base_commit": code(delivery.base_commit[:12]),
        "notes": [prose(n) for n in delivery.notes],
    }


def _rollback(
    report: RunReport, delivery: DeliveryRecord | None, paths: list[str], diff: str, config_change: bool
) -> dict[str, Any]:
    sha = delivery.commit if delivery is not None and delivery.commit else None
    previous = [
        {"path": f["path"], "lines": [{"where": code(f"{f['path']}:{ln['line']}"), "text": code(ln["text"])}
                                      for ln in f["lines"]]}
        for f in (_previous_values(diff) if config_change else [])
    ]
    return {
        "revert": code(f"git revert {sha}" if sha else "git revert <the merge commit of this PR>"),
        "config_change": config_change,
        "previous": previous,
    }


def _squeeze_blank_lines(text: str) -> str:
    """At most one blank line in a row, outside code blocks (inside them, the text is the code)."""
    out: list[str] = []
    fence_open: str | None = None
    for line in text.strip().splitlines():
        m = re.match(r"^(`{3,})", line)
        if m and (fence_open is None or m.group(1) == fence_open):
            fence_open = None if fence_open else m.group(1)
        elif fence_open is None and not line.strip() and out and not out[-1].strip():
            continue
        out.append(line.rstrip() if fence_open is None else line)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- API


def build_context(
    report: RunReport,
    delivery: DeliveryRecord | None = None,
    config: Any = None,
    *,
    repo_web_url: str | None = None,
    replay_hint: str | None = None,
) -> dict[str, Any]:
    """Everything the template shows, already worded; separate from rendering so it can be tested."""
    delivery = delivery or report.delivery
    url = (repo_web_url or repo_web_url_from(config) or "").rstrip("/") or None
    threshold = (
        float(getattr(config, "draft_below_confidence", LOW_CONFIDENCE)) if config is not None else LOW_CONFIDENCE
    )
    d, a = report.diagnosis, report.accepted
    proposal = a.proposal if a is not None else None
    paths = list(proposal.touched_files) if proposal is not None else []
    diff = proposal.diff if proposal is not None else ""
    config_change = _is_config_change(paths) and (proposal is None or proposal.test is None)
    commit = (d.commit if d is not None and d.commit else report.incident.commit) or ""
    confidence = d.confidence if d is not None else None
    test = None
    if proposal is not None and proposal.test is not None:
        t = proposal.test
        test = {
            "path": code(t.path),
            "call": code(t.call),
            "input_source": t.input_source,
            "input_from": md(input_source_words(t.input_source)),
            "expected": expected_words(t.expected, t.expected_from, MARKDOWN) if t.expected is not None else "",
            "entry": _entry(report),
            "note": md(t.note) if t.note and t.note != f"input from {t.input_source}" else "",
            "block": fence(_cap_lines(t.code, _MAX_BLOCK_LINES, "test"), "python"),
            "command": f"python -m pytest -q {shlex.quote(t.path)}",
        }
    critique = a.critique if a is not None else None
    return {
        "report": report,
        "marker": f"healcrew:incident={html_text(report.incident.id)} run={html_text(report.run_id)}",
        "incident_id": code(report.incident.id),
        "run_id": code(report.run_id),
        "version": md(report.healcrew_version),
        "brain": code(report.brain),
        "summary": _summary(report, d),
        "fix_sentence": prose(fix_in_one_sentence(proposal.rationale)) if proposal is not None else "",
        "strategy": code(proposal.strategy) if proposal is not None else None,
        "kind": _kind(proposal, d, url) if proposal is not None else None,
        "rationale": prose(proposal.rationale) if proposal is not None else "",
        "paths": [code(p) for p in paths],
        "diff": fence(_cap_lines(diff, _MAX_BLOCK_LINES * 3, "diff"), "diff") if diff.strip() else None,
        "diff_truncated": len(diff.splitlines()) > _MAX_BLOCK_LINES * 3,
        "root": _root_cause(d, url) if d is not None else None,
        "evidence": _evidence(report, d),
        "test": test,
        "config_change": config_change,
        "validation": _verdicts(a.validation, d) if a is not None and a.validation is not None else None,
        "verdict": md(critique.verdict) if critique is not None else None,
        "findings": [
            {"severity": md(f.severity), "rule": code(f.rule), "message": prose(f.message)}
            for f in (critique.findings if critique else [])
        ],
        "policy": [prose(p) for p in report.policy_decisions],
        "confidence": confidence,
        "score": proposal.score if proposal is not None else None,
        "threshold": threshold,
        "low_confidence": confidence is not None and confidence < threshold,
        "reproduce": _reproduce_block(report, proposal.test.path if proposal and proposal.test else None,
                                      replay_hint, commit, delivery),
        "rollback": _rollback(report, delivery, paths, diff, config_change),
        "attempts": _attempts(report.attempts) if len(report.attempts) > 1 else [],
        "delivery": _delivery(delivery),
        "declined": prose(report.declined) if report.declined else report.declined,
    }


def render_pr_body(
    report: RunReport,
    delivery: DeliveryRecord | None = None,
    config: Any = None,
    *,
    repo_web_url: str | None = None,
    replay_hint: str | None = None,
) -> str:
    """The Markdown body of the pull request for ``report``, redacted.

    ``delivery`` defaults to ``report.delivery``. ``config`` (a ``DeliveryConfig``, optional)
    gives the repository's web URL (from ``github.repo`` and ``github.base_url``) and the draft
    threshold; ``repo_web_url`` wins over it. Without a web URL, locations are written as
    ``path:line @ sha``. ``replay_hint`` is an incident bundle (or a whole ``healcrew ...``
    command) that reproduces the run.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("crew", "templates"),
        autoescape=False,  # Markdown, not HTML; every value is worded by build_context
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Redact the values before they are escaped: an escaped secret (``ghp\_...``) no longer matches
    # its pattern, so the pass over the finished body alone would miss it.
    context = build_context(public(report), delivery, config, repo_web_url=repo_web_url, replay_hint=replay_hint)
    text = env.get_template(TEMPLATE).render(**context)
    text = _squeeze_blank_lines(text)
    if len(text) > MAX_BODY_CHARS:
        cut = text[: MAX_BODY_CHARS - 200]
        cut = cut[: cut.rfind("\n")]
        if cut.count("```") % 2:
            cut += "\n```"
        text = cut + "\n\n_The body was cut to fit GitHub's limit; the full report is in the run's `report.md`._\n"
    return redact(text)
