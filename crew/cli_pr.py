"""``healcrew pr show | close``: the pull request of a run, as a reviewer sees it, and closing it.

In a terminal the body is rendered the way a forge shows it: ``<details>`` folds stay folded
(their summary line says so; ``--unfold`` opens them), code blocks are printed unwrapped so a
command copies as one line, and output longer than the screen goes through a pager (``$PAGER``,
else ``less`` with ``LESS=FRX`` as git sets it; ``--no-pager`` or ``PAGER=`` turns it off).
Elsewhere (a pipe, a file) the Markdown source is printed as it is.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from crew.errors import BadInputError

pr_app = typer.Typer(help="Look at and act on the pull request of a run.", no_args_is_help=True)
RunArg = Annotated[Path, typer.Argument(help="A run's output folder, or its report.json.")]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
_DETAILS_OPEN = re.compile(r"^\s*<details(\s[^>]*)?>\s*$", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"^\s*</details>\s*$", re.IGNORECASE)
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.IGNORECASE | re.DOTALL)
_INLINE_TAGS = re.compile(r"</?(sub|sup|br|b|i|em|strong|code|kbd)\s*/?>", re.IGNORECASE)


@dataclass
class Block:
    """A piece of a PR body: Markdown prose, a fenced code block, or a fold."""

    kind: str  # "prose", "code" or "fold"
    text: str = ""
    lang: str = ""
    children: list[Block] | None = None


def parse_blocks(body: str) -> list[Block]:
    """The body cut into prose, top-level code fences and ``<details>`` folds (which may nest)."""
    blocks, _ = _parse(body.splitlines(), 0, nested=False)
    return blocks


def _parse(lines: list[str], i: int, nested: bool) -> tuple[list[Block], int]:
    blocks: list[Block] = []
    prose: list[str] = []

    def flush() -> None:
        if any(line.strip() for line in prose):
            blocks.append(Block("prose", "\n".join(prose)))
        prose.clear()

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            mark, lang = fence.group(1), fence.group(2)
            code: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(mark[0] * len(mark)):
                code.append(lines[i])
                i += 1
            blocks.append(Block("code", "\n".join(code), lang))
            i += 1
            continue
        if _DETAILS_OPEN.match(line):
            flush()
            children, i = _parse(lines, i + 1, nested=True)
            summary = "details"
            if children and children[0].kind == "prose":
                found = _SUMMARY.search(children[0].text)
                if found:
                    summary = " ".join(found.group(1).split())
                    rest = _SUMMARY.sub("", children[0].text, count=1)
                    children = ([Block("prose", rest)] if rest.strip() else []) + children[1:]
            blocks.append(Block("fold", summary, children=children))
            continue
        if nested and _DETAILS_CLOSE.match(line):
            flush()
            return blocks, i + 1
        prose.append(line)
        i += 1
    flush()
    return blocks, i


def render(console: Console, blocks: list[Block], unfold: bool = False) -> None:
    """Print ``blocks`` on ``console``: prose through Rich Markdown, code unwrapped, folds folded."""
    from rich.markdown import Markdown
    from rich.syntax import Syntax

    from crew.escape import strip_controls, terminal

    for block in blocks:
        if block.kind == "prose":
            console.print(Markdown(_INLINE_TAGS.sub("", block.text)))
        elif block.kind == "code":
            code = strip_controls(block.text)
            text = Syntax(code, block.lang or "text", theme="ansi_dark").highlight(code)
            text.rstrip()
            console.print(text, soft_wrap=True)
            console.print()
        elif unfold:
            console.print(f"[bold]▾ {terminal(block.text)}[/]", highlight=False)
            render(console, block.children or [], unfold)
        else:
            console.print(f"[bold]▸ {terminal(block.text)}[/] [dim](folded; --unfold opens it)[/]", highlight=False)
            console.print()


def page(text: str) -> bool:
    """Show ``text`` through the user's pager; False when there is none (the caller prints it)."""
    pager = os.environ.get("PAGER")
    if pager is None:
        pager = "less" if shutil.which("less") else ""
    argv = shlex.split(pager)
    if not argv or argv[0] == "cat" or shutil.which(argv[0]) is None:
        return False
    env = {**os.environ, "LESS": os.environ.get("LESS", "FRX")}
    try:
        subprocess.run(argv, input=text.encode("utf-8", errors="replace"), env=env, check=False)
    except (OSError, BrokenPipeError):
        return False
    return True


def _load_run(run_path: Path) -> tuple[Path, object]:
    from pydantic import ValidationError

    from crew.handoffs import RunReport

    folder, report_file = (run_path, run_path / "report.json") if run_path.is_dir() else (run_path.parent, run_path)
    if not report_file.is_file():
        raise BadInputError(f"no report.json in {run_path}")
    try:
        report = RunReport.model_validate_json(report_file.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{report_file.name} is not a healcrew run report: {str(exc).splitlines()[0]}") from None
    return folder, report


def _body(run_path: Path) -> str:
    from crew.handoffs import RunReport
    from crew.report import public, public_text

    folder, report = _load_run(run_path)
    assert isinstance(report, RunReport)
    report = public(report)  # a bundle written by an older healcrew may hold secrets
    body_file = folder / "PR.md"
    if body_file.is_file():
        body = body_file.read_text(encoding="utf-8", errors="replace")
    elif report.delivery is not None:
        from crew.delivery.config import DeliveryConfig
        from crew.delivery.deliver import pr_body

        body = pr_body(report, report.delivery, DeliveryConfig(forge=report.delivery.forge))
    else:
        from crew.report import to_markdown

        body = to_markdown(report)
    return public_text(body)


@pr_app.command("show")
def pr_show(
    run_path: RunArg,
    raw: Annotated[bool, typer.Option("--raw", help="Print the Markdown source instead of rendering it.")] = False,
    unfold: Annotated[bool, typer.Option("--unfold", help="Open the folded sections (traceback, log lines).")] = False,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Never page long output.")] = False,
) -> None:
    """Print the pull request body as a reviewer sees it."""
    body = _body(run_path)
    out = Console()
    if raw or not out.is_terminal:
        sys.stdout.write(body if body.endswith("\n") else body + "\n")
        return
    blocks = parse_blocks(body)
    with out.capture() as captured:
        render(out, blocks, unfold)
    text = captured.get()
    if no_pager or text.count("\n") < out.height or not page(text):
        sys.stdout.write(text)


@pr_app.command("close")
def pr_close(run_path: RunArg) -> None:
    """Mark the run's local pull request closed, as a reviewer closing it would."""
    from crew.delivery import local_forge
    from crew.handoffs import RunReport

    _, report = _load_run(run_path)
    assert isinstance(report, RunReport)
    record = report.delivery
    if record is None or record.remote is None or record.pull_request is None:
        raise BadInputError(f"run {report.run_id} opened no pull request")
    if record.forge != "local":
        raise BadInputError(f"the pull request of run {report.run_id} is on {record.forge}; close it there")
    pr = local_forge.close(record.remote, report.incident.id)
    print(f"closed local PR #{pr.number} ({pr.branch}); healcrew will neither reopen it nor open a new one "
          "for this incident during the cool-down")
