"""The one door out of the process: every report, file and JSON healcrew emits goes through here.

A RunReport holds text from production logs, so it leaves only as :func:`public` made it:
redacted. Files are written atomically (a full or read-only disk leaves the previous file
whole and is a one-line :class:`OutputError`). The one exception to redaction is the validated
patch (:func:`write_fix`): it is written byte for byte, because a masked patch no longer applies,
and it is refused when it carries a secret that came from the log (:func:`patch_leaks`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crew import escape as md
from crew.errors import HealcrewError
from crew.handoffs import CandidateRecord, InputSource, ReproductionRecord, RunReport, SandboxPython, TimeSpent


class OutputError(HealcrewError):
    """An output (report, patch, PR bundle) could not be written: full, read-only or forbidden disk."""

    exit_code = 2


class PatchLeakError(HealcrewError):
    """The validated patch carries a secret that came from the log; it is not written or delivered."""

    exit_code = 2


def public(report: RunReport) -> RunReport:
    """The report as it may leave the process: every string in it redacted (idempotent)."""
    from crew.delivery.redact import redact_report

    return redact_report(report)


def public_text(text: str) -> str:
    """``text`` as it may leave the process."""
    from crew.delivery.redact import redact

    return redact(text)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all; OSError becomes a one-line OutputError."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {path.name} in {path.parent}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def write_output(path: Path, text: str) -> None:
    """Write a file healcrew publishes (report, PR body, record): redacted, atomically."""
    _write_atomic(path, public_text(text))


def to_json(report: RunReport) -> str:
    """The report as JSON for machines (stdout, ``report.json``), redacted."""
    return public(report).model_dump_json(indent=2)


def print_json(report: RunReport) -> None:
    """``--json`` output on stdout, redacted."""
    sys.stdout.write(to_json(report) + "\n")
    sys.stdout.flush()


def to_markdown(report: RunReport) -> str:
    """A Markdown summary of the run (``report.md``, and the PR body's fallback).

    Everything in it that came from the log, the alert or the repository is untrusted text, so
    it is shown through ``crew.escape``: literal prose, code spans and fences nothing can close.
    """
    inc, d = report.incident, report.diagnosis
    out = [f"# healcrew: {md.markdown_inline(inc.id)}", ""]
    where = md.markdown_inline(f"{inc.namespace or '-'}/{inc.pod or '-'}")
    out.append(f"- **Service:** {md.markdown_inline(inc.service or '?')} ({where})")
    stopped = (f" — stopped at {md.markdown_inline(report.stopped_at)}: {md.markdown_prose(report.error or '')}"
               if report.stopped_at else "")
    out.append(f"- **Outcome:** {report.outcome}{stopped}")
    out.append(f"- **Run:** `{report.run_id}`, brain `{report.brain}`, healcrew {report.healcrew_version}")
    if report.llm is not None:
        out.append(f"- **LLM:** {llm_words(report)}")
    if report.sandbox_python is not None:
        out.append(f"- **Sandbox Python:** {sandbox_python_words(report.sandbox_python, MARKDOWN)}")
    if report.evidence and report.evidence.groups:
        g = report.evidence.groups[0]
        out.append(f"- **Crash:** {md.markdown_code(f'{g.exc_type}: {g.exc_message[:200]}')} seen {g.count}×"
                   + (f", first {g.first_seen:%Y-%m-%d %H:%M:%S}" if g.first_seen else ""))
    if d is not None:
        out += ["", "## Root cause", "", md.markdown_prose(d.hypothesis), "",
                f"- **Class:** {d.root_cause.value}", f"- **Confidence:** {d.confidence:.2f}"]
        if d.fault_frame and d.fault_frame.repo_path:
            fault = md.markdown_code(f"{d.fault_frame.repo_path}:{d.fault_frame.frame.line}")
            out.append(f"- **Fault line:** {fault} at `{d.commit[:12]}`")
        from crew.delivery.repo_facts import real_suspects

        for s in real_suspects(d.suspect_commits):  # the file's first commit is history
            out.append(f"- **Suspect commit:** `{s.sha[:12]}` {md.markdown_inline(s.summary)} — "
                       f"{md.markdown_inline(s.author)}, {s.date:%Y-%m-%d} ({md.markdown_inline(s.reason)})")
        if d.code_context:
            c = d.code_context
            body = "\n".join(
                f"{'>' if n == c.fault_line else ' '} {n:4d}  {text}"
                for n, text in enumerate(c.lines, start=c.start_line)
            )
            out += ["", md.markdown_fence(f"# {c.path}\n{body}", "python")]
    if report.reproduction is not None:
        out += ["", "## Reproduction", ""]
        out += [f"- {line}" for line in reproduction_lines(report, MARKDOWN)]
    if report.accepted is not None:
        out += _fix_section(report)
    elif report.declined:
        out += ["", "## No fix proposed", "", md.markdown_prose(report.declined)]
    if report.attempts:
        out += ["", "## Attempts", "",
                "| # | strategy | reproduces | fixed | suite | differential | verdict | sandbox time | why |",
                "|---:|---|---|---|---|---|---|---|---|"]
        for a in report.attempts:
            v = a.validation
            suite = "-"
            if v is not None and v.suite_on_patched is not None:
                newly = f", {len(v.newly_failing)} newly failing" if v.newly_failing else ""
                suite = f"{v.suite_on_patched.passed} passed{newly}"
            diff_ok = "-" if v is None or v.differential_ok is None else (
                f"{v.differential_inputs} same" if v.differential_ok else f"{len(v.differential_mismatches)} differ"
            )
            out.append(
                f"| {a.number} | {md.markdown_code(a.proposal.strategy)} | {yes_no(v.reproduces if v else None)} | "
                f"{yes_no(v.fixed if v else None)} | {suite} | {diff_ok} | "
                f"{a.critique.verdict if a.critique else '-'} | "
                f"{time_words(v.time) if v is not None and v.time is not None else '-'} | "
                f"{md.markdown_prose((a.rejected_because or '')[:120])} |"
            )
    if report.candidates:
        out += ["", "## Candidates", "", "| rank | kind | strategy | location | size | prior | sandbox s | verdict |",
                "|---:|---|---|---|---:|---:|---:|---|"]
        out += [f"| {c.rank or '-'} | {md.markdown_inline(c.kind)} | {md.markdown_code(c.strategy)} | "
                f"{md.markdown_inline(c.location or '-')} | {c.size} | {c.prior:g} | {c.seconds:.2f} | "
                f"{md.markdown_prose(_candidate_verdict(c)[:240])} |" for c in report.candidates]
    if report.evidence and report.evidence.log_excerpt:
        out += ["", "## Evidence", "", md.markdown_fence("\n".join(report.evidence.log_excerpt[-30:]))]
    out += ["", "## Stages", "", "| stage | status | ms |", "|---|---|---:|"]
    out += [f"| {md.markdown_inline(t.stage)} | {t.status} | {t.seconds * 1000:.0f} |" for t in report.timings]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- wording shared by every view


#: Where a crashing input came from, in plain words (the report, the terminal and the PR say the same).
INPUT_SOURCES: dict[str, str] = {
    "sentry locals": "the frame-local variables of the Sentry event in the logs",
    "log": "values the service logged near the crash",
    "repo tests": "the repository's own tests that reach the fault function, their arguments searched toward the crash",
    "message": "the exception message in the logs",
    "entry point": "a search over inputs to a caller of the fault function, up to the production entry point",
    "search": "a search over small typed inputs for one that crashes the original code",
    "template": "the repair template's own example input",
}

_MISMATCH_PARTS = {"type": "exception type", "frame": "fault frame", "line": "line", "message": "message"}
# What a matching message must share with production's, for the exceptions whose message names it.
_MESSAGE_PART = {"KeyError": "key", "AttributeError": "attribute", "NameError": "name",
                 "ModuleNotFoundError": "module", "ImportError": "name", "UnboundLocalError": "name"}
_MAX_ENTRIES_SHOWN = 5


@dataclass(frozen=True)
class Style:
    """How one medium makes untrusted text inert: prose, a code span, and emphasis of healcrew's own words."""

    text: Callable[[object], str]
    code: Callable[[object], str]
    strong: Callable[[str], str]


MARKDOWN = Style(text=md.markdown_prose, code=md.markdown_code, strong=lambda s: f"**{s}**")
TERMINAL = Style(text=md.terminal, code=lambda s: f"[cyan]{md.terminal(' '.join(str(s).split()))}[/]",
                 strong=lambda s: f"[bold]{s}[/]")


def input_source_words(source: InputSource) -> str:
    """An input source in plain words (one added to ``InputSource`` but not here, as itself)."""
    return INPUT_SOURCES.get(source, source)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def reproduction_lines(report: RunReport, style: Style) -> list[str]:
    """The reproduction record as sentences: whether, how, through which entry, what was tried and refused."""
    rec = report.reproduction
    if rec is None:
        return []
    code, text = style.code, style.text
    lines: list[str] = []
    if rec.reproduced:
        head = f"{style.strong('Reproduced')} in {rec.seconds:.1f} s"
        head += f" by {code(rec.test_path)}" if rec.test_path else ""
        head += f", calling {code(rec.call)}" if rec.call else ""
        lines.append(head + ".")
    else:
        lines.append(f"{style.strong('Not reproduced')} after {rec.seconds:.1f} s.")
    if rec.source is not None:
        lines.append(f"Input from {text(input_source_words(rec.source))}.")
    if rec.entry:
        callers = (f", called through {_plural(rec.entry_depth, 'caller frame')} above the fault function"
                   if rec.entry_depth > 0 else ", the fault function itself")
        lines.append(f"Entry: {code(rec.entry)}{callers}.")
    if rec.inputs_tried or rec.entries_tried:
        tried = f"Tried {_plural(rec.inputs_tried, 'input')}"
        if rec.entries_tried:
            shown = ", ".join(code(e) for e in rec.entries_tried[:_MAX_ENTRIES_SHOWN])
            more = len(rec.entries_tried) - _MAX_ENTRIES_SHOWN
            shown += f" and {more} more" if more > 0 else ""
            tried += f" across {_plural(len(rec.entries_tried), 'entry', 'entries')} ({shown})"
        lines.append(tried + ".")
    if rec.refused:
        lines.append(_refused_words(report, rec, style))
    if not rec.reproduced and rec.closest is not None:
        c = rec.closest
        lines.append(f"Closest: the {_MISMATCH_PARTS.get(c.part, c.part)} differed — production {code(c.production)}, "
                     f"reproduction {code(c.reproduction)}.")
    if rec.failure:
        lines.append(f"Why: {text(rec.failure)}")
    return lines


def _refused_words(report: RunReport, rec: ReproductionRecord, style: Style) -> str:
    """Near misses, named by what their message differed in (another key, attribute, ...)."""
    exc = report.diagnosis.exc_type if report.diagnosis is not None else None
    if exc is None and report.evidence is not None and report.evidence.groups:
        exc = report.evidence.groups[0].exc_type
    raised = style.code(exc) if exc else "the production exception"
    what = _MESSAGE_PART.get((exc or "").rsplit(".", 1)[-1], "message")
    return (f"{_plural(rec.refused, 'input')} raised {raised} on the right line with another {what}: "
            "not counted.")


def expected_words(expected: str, expected_from: str | None, style: Style) -> str:
    """What the regression test asserts, and where that value came from."""
    words = f"asserts {style.code(f'== {expected}')}"
    return words + (f": {style.text(expected_from)}" if expected_from else "")


def sandbox_python_words(python: SandboxPython, style: Style) -> str:
    """The sandbox Python and what chose it."""
    return style.code(python.version) + (f" ({style.text(python.reason)})" if python.reason else "")


def time_words(t: TimeSpent) -> str:
    """An attempt's sandbox time in one line: the total, then each side that cost anything."""
    parts = [("reproduction", t.reproduction), ("original", t.test_on_original + t.suite_on_original),
             ("patched", t.test_on_patched + t.patched_suite), ("differential", t.differential)]
    total = t.total or sum(s for _, s in parts)
    spent = ", ".join(f"{name} {s:.1f}" for name, s in parts if s >= 0.05)
    return f"{total:.1f} s" + (f": {spent}" if spent else "")


def yes_no(value: bool | None) -> str:
    """A check's result in a table cell: yes, no, or - when it did not run."""
    return "-" if value is None else ("yes" if value else "no")


def _fix_section(report: RunReport) -> list[str]:
    a = report.accepted
    assert a is not None
    p, v = a.proposal, a.validation
    from crew.repair.kinds import kind_sentence

    kind = kind_sentence(p.strategy, p.rationale, report.diagnosis.suspect_commits if report.diagnosis else [],
                         commit=lambda sha: md.markdown_code(sha[:12]), text=md.markdown_inline)
    lines = ["", "## Fix", "", md.markdown_prose(p.rationale), "",
             f"Strategy {md.markdown_code(p.strategy)}, files: "
             + ", ".join(md.markdown_code(f) for f in p.touched_files),
             "", f"**Kind:** {kind}.",
             "", md.markdown_fence(p.diff, "diff")]
    if p.test is not None:
        lines += ["", f"### Regression test {md.markdown_code(p.test.path)} "
                      f"(input from {md.markdown_inline(p.test.input_source)})", "",
                  f"Input from {md.markdown_inline(input_source_words(p.test.input_source))}."]
        if p.test.expected is not None:
            lines += ["", expected_words(p.test.expected, p.test.expected_from, MARKDOWN) + "."]
        lines += ["", md.markdown_fence(p.test.code, "python")]
    if v is not None:
        orig, patched = v.test_on_original, v.test_on_patched
        lines += ["", "### Sandbox verdicts", "",
                  f"Backend: {md.markdown_inline(v.backend)}. {md.markdown_prose(v.isolation_note)}".rstrip(), "",
                  "| check | result |", "|---|---|"]
        if orig is not None:
            lines.append(f"| test on original | {'failed' if v.reproduces else 'did not fail'} with "
                         f"{md.markdown_code(orig.exc_type or '-')} at {md.markdown_code(orig.raising_frame or '-')} |")
        if patched is not None:
            lines.append(f"| test on patched | {'passed' if v.fixed else 'failed'} |")
        if v.suite_on_patched is not None:
            lines.append(f"| existing suite | {v.suite_on_patched.passed} passed, "
                         f"{len(v.newly_failing)} newly failing |")
        if v.differential_ok is not None:
            lines.append(f"| differential check | {v.differential_inputs} inputs, "
                         f"{len(v.differential_mismatches)} differ |")
    if a.critique is not None and a.critique.findings:
        lines += ["", "### Critique", ""] + [
            f"- **{f.severity}** {md.markdown_code(f.rule)}: {md.markdown_prose(f.message)}"
            for f in a.critique.findings
        ]
    return lines


def validated_patch(report: RunReport) -> str:
    """The exact patch the sandbox validated: the accepted diff plus the regression test file."""
    a = report.accepted
    if a is None:
        return ""
    patch = a.proposal.diff
    if a.proposal.test is not None:
        from crew.repair.diffs import new_file_diff

        patch = patch.rstrip("\n") + "\n" + new_file_diff(a.proposal.test.path, a.proposal.test.code)
    return patch


def _log_texts(report: RunReport) -> list[str]:
    """Every string of the report that came from the log (the evidence), not from the repo."""
    texts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    if report.evidence is not None:
        walk(report.evidence.model_dump())
    return texts


def patch_leaks(report: RunReport, patch: str | None = None) -> list[str]:
    """The kinds of the log's secrets (and the environment's) that the patch would add, if any.

    Only added lines count: a context or removed line is the repository's own code, which the
    remote already holds; a secret there is not healcrew's to hide (and masking it would break
    the patch).
    """
    from crew.delivery.redact import find_secrets

    patch = validated_patch(report) if patch is None else patch
    added = "\n".join(line[1:] for line in patch.splitlines() if line.startswith("+") and not line.startswith("+++"))
    if not added:
        return []
    known = find_secrets("\n".join(_log_texts(report)))
    kinds = {kind for value, kind in known.items() if len(value) >= 6 and value in added}
    kinds |= {kind for kind in find_secrets(added).values() if kind.startswith("env:")}
    return sorted(kinds)


def leak_message(kinds: list[str]) -> str:
    """The one-line reason a patch with a log secret is not written or delivered."""
    return (f"the validated fix contains a secret from the log ({', '.join(kinds)}); "
            "not writing fix.patch and not delivering it")


def write_fix(report: RunReport, out_dir: Path) -> None:
    """Keep the validated fix on disk byte for byte (``fix.patch`` with the test), so no work is lost.

    Raises PatchLeakError instead when the patch would carry a secret from the log.
    """
    if report.accepted is None:
        return
    kinds = patch_leaks(report)
    if kinds:
        raise PatchLeakError(leak_message(kinds))
    _write_atomic(out_dir / "fix.patch", validated_patch(report))


def write_report(report: RunReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir``, redacted.

    Returns the JSON and Markdown paths; the HTML report sits beside them.
    """
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    report = public(report)
    _write_atomic(json_path, report.model_dump_json(indent=2))
    _write_atomic(md_path, public_text(to_markdown(report)))
    _write_atomic(out_dir / "report.html", _html_or_note(report))
    return json_path, md_path


def _html_or_note(report: RunReport) -> str:
    """``report.html``; a page pointing to ``report.md`` if rendering fails, so the run's other outputs stand."""
    from crew.report_html import to_html

    try:
        return to_html(report)
    except Exception as exc:  # a template bug (jinja2 raises many types) must not cost the run its report
        import html

        return (f"<!DOCTYPE html><meta charset=utf-8><title>healcrew report</title><p>The HTML report could not "
                f"be rendered ({html.escape(type(exc).__name__)}); see report.md beside this file.</p>\n")


def _candidate_verdict(c: CandidateRecord) -> str:
    """The candidate's stage, and the reflection warnings that ranked it down."""
    return c.verdict + (f" (ranked down: {'; '.join(c.warnings)})" if c.warnings else "")


def llm_words(report: RunReport) -> str:
    """The llm brain in one line: whose fix, calls, tokens, cost, fallbacks and flagged injections."""
    u = report.llm
    assert u is not None
    by = f"fix by the {report.accepted.proposal.brain} brain; " if report.accepted is not None else ""
    words = (f"{by}{len(u.calls)} call(s) to {u.model}, {u.input_tokens} input and {u.output_tokens} output "
             f"tokens, ${u.cost_usd:.4f}")
    if u.fallbacks:
        words += "; fell back to offline: " + "; ".join(u.fallbacks)
    if u.injections:
        words += f"; {len(u.injections)} instruction(s) found in log or repo text, flagged and not followed"
    return md.markdown_prose(words)
