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
    if report.evidence and report.evidence.log_excerpt:
        out += ["", "## Evidence", "", "```", *report.evidence.log_excerpt[-30:], "```"]
    out += ["", "## Stages", "", "| stage | status | ms |", "|---|---|---:|"]
    out += [f"| {t.stage} | {t.status} | {t.seconds * 1000:.0f} |" for t in report.timings]
    return "\n".join(out) + "\n"


def write_report(report: RunReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir``."""
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    _write_atomic(json_path, report.model_dump_json(indent=2))
    _write_atomic(md_path, to_markdown(report))
    return json_path, md_path
