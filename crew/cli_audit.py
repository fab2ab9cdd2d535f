"""``healcrew audit verify [FILE]``: check that the audit log's hash chain is whole.

Mounted by ``crew/cli.py``. Exit codes: 0 the chain verifies, 1 a record is broken or altered
(the first one is named, with why), 2 the file is missing or unreadable (one line). Without
FILE the service's audit log is checked: ``$HEALCREW_AUDIT_LOG``, else
``$XDG_STATE_HOME/healcrew/audit.jsonl``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

audit_app = typer.Typer(
    name="audit",
    help="Check the service's hash-chained audit log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

BROKEN_EXIT = 1


@audit_app.command("verify")
def verify(
    file: Annotated[Path | None, typer.Argument(
        help="The audit log (default: $HEALCREW_AUDIT_LOG, else $XDG_STATE_HOME/healcrew/audit.jsonl).",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    expect_head: Annotated[str | None, typer.Option(
        "--expect-head", metavar="HASH",
        help="A head hash noted earlier: fail when no record has it (records cut from the end).")] = None,
) -> None:
    """Report the first broken or altered record; exit 1 when there is one."""
    from crew.audit import AuditError, default_audit_path, verify_chain
    from crew.escape import terminal

    path = file if file is not None else default_audit_path()
    try:
        check = verify_chain(path, expect_head=expect_head)
    except AuditError as exc:
        _err.print(f"healcrew: {terminal(exc, markup=False)}", style="red", markup=False)
        raise typer.Exit(exc.exit_code) from None
    if as_json:
        typer.echo(json.dumps({"file": str(path), **check.model_dump()}))
    elif check.ok:
        _out.print(f"{terminal(path, markup=False)}: {check.records} record(s), chain verifies; head {check.head}",
                   markup=False)
    else:
        _out.print(f"{terminal(path, markup=False)}: broken at {terminal(check.reason, markup=False)} "
                   f"({check.records} record(s) verified before it)", style="red", markup=False)
    if not check.ok:
        raise typer.Exit(BROKEN_EXIT)
