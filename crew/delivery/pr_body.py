"""The pull request body: the whole case for the fix, so a reviewer can approve it in a minute.

``render_pr_body`` turns a ``RunReport`` into Markdown through ``crew/templates/pr_body.md.j2``.
This module decides *what* to say (the three-line summary, the checks in plain words, links,
what behaviour changes, how to reproduce and roll back); the template decides the layout. The
reviewer's first screen holds the summary, the diff and the checks; the evidence comes after.
The result always goes through :func:`crew.delivery.redact.redact` before it is returned: a PR
body leaves the process.

Nearly every value comes from the service's logs, the alert or the repository, so none reaches
the template raw: code and names go into code spans (``code``), prose through ``md`` (Markdown
made literal, no @mention), blocks into fences longer than any backtick run, links only with an
http(s) URL percent-encoded (``link``), and the text of HTML elements through ``html_text``
(see :mod:`crew.escape`).
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from crew.delivery.canary_outcome import canary_context
from crew.delivery.redact import redact
from crew.delivery.repo_facts import RepoFacts, real_suspects, repo_facts, rollback_command, service_workload
from crew.escape import html_text, markdown_code, markdown_fence, markdown_inline, markdown_prose
from crew.handoffs import (
    Attempt,
    DeliveryRecord,
    Diagnosis,
    RepairProposal,
    RunReport,
    SuspectCommit,
    ValidationReport,
)
from crew.repair.kinds import describe, kind_sentence
from crew.report import MARKDOWN, expected_words, input_source_words, public, sandbox_python_words, yes_no

__all__ = ["render_pr_body", "repo_web_url_from", "TEMPLATE", "MAX_BODY_CHARS", "LOW_CONFIDENCE"]

TEMPLATE = "pr_body.md.j2"
MAX_BODY_CHARS = 60_000  # GitHub refuses bodies over 65,536 characters
LOW_CONFIDENCE = 0.7  # used when no config says otherwise
HIGH_CONFIDENCE = 0.8
_MAX_BLOCK_LINES = 120
_MAX_TRACEBACK_LINES = 80
_MAX_LOG_LINES = 25
_MAX_CONTEXT_LINES = 10
# Alert labels a reviewer reads; the rest (instance, job, uid, prometheus, endpoint, ...) is scrape plumbing.
_LABELS_THAT_MATTER = ("severity", "reason", "namespace", "pod", "container", "service", "deployment", "app")
# Delivery notes that tell the reviewer something about the branch; the rest are healcrew's own bookkeeping.
_NOTES_FOR_REVIEWERS = ("rebased onto ", "rebase onto ", "could not fetch ", "secrets already in the repository")
# Policy decisions that only say where healcrew pushed (a demo remote, nothing pushed): not the reviewer's concern.
_DELIVERY_PLUMBING = ("example repository: the branch goes to", "nothing pushed:")
_IMPERATIVE = re.compile(
    r"^(?:Guard|Raise|Lower|Return|Use|Handle|Check|Default|Fall|Skip|Catch|Convert|Parse|Import|Rename|Read|"
    r"Add|Replace|Treat|Decode|Coerce|Validate|Accept|Keep|Wrap|Set|Restore|Point|Cap|Limit|Clamp|Initialise|"
    r"Initialize|Give|Make|Pass|Strip|Normalise|Normalize|Load|Declare|Define|Move|Ignore|Retry|Undo|Revert)\b"
)
_TRACEBACK_LINE = re.compile(r'^\s*(?:File ".*", line \d+|Traceback \(most recent call last\)|[~^\s]+$)')


# --------------------------------------------------------------------------- helpers for the template


fence = markdown_fence
code = markdown_code
md = markdown_inline
prose = markdown_prose


def cell(text: object) -> str:
    """Already escaped Markdown made safe inside one table cell (GFM splits cells at any ``|``)."""
    return re.sub(r"(?<!\\)\|", r"\\|", " ".join(str(text).split()))


def safe_url(url: str) -> str | None:
    """``url`` fit for a Markdown link target (http or https, percent-encoded), else None."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"[\x00-\x20\x7f]", url):
        return None
    return quote(url, safe=":/?#[]@!$&'*+,;=%-._~").replace("(", "%28").replace(")", "%29")


def link(text: str, url: str | None) -> str:
    """``[text](url)`` when ``url`` is a safe http(s) URL, else ``text`` alone (``text`` already escaped)."""
    target = safe_url(url) if url else None
    return f"[{text}]({target})" if target else text


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


def _span(first: datetime | None, last: datetime | None) -> str:
    """When the crashes happened: one time, or a range that names the day once."""
    if first is None:
        return ""
    if last is None or last == first:
        return f"at {_when(first)}"
    a, b = _when(first), _when(last)
    if a[:10] == b[:10]:
        b = b[11:]
    return f"between {a} and {b}"


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
            current = {"path": path, "lines": [], "added": []}
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
        elif line.startswith("+"):
            current["added"].append(line[1:].strip())
        elif line.startswith(" ") or line == "":
            old_line += 1
    return [f for f in out if f["lines"]]


def _frame_link(url: str | None, sha: str, path: str, line: int) -> str:
    if url and sha:
        return link(code(f"{path}:{line}"), f"{url}/blob/{quote(sha)}/{quote(path)}#L{line}")
    return code(f"{path}:{line}") + (f" @ {code(sha[:12])}" if sha else "")


def _commit_link(url: str | None, sha: str) -> str:
    if url and sha:
        return link(code(sha[:12]), f"{url}/commit/{quote(sha)}")
    return code(sha[:12])


def _doubts(d: Diagnosis) -> str:
    """The doubts the diagnostic recorded in its hypothesis ("Doubts: a; b."), if any."""
    m = re.search(r"Doubts: (.+?)\.?$", d.hypothesis.strip())
    return m.group(1) if m else ""


def _ok(ok: bool | None) -> str:
    return "✅" if ok else ("➖" if ok is None else "❌")


# --------------------------------------------------------------------------- the first screen


def _crash_words(report: RunReport, d: Diagnosis | None, suspects: list[SuspectCommit], url: str | None) -> str:
    """What crashed, how often, since which commit: the first line of the summary."""
    inc, ev = report.incident, report.evidence
    group = ev.groups[0] if ev is not None and ev.groups else None
    if group is not None:
        what = code(f"{group.exc_type}: {group.exc_message[:160]}" if group.exc_message else group.exc_type)
    elif ev is not None and ev.termination is not None:
        t = ev.termination
        what = {"oom_killed": "an out-of-memory kill", "startup_failure": "a start-up failure"}.get(t.kind, "an exit")
        details = ", ".join(x for x in (t.reason, f"exit code {t.exit_code}" if t.exit_code is not None else "") if x)
        what += f" ({md(details)})" if details else ""
    elif d is not None:
        what = code(d.exc_type)
    else:
        what = "a crash"
    where = ""
    if d is not None and d.fault_frame is not None and d.fault_frame.repo_path:
        f = d.fault_frame
        at = (_frame_link(url, d.commit, f.repo_path or "", f.frame.line) if url
              else code(f"{f.repo_path}:{f.frame.line}"))
        where = f" in {code(f.frame.function)} at {at}"
    service = md(inc.service or "the service")
    namespace = f" (namespace {code(inc.namespace)})" if inc.namespace else ""
    words = f"**{service}**{namespace} crashed with {what}{where}"
    if group is not None:
        words += f", **{group.count}×**"
        span = _span(group.first_seen, group.last_seen)
        words += f" {span}" if span else ""
    elif inc.started_at is not None or inc.alerts:
        since = inc.started_at or inc.alerts[0].starts_at
        words += f", alerting since {_when(since)}" if since else ""
    if suspects:
        s = suspects[0]
        words += f", since commit {_commit_link(url, s.sha)} \"{md(s.summary)}\" ({s.date:%Y-%m-%d})"
    elif d is not None and d.commit:
        words += f", on the deployed commit {_commit_link(url, d.commit)}"
    return words + "."


def _fix_words(proposal: RepairProposal, paths: list[str]) -> str:
    sentence = fix_in_one_sentence(proposal.rationale)
    sentence = sentence if sentence.endswith((".", "!", "?")) else sentence + "."
    return f"({md(describe(proposal.strategy).label)} in {', '.join(code(p) for p in paths)}): {prose(sentence)}"


def _proof_words(v: ValidationReport | None, exc: str | None, config_change: bool) -> str:
    """The proof in one sentence: what the sandbox showed, or that nothing could be run."""
    if v is None:
        if config_change:
            return ("no sandbox run: a configuration change has no test to run (the crash happens in the deployment, "
                    "not in the code); review the manifest diff below.")
        return "no sandbox validation is recorded for this fix."
    parts: list[str] = []
    if v.test_on_original is not None:
        raised = code(v.test_on_original.exc_type or exc or "the exception")
        parts.append(f"the new regression test fails on the deployed code with production's {raised}"
                     if v.reproduces else "the new regression test did **not** reproduce the crash")
        parts[-1] += " and passes with the fix" if v.fixed else ", and still fails with the fix"
    if v.suite_on_patched is not None:
        n = v.suite_on_patched.passed
        parts.append(f"the existing suite stays green ({n} passed)" if not v.newly_failing
                     else f"{len(v.newly_failing)} existing tests newly fail")
    if v.differential_ok is not None:
        n, m = v.differential_inputs, len(v.differential_mismatches)
        parts.append(f"{n} ordinary inputs return what they did before" if v.differential_ok
                     else f"{m} of {n} ordinary inputs now return something else")
    if not parts:
        return "the sandbox ran, but recorded no check."
    return "; ".join(parts) + f", in a {code(v.backend)} sandbox with no network."


def _checks(v: ValidationReport, d: Diagnosis | None) -> list[dict[str, str]]:
    """The pass/fail table, each result in plain words after its mark."""
    rows: list[dict[str, str]] = []
    orig = v.test_on_original
    if orig is not None:
        if v.reproduces:
            at = f" at {code(orig.raising_frame)}" if orig.raising_frame else ""
            same = ""
            if d is not None and d.fault_frame is not None and d.fault_frame.repo_path and orig.raising_frame:
                fault = f"{d.fault_frame.repo_path}:{d.fault_frame.frame.line}"
                same = " (the fault line)" if orig.raising_frame == fault else f" (diagnosed fault: {code(fault)})"
            result = f"fails before: {code(orig.exc_type or '?')}{at}{same}, as in production"
        else:
            result = f"does not fail before ({md(orig.exc_type or 'no exception')}): the crash was not reproduced"
        rows.append({"check": "regression test, deployed code", "ok": _ok(v.reproduces), "result": result})
    patched = v.test_on_patched
    if patched is not None:
        why = md(patched.exc_type or f"{patched.failed} failing")
        result = "passes after" if v.fixed else f"still fails after ({why})"
        rows.append({"check": "regression test, with the fix", "ok": _ok(v.fixed), "result": result})
    suite = v.suite_on_patched
    if suite is not None:
        base = v.suite_on_original
        before = f"; {base.passed} passed before" if base is not None else ""
        if v.newly_failing:
            result = (f"suite not green: {len(v.newly_failing)} newly failing: "
                      + ", ".join(code(t) for t in v.newly_failing[:5]))
        else:
            result = f"suite green: {suite.passed} passed, none newly failing{before}"
        rows.append({"check": "existing test suite", "ok": _ok(v.no_regressions), "result": result})
    if v.differential_ok is not None:
        mism = len(v.differential_mismatches)
        result = f"{v.differential_inputs} inputs compared, " + (
            "same results before and after" if v.differential_ok and not mism else f"{mism} differ")
        rows.append({"check": "differential check, ordinary inputs", "ok": _ok(v.differential_ok), "result": result})
    elif v.differential_inputs == 0:
        rows.append({"check": "differential check", "ok": _ok(None), "result": "not run: no ordinary input was found"})
    if not v.patch_applies:
        rows.append({"check": "patch applies", "ok": _ok(False), "result": "the diff does not apply"})
    return [{k: cell(x) for k, x in r.items()} for r in rows]


def _behaviour(proposal: RepairProposal, v: ValidationReport | None, d: Diagnosis | None, diff: str,
               config_change: bool) -> str:
    """What behaviour changes, in one sentence."""
    if config_change:
        changes = []
        for f in _previous_values(diff):
            old = ", ".join(code(x["text"]) for x in f["lines"][:2])
            new = ", ".join(code(x) for x in f["added"][:2])
            changes.append(f"{old} becomes {new} in {code(f['path'])}" if new else f"{old} goes from {code(f['path'])}")
        return ("Only the deployment's configuration changes: " + "; ".join(changes) + "."
                if changes else "Only the deployment's configuration changes.")
    t = proposal.test
    exc = code(d.exc_type) if d is not None else "the exception"
    if t is None:
        return f"Code that raised {exc} takes the fixed path; nothing else is meant to change."
    words = (f"{code(t.call)} now returns {code(t.expected)} instead of raising {exc}" if t.expected is not None
             else f"{code(t.call)} no longer raises {exc}")
    if v is not None and v.differential_ok is not None and v.differential_inputs:
        n, m = v.differential_inputs, len(v.differential_mismatches)
        words += (f"; the {n} ordinary inputs compared return what they did before" if not m
                  else f"; {m} of the {n} ordinary inputs compared now return something else")
    return words + "."


def _confidence(report: RunReport, d: Diagnosis | None, proposal: RepairProposal | None,
                threshold: float) -> dict[str, Any]:
    """The confidence and the repair score, in words."""
    if d is None:
        return {"level": "unknown", "words": "No diagnosis was recorded.", "low": False}
    c = d.confidence
    level = "high" if c >= max(HIGH_CONFIDENCE, threshold) else ("medium" if c >= threshold else "low")
    doubts = _doubts(d)
    if report.brain == "offline":
        how = ("how sure healcrew is of the fault line and its cause (0.90 at most; less for an exception class "
               "outside its taxonomy, a truncated traceback, a logged line unlike the deployed code, or several "
               "distinct crashes")
        how += f"; here: {md(doubts)})" if doubts else ("; none here)" if c >= 0.9 else ")")
    else:
        how = f"the {md(report.brain)} brain's estimate that the fault line and its cause are right"
        how += f" (doubts: {md(doubts)})" if doubts else ""
    words = f"— diagnosis {c:.2f}" + (f", repair score {proposal.score:.2f}" if proposal is not None else "") + "."
    words += f" The diagnosis score is {how}."
    if proposal is not None:
        words += " The repair score is this kind of fix's prior at this place; it only ordered the candidates."
    words += f" Below {threshold:.2f} the PR opens as a draft."
    return {"level": level, "words": words, "low": c < threshold, "doubts": md(doubts) if doubts else ""}


def _log_link(report: RunReport) -> str | None:
    """Where the logs came from: the Loki query, the kubectl command, or the log file's name."""
    logs, ev = report.incident.logs, report.evidence
    if logs is None:
        return None
    if logs.loki is not None:
        group = ev.groups[0] if ev is not None and ev.groups else None
        params: dict[str, str] = {"query": logs.loki.query}
        if group is not None and group.first_seen is not None and group.last_seen is not None:
            params["start"] = str(int(group.first_seen.timestamp() - 600) * 10**9)
            params["end"] = str(int(group.last_seen.timestamp() + 60) * 10**9)
        target = f"{logs.loki.url.rstrip('/')}/loki/api/v1/query_range?{urlencode(params)}"
        return link("Loki query", target) + (f" {code(logs.loki.query)}" if logs.loki.query else "")
    if logs.kubernetes is not None:
        k = logs.kubernetes
        cmd = f"kubectl logs --previous -n {k.namespace} {k.pod}" + (f" -c {k.container}" if k.container else "")
        return f"logs: {code(cmd)}"
    if logs.file:
        return f"logs: the file {code(PurePosixPath(logs.file).name)} given to healcrew"
    return None


def _links(report: RunReport, suspects: list[SuspectCommit], url: str | None,
           incident_url: str | None) -> list[str]:
    out: list[str] = []
    for a in report.incident.alerts[:2]:
        out.append(link(f"alert {code(a.alertname)}", a.generator_url) if safe_url(a.generator_url)
                   else f"alert {code(a.alertname)}")
        runbook = a.annotations.get("runbook_url", "")
        if safe_url(runbook):
            out.append(link("runbook", runbook))
    logs = _log_link(report)
    if logs:
        out.append(logs)
    for s in suspects[:1]:
        out.append(f"suspect commit {_commit_link(url, s.sha)}")
    if incident_url and safe_url(incident_url):
        out.append(link("this incident in healcrew serve", incident_url))
    return out


# --------------------------------------------------------------------------- the sections below


def _kind(proposal: RepairProposal, d: Diagnosis | None, url: str | None) -> str:
    """Which kind of fix this is, and for a revert the commit it undoes (linked when there is a forge)."""
    return kind_sentence(proposal.strategy, proposal.rationale, d.suspect_commits if d is not None else [],
                         commit=lambda sha: _commit_link(url, sha), text=md)


def _root_cause(d: Diagnosis, suspects: list[SuspectCommit], facts: RepoFacts, url: str | None) -> dict[str, Any]:
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
    shown = [
        {
            "link": _commit_link(url, s.sha),
            "summary": md(s.summary),
            "author": md(re.sub(r"\s*<[^>]*>", "", s.author)),
            "date": s.date.strftime("%Y-%m-%d"),
            "reason": md(s.reason) if s.reason else "",
        }
        for s in suspects[:3]
    ]
    created = [s for s in d.suspect_commits if s.created_file]
    return {
        "hypothesis": prose(d.hypothesis),
        "root_cause": md(d.root_cause.value.replace("_", " ")),
        "exc": code(
            f"{d.exc_type}: {d.exc_message}" if d.exc_message and d.exc_message != d.exc_type else d.exc_type
        ),
        "fault": fault,
        "deployed": _commit_link(url, d.commit) if d.commit else None,
        "context": context,
        "suspects": shown,
        "created": (f"{_commit_link(url, created[0].sha)} \"{md(created[0].summary)}\" created the file"
                    if created else ""),
        "culprit": code(d.culprit) if d.culprit else None,
        "library": (
            f"{code(f'{d.library_frame.frame.file}:{d.library_frame.frame.line}')} in "
            f"{code(d.library_frame.frame.function)}"
            if d.library_frame is not None
            else None
        ),
    }


def _traceback_lines(report: RunReport) -> set[str]:
    """The code lines every logged traceback quotes: context that is not data."""
    ev = report.evidence
    lines: set[str] = set()
    for tb in ev.tracebacks if ev is not None else []:
        lines |= {f.code.strip() for f in tb.frames if f.code}
        lines |= {ln.strip() for ln in tb.raw.splitlines() if ln.strip()}
    return lines


def _data_lines(report: RunReport) -> list[str]:
    """The logged lines with data near the crash, without the traceback's own source and caret lines."""
    ev = report.evidence
    if ev is None:
        return []
    quoted = _traceback_lines(report)
    return [ln for ln in ev.context_lines if ln.strip() not in quoted and not _TRACEBACK_LINE.match(ln)]


def _evidence(report: RunReport, d: Diagnosis | None) -> dict[str, Any] | None:
    inc, ev = report.incident, report.evidence
    known = {"namespace": inc.namespace, "pod": inc.pod, "container": inc.container, "service": inc.service}
    alerts = [
        {
            "name": code(a.alertname),
            "status": md(a.status),
            "starts_at": _when(a.starts_at) if a.starts_at else None,
            "labels": ", ".join(code(f"{k}={a.labels[k]}") for k in _LABELS_THAT_MATTER
                                if k in a.labels and a.labels[k] != known.get(k)),
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
        data = _data_lines(report)
        if traceback is not None and data:
            lines = data[-_MAX_CONTEXT_LINES:]
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


def _sandbox_words(v: ValidationReport) -> str:
    return (f"{code(v.backend)}: {md(v.isolation_note or 'no isolation note')}; "
            f"{v.sandbox_runs} run(s), {v.seconds:.1f} s" + (f" — {md(v.failure)}" if v.failure else ""))


def _search_words(report: RunReport, proposal: RepairProposal | None) -> str:
    """How many candidates the search made and how many the sandbox ran."""
    cands = report.candidates
    if not cands:
        return ""
    ran = [c for c in cands if not c.verdict.startswith("not validated") and c.verdict != "no change"]
    plural = "es" if len(cands) != 1 else ""
    words = f"{len(cands)} candidate fix{plural} generated, {len(ran)} validated in the sandbox"
    chosen = next((c for c in cands if proposal is not None and c.strategy == proposal.strategy), None)
    if chosen is not None and chosen.rank:
        words += f"; this one ranked {chosen.rank} of those that passed" if chosen.rank > 1 else "; it ranked first"
    return words + "."


def _attempts(attempts: list[Attempt]) -> list[dict[str, str]]:
    rows = []
    for a in attempts:
        v = a.validation
        rows.append(
            {
                "number": str(a.number),
                "strategy": code(a.proposal.strategy),
                "reproduces": yes_no(v.reproduces) if v else "-",
                "fixed": yes_no(v.fixed) if v else "-",
                "suite": yes_no(v.no_regressions) if v else "-",
                "verdict": md(a.critique.verdict) if a.critique else "-",
                "why": cell(prose((a.rejected_because or (a.critique.feedback if a.critique else "") or "")[:160])),
            }
        )
    return rows


def _example_bundle(report: RunReport) -> str | None:
    """``examples/incidents/<name>`` when the run's log came from one of healcrew's own example bundles."""
    logs = report.incident.logs
    if logs is None or not logs.file:
        return None
    examples = Path(__file__).resolve().parents[2] / "examples" / "incidents"
    folder = Path(logs.file).parent
    try:
        folder = folder.resolve() if folder.is_absolute() else (examples.parents[1] / folder).resolve()
        rel = folder.relative_to(examples)
    except (OSError, ValueError):
        return None
    if len(rel.parts) != 1 or not (folder / "incident.yaml").is_file():
        return None
    return f"examples/incidents/{rel.parts[0]}"


def _log_hint(report: RunReport) -> str:
    """How to get the crash log onto disk as ``crash.log``, from what a reviewer can reach."""
    logs = report.incident.logs
    if logs is not None and logs.kubernetes is not None:
        k = logs.kubernetes
        return (f"kubectl logs --previous -n {shlex.quote(k.namespace)} {shlex.quote(k.pod)}"
                + (f" -c {shlex.quote(k.container)}" if k.container else "") + " > crash.log")
    if logs is not None and logs.loki is not None:
        return "# save the output of the Loki query under Links as crash.log"
    return "# save the traceback under Evidence as crash.log"


def _reproduce_block(
    report: RunReport, test_path: str | None, test_command: str, replay_hint: str | None, commit: str,
    delivery: DeliveryRecord | None,
) -> str:
    """Shell commands that work on a fresh clone: fetch the branch, watch the test fail then pass, re-run healcrew."""
    commands: list[str] = []
    branch = delivery.branch if delivery is not None else None
    short = commit[:12] if commit else "HEAD"
    if test_path:
        ref = "FETCH_HEAD" if branch else "<this PR's branch>"
        run_test = f"{test_command} {shlex.quote(test_path)}"
        if branch:
            commands.append(f"git fetch origin {shlex.quote(branch)}")
        commands += [
            f"git checkout --detach {shlex.quote(short)}   # the deployed commit",
            f"git checkout {ref} -- {shlex.quote(test_path)}",
            f"{run_test}   # fails: the production crash",
            f"git checkout --detach {ref}   # the fix",
            f"{run_test}   # passes",
        ]
    hint = replay_hint or _example_bundle(report)
    commands.append("# re-run healcrew on the incident (it updates this branch and this PR):")
    if hint and hint.startswith("healcrew "):
        commands.append(hint)
    else:
        if hint:
            commands.append(f"healcrew replay {shlex.quote(hint)}   # from a healcrew checkout")
        commands.append(_log_hint(report))
        commands.append(f"healcrew run --repo . --commit {shlex.quote(commit or 'HEAD')} --log crash.log")
    return fence("\n".join(commands), "sh")


def _delivery(delivery: DeliveryRecord | None) -> dict[str, Any] | None:
    if delivery is None:
        return None
    return {
        "branch": code(delivery.branch),
        "commit": code(delivery.commit[:12]) if delivery.commit else "",
        "base": "deployed commit" if delivery.base_kind == "deployed" else "default branch",
        "base_commit": code(delivery.base_commit[:12]),
        "notes": [prose(n) for n in delivery.notes if n.startswith(_NOTES_FOR_REVIEWERS)],
    }


def _rollback(
    report: RunReport, delivery: DeliveryRecord | None, diff: str, config_change: bool, facts: RepoFacts
) -> dict[str, Any]:
    sha = delivery.commit if delivery is not None and delivery.commit else None
    previous = [
        {"path": f["path"], "lines": [{"where": code(f"{f['path']}:{ln['line']}"), "text": code(ln["text"])}
                                      for ln in f["lines"]]}
        for f in (_previous_values(diff) if config_change else [])
    ]
    inc = report.incident
    workload = service_workload(facts, inc.service, inc.container)
    deployment = None
    if workload is not None:
        what = "Argo Rollout" if workload.kind == "Rollout" else "Deployment"
        deployment = {"command": code(rollback_command(workload, inc.namespace)),
                      "what": f"{what} {code(workload.name)} in {code(workload.path)}"}
    return {
        "revert": code(f"git revert {sha}" if sha else "git revert <the merge commit of this PR>"),
        "config_change": config_change,
        "previous": previous,
        "deployment": deployment,
    }


def _feedback(report: RunReport, delivery: DeliveryRecord | None, config: Any, incident_url: str | None) -> list[str]:
    """How to ask healcrew to try again or to stop, with commands that exist."""
    cooldown = float(getattr(config, "cooldown_hours", 24.0)) if config is not None else 24.0
    local = delivery is not None and delivery.forge == "local"
    out = [
        "**Try again:** re-run healcrew on the incident (the commands under Reproduce locally); it pushes to this "
        "branch and updates this PR, and never opens a second one for the incident.",
        f"**Stop:** close this PR{' with `healcrew pr close OUT_DIR`' if local else ''}; healcrew then neither "
        f"reopens it nor opens a new one for this incident for {cooldown:g} h.",
    ]
    if incident_url and safe_url(incident_url):
        out.append(f"**In healcrew serve:** {link('the incident', incident_url)}; an incident waiting for a human "
                   "runs (again) after `POST /incidents/<id>/approve` with `{\"approver\": \"you\"}`.")
    return out


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
    incident_url: str | None = None,
    facts: RepoFacts | None = None,
) -> dict[str, Any]:
    """Everything the template shows, already worded; separate from rendering so it can be tested."""
    delivery = delivery or report.delivery
    facts = repo_facts(report) if facts is None else facts
    url = (repo_web_url or repo_web_url_from(config) or "").rstrip("/") or None
    threshold = (
        float(getattr(config, "draft_below_confidence", LOW_CONFIDENCE)) if config is not None else LOW_CONFIDENCE
    )
    d, a = report.diagnosis, report.accepted
    proposal = a.proposal if a is not None else None
    validation = a.validation if a is not None else None
    paths = list(proposal.touched_files) if proposal is not None else []
    diff = proposal.diff if proposal is not None else ""
    config_change = _is_config_change(paths) and (proposal is None or proposal.test is None)
    commit = (d.commit if d is not None and d.commit else report.incident.commit) or ""
    suspects = real_suspects(d.suspect_commits) if d is not None else []
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
        }
    critique = a.critique if a is not None else None
    confidence = _confidence(report, d, proposal, threshold)
    test_command = report.incident.test_command.strip() or "python -m pytest -q"
    return {
        "report": report,
        "marker": f"healcrew:incident={html_text(report.incident.id)} run={html_text(report.run_id)}",
        "incident_id": code(report.incident.id),
        "run_id": code(report.run_id),
        "version": md(report.healcrew_version),
        "brain": code(report.brain),
        "top": {
            "crash": _crash_words(report, d, suspects, url),
            "fix": _fix_words(proposal, paths) if proposal is not None else "",
            "proof": _proof_words(validation, d.exc_type if d is not None else None, config_change),
        },
        "checks": _checks(validation, d) if validation is not None else None,
        "behaviour": _behaviour(proposal, validation, d, diff, config_change) if proposal is not None else "",
        "kind": _kind(proposal, d, url) if proposal is not None else None,
        "confidence": confidence,
        "threshold": threshold,
        "low_confidence": confidence["low"],
        "links": _links(report, suspects, url, incident_url),
        "rationale": prose(proposal.rationale) if proposal is not None else "",
        "paths": [code(p) for p in paths],
        "diff": fence(_cap_lines(diff, _MAX_BLOCK_LINES * 3, "diff"), "diff") if diff.strip() else None,
        "diff_truncated": len(diff.splitlines()) > _MAX_BLOCK_LINES * 3,
        "root": _root_cause(d, suspects, facts, url) if d is not None else None,
        "evidence": _evidence(report, d),
        "test": test,
        "config_change": config_change,
        "sandbox": _sandbox_words(validation) if validation is not None else None,
        "search": _search_words(report, proposal),
        "verdict": md(critique.verdict) if critique is not None else None,
        "findings": [
            {"severity": md(f.severity), "rule": code(f.rule), "message": prose(f.message)}
            for f in (critique.findings if critique else [])
        ],
        "policy": [prose(p) for p in report.policy_decisions if not p.startswith(_DELIVERY_PLUMBING)],
        "score": proposal.score if proposal is not None else None,
        "reproduce": _reproduce_block(report, proposal.test.path if proposal and proposal.test else None,
                                      test_command, replay_hint, commit, delivery),
        "rollback": _rollback(report, delivery, diff, config_change, facts),
        "attempts": _attempts(report.attempts) if len(report.attempts) > 1 else [],
        "delivery": _delivery(delivery),
        "feedback": _feedback(report, delivery, config, incident_url),
        "declined": prose(report.declined) if report.declined else report.declined,
        "canary": canary_context(report.canary),
    }


def render_pr_body(
    report: RunReport,
    delivery: DeliveryRecord | None = None,
    config: Any = None,
    *,
    repo_web_url: str | None = None,
    replay_hint: str | None = None,
    incident_url: str | None = None,
    facts: RepoFacts | None = None,
) -> str:
    """The Markdown body of the pull request for ``report``, redacted.

    ``delivery`` defaults to ``report.delivery``. ``config`` (a ``DeliveryConfig``, optional)
    gives the repository's web URL (from ``github.repo`` and ``github.base_url``), the draft
    threshold and the cool-down; ``repo_web_url`` wins over it. Without a web URL, locations are
    written as ``path:line @ sha``. ``replay_hint`` is an incident bundle (or a whole
    ``healcrew ...`` command) that reproduces the run; ``incident_url`` is the incident's page in
    ``healcrew serve``. ``facts`` (default: read from the report's repository) are the workloads
    it ships and the commits that created the fault file.
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
    context = build_context(public(report), delivery, config, repo_web_url=repo_web_url, replay_hint=replay_hint,
                            incident_url=incident_url, facts=facts)
    text = env.get_template(TEMPLATE).render(**context)
    text = _squeeze_blank_lines(text)
    if len(text) > MAX_BODY_CHARS:
        cut = text[: MAX_BODY_CHARS - 200]
        cut = cut[: cut.rfind("\n")]
        if cut.count("```") % 2:
            cut += "\n```"
        text = cut + "\n\n_The body was cut to fit GitHub's limit; the full report is in the run's `report.md`._\n"
    return redact(text)
