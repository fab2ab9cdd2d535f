"""Write a RunReport for machines (JSON) and for people (Markdown), never half-done."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from crew.handoffs import RunReport


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_markdown(report: RunReport) -> str:
    """A Markdown summary of the run (later the body of the pull request)."""
    inc, d = report.incident, report.diagnosis
    out = [f"# healcrew: {inc.id}", ""]
    out.append(f"- **Service:** {inc.service or '?'} ({inc.namespace or '-'}/{inc.pod or '-'})")
    stopped = f" — stopped at {report.stopped_at}: {report.error}" if report.stopped_at else ""
    out.append(f"- **Outcome:** {report.outcome}{stopped}")
    out.append(f"- **Run:** `{report.run_id}`, brain `{report.brain}`, healcrew {report.healcrew_version}")
    if report.evidence and report.evidence.groups:
        g = report.evidence.groups[0]
        out.append(f"- **Crash:** `{g.exc_type}: {g.exc_message[:200]}` seen {g.count}×"
                   + (f", first {g.first_seen:%Y-%m-%d %H:%M:%S}" if g.first_seen else ""))
    if d is not None:
        out += ["", "## Root cause", "", d.hypothesis, "",
                f"- **Class:** {d.root_cause.value}", f"- **Confidence:** {d.confidence:.2f}"]
        if d.fault_frame and d.fault_frame.repo_path:
            out.append(f"- **Fault line:** `{d.fault_frame.repo_path}:{d.fault_frame.frame.line}` at `{d.commit[:12]}`")
        for s in d.suspect_commits:
            out.append(f"- **Suspect commit:** `{s.sha[:12]}` {s.summary} — {s.author}, {s.date:%Y-%m-%d} ({s.reason})")
        if d.code_context:
            c = d.code_context
            body = "\n".join(
                f"{'>' if n == c.fault_line else ' '} {n:4d}  {text}"
                for n, text in enumerate(c.lines, start=c.start_line)
            )
            out += ["", f"```python\n# {c.path}\n{body}\n```"]
    if report.accepted is not None:
        out += _fix_section(report)
    elif report.declined:
        out += ["", "## No fix proposed", "", report.declined]
    if report.attempts:
        out += ["", "## Attempts", "", "| # | strategy | reproduces | fixed | suite | differential | verdict | why |",
                "|---:|---|---|---|---|---|---|---|"]
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
                f"| {a.number} | `{a.proposal.strategy}` | {yes_no(v.reproduces if v else None)} | "
                f"{yes_no(v.fixed if v else None)} | {suite} | {diff_ok} | "
                f"{a.critique.verdict if a.critique else '-'} | {(a.rejected_because or '').replace('|', '/')[:120]} |"
            )
    if report.evidence and report.evidence.log_excerpt:
        out += ["", "## Evidence", "", "```", *report.evidence.log_excerpt[-30:], "```"]
    out += ["", "## Stages", "", "| stage | status | ms |", "|---|---|---:|"]
    out += [f"| {t.stage} | {t.status} | {t.seconds * 1000:.0f} |" for t in report.timings]
    return "\n".join(out) + "\n"


def yes_no(value: bool | None) -> str:
    """A check's result in a table cell: yes, no, or - when it did not run."""
    return "-" if value is None else ("yes" if value else "no")


def _fix_section(report: RunReport) -> list[str]:
    a = report.accepted
    assert a is not None
    p, v = a.proposal, a.validation
    lines = ["", "## Fix", "", p.rationale, "", f"Strategy `{p.strategy}`, files: "
             + ", ".join(f"`{f}`" for f in p.touched_files), "", "```diff", p.diff.rstrip(), "```"]
    if p.test is not None:
        lines += ["", f"### Regression test `{p.test.path}` (input from {p.test.input_source})", "",
                  "```python", p.test.code.rstrip(), "```"]
    if v is not None:
        orig, patched = v.test_on_original, v.test_on_patched
        lines += ["", "### Sandbox verdicts", "", f"Backend: {v.backend}. {v.isolation_note}".rstrip(), "",
                  "| check | result |", "|---|---|"]
        if orig is not None:
            lines.append(f"| test on original | {'failed' if v.reproduces else 'did not fail'} with "
                         f"`{orig.exc_type or '-'}` at `{orig.raising_frame or '-'}` |")
        if patched is not None:
            lines.append(f"| test on patched | {'passed' if v.fixed else 'failed'} |")
        if v.suite_on_patched is not None:
            lines.append(f"| existing suite | {v.suite_on_patched.passed} passed, "
                         f"{len(v.newly_failing)} newly failing |")
        if v.differential_ok is not None:
            lines.append(f"| differential check | {v.differential_inputs} inputs, "
                         f"{len(v.differential_mismatches)} differ |")
    if a.critique is not None and a.critique.findings:
        lines += ["", "### Critique", ""] + [f"- **{f.severity}** `{f.rule}`: {f.message}" for f in a.critique.findings]
    return lines


def write_fix(report: RunReport, out_dir: Path) -> None:
    """Keep the validated fix on disk (``fix.patch`` with the test), so no work is lost."""
    a = report.accepted
    if a is None:
        return
    patch = a.proposal.diff
    if a.proposal.test is not None:
        from crew.repair.diffs import new_file_diff

        patch = patch.rstrip("\n") + "\n" + new_file_diff(a.proposal.test.path, a.proposal.test.code)
    _write_atomic(out_dir / "fix.patch", patch)


def write_report(report: RunReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir``."""
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    _write_atomic(json_path, report.model_dump_json(indent=2))
    _write_atomic(md_path, to_markdown(report))
    return json_path, md_path
