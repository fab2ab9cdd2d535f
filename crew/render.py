"""The terminal view of a run: the crash, the mapped fault frame with its code, the suspects.

Almost every value shown comes from the service's logs or the repository, so each goes
through :func:`crew.escape.terminal` (no escape sequences, Rich markup literal) and code
through :func:`crew.escape.strip_controls`.
"""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from crew.escape import strip_controls, terminal
from crew.handoffs import CrashEvidence, Diagnosis, RunReport
from crew.report import TERMINAL, reproduction_lines, sandbox_python_words, time_words, yes_no


def show_evidence(console: Console, ev: CrashEvidence) -> None:
    if not ev.groups:
        return
    table = Table(title=f"Crashes in {ev.lines_scanned} lines ({terminal(ev.source)})", title_justify="left")
    for col in ("count", "exception", "top frame", "first seen", "last seen"):
        table.add_column(col)
    for g in ev.groups[:5]:
        top = terminal(f"{g.top_frame.file}:{g.top_frame.line}") if g.top_frame else "-"
        table.add_row(
            str(g.count), terminal(f"{g.exc_type}: {g.exc_message[:60]}"), top,
            f"{g.first_seen:%H:%M:%S}" if g.first_seen else "-",
            f"{g.last_seen:%H:%M:%S}" if g.last_seen else "-",
        )
    console.print(table)


def show_diagnosis(console: Console, d: Diagnosis) -> None:
    c = d.code_context
    if c is not None:
        code = strip_controls("\n".join(c.lines))
        syntax = Syntax(
            code, "python", line_numbers=True, start_line=c.start_line,
            highlight_lines={c.fault_line}, word_wrap=True,
        )
        title = terminal(f"{c.path}:{c.fault_line} in {c.function or '<module>'} @ {d.commit[:10]}")
        console.print(Panel(syntax, title=title, title_align="left"))
    console.print(f"[bold]{terminal(d.exc_type)}[/]: {terminal(d.exc_message[:300])}", highlight=False)
    console.print(f"[bold]Root cause:[/] {d.root_cause.value}   [bold]confidence:[/] {d.confidence:.2f}")
    from crew.delivery.repo_facts import real_suspects

    for s in real_suspects(d.suspect_commits):  # the file's first commit is history
        console.print(
            f"[bold]Suspect commit:[/] [yellow]{terminal(s.sha[:10])}[/] {terminal(s.summary)} — {terminal(s.author)}, "
            f"{s.date:%Y-%m-%d %H:%M} ({terminal(s.reason)})", highlight=False,
        )
    console.print(Panel(terminal(d.hypothesis), title="Hypothesis", title_align="left"))


def show_reproduction(console: Console, report: RunReport) -> None:
    """How the crash was reproduced (or why not), and the Python the sandbox ran it on."""
    if report.sandbox_python is not None:
        console.print(f"[bold]Sandbox Python:[/] {sandbox_python_words(report.sandbox_python, TERMINAL)}",
                      highlight=False)
    lines = reproduction_lines(report, TERMINAL)
    if lines:
        console.print(Panel("\n".join(lines), title="Reproduction", title_align="left"), highlight=False)


def show_repair(console: Console, report: RunReport) -> None:
    show_reproduction(console, report)
    table = Table(title="Repair attempts", title_justify="left")
    for col in ("#", "strategy", "reproduces", "fixed", "suite", "verdict", "sandbox time", "why"):
        table.add_column(col)
    for a in report.attempts:
        v = a.validation
        table.add_row(
            str(a.number), terminal(a.proposal.strategy), yes_no(v.reproduces if v else None),
            yes_no(v.fixed if v else None),
            "-" if v is None or v.suite_on_patched is None else f"{v.suite_on_patched.passed} passed",
            terminal(a.critique.verdict) if a.critique else "-",
            time_words(v.time) if v is not None and v.time is not None else "-",
            terminal((a.rejected_because or "")[:80]),
        )
    if report.attempts:
        console.print(table)
    if report.accepted is not None:
        console.print(Syntax(strip_controls(report.accepted.proposal.diff), "diff", word_wrap=True))
        console.print(f"[green bold]Validated fix[/] ({terminal(report.accepted.proposal.strategy)})")
    elif report.declined:
        console.print(f"[yellow bold]No fix proposed:[/] {terminal(report.declined)}", highlight=False)
    else:
        console.print("[red bold]No validated fix found.[/]")
