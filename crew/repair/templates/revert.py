"""Revert: undo the suspect commit's change at the fault (SapFix's partial and full revert).

Covers any crash class whose fault function was changed by the commit that brought the crash: a
guard removed, a key or attribute renamed, a default dropped, an argument order changed. It is
safe in a way no template is: the code it restores is the code production ran before the crash
began. It is still only a candidate: the regression test, the suite, the differential check
and reflection judge it like any other, and a revert that also undoes a wanted change shows up
there (a suite test of the new behaviour fails) or in the reviewer's diff, which is the
suspect's own hunk reversed.

Two candidates, from the suspect commits the diagnosis and history name (likeliest first):

- *revert-suspect-hunk*: the suspect's hunk at the fault (the one closest to the fault line inside
  the fault function), the partial revert;
- *revert-suspect-function*: all of the suspect's hunks inside the fault function, when it is
  short and this differs from the partial revert.

Only where the deployed file still holds the suspect's version of the fault function (a later
change to it would make the revert a guess). Its prior ranks it below a template that names the
cause (a rename the message suggests, a key the payload shows): a revert can undo an intended
change with the bug, which only the suite and the reviewer can tell.
"""

from __future__ import annotations

import ast
import difflib

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, SourceEdit, TemplateContext
from crew.repair.suspects import suspect_commits

HANDLES: tuple[RootCause, ...] = tuple(r for r in RootCause if r not in (RootCause.OUT_OF_MEMORY, RootCause.UNKNOWN))

MAX_FUNCTION_LINES = 60
"""A whole-function revert longer than this is not a change a reviewer checks in a minute."""
MAX_SUSPECTS = 3


def _function(source: str, name: str, line: int | None = None) -> tuple[int, int] | None:
    """(first, last) line of the function ``name``, decorators included: the innermost one holding
    ``line`` when given, else the only function of that name (None when there are several)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    spans = [(min([n.lineno, *(d.lineno for d in n.decorator_list)]), n.end_lineno or n.lineno)
             for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name]
    if line is not None:
        spans = [s for s in spans if s[0] <= line <= s[1]]
        return min(spans, key=lambda s: s[1] - s[0], default=None)
    return spans[0] if len(spans) == 1 else None


def _reverted(after: list[str], before: list[str], first: int, last: int, near: int | None) -> list[str] | None:
    """``after`` with the suspect's hunks inside lines first..last (1-based) replaced by ``before``'s:
    all of them, or with ``near`` only the one closest to that line (the hunk at the fault)."""
    ops = difflib.SequenceMatcher(a=after, b=before, autojunk=False).get_opcodes()

    def inside(i1: int, i2: int) -> bool:
        return (i1 < last and i2 > first - 1) if i2 > i1 else (first - 1 <= i1 <= last)

    changed = [n for n, (tag, i1, i2, _, _) in enumerate(ops) if tag != "equal" and inside(i1, i2)]
    if near is not None and changed:
        changed = [min(changed, key=lambda n: min(abs(ops[n][1] + 1 - near), abs(ops[n][2] - near)))]
    if not changed:
        return None
    out: list[str] = []
    for n, (_, i1, i2, j1, j2) in enumerate(ops):
        out.extend(before[j1:j2] if n in changed else after[i1:i2])
    return out


def generate(ctx: TemplateContext) -> list[Candidate]:
    diagnosis = ctx.diagnosis
    fault = diagnosis.fault_frame
    if fault is None or not fault.repo_path or diagnosis.code_context is None:
        return []
    path, name = fault.repo_path, diagnosis.code_context.function or fault.frame.function
    deployed = ctx.repo.read(path)
    if deployed is None or not name or name == "<module>":
        return []
    here = _function(deployed, name, fault.frame.line)
    if here is None:
        return []
    deployed_lines = deployed.splitlines(keepends=True)
    deployed_fn = deployed_lines[here[0] - 1: here[1]]
    for sha in suspect_commits(ctx.repo, diagnosis)[:MAX_SUSPECTS]:
        after, before = ctx.repo.read_at(sha, path), ctx.repo.read_at(f"{sha}^", path)
        if after is None or before is None or after == before:
            continue
        then = _function(after, name)
        if then is None:
            continue
        after_lines = after.splitlines(keepends=True)
        if after_lines[then[0] - 1: then[1]] != deployed_fn:
            continue  # changed again since: the suspect's version is not what runs
        subject = next((c.summary for c in diagnosis.suspect_commits if c.sha == sha), "")
        what = f"{sha[:12]}" + (f" ({subject[:80]})" if subject else "")
        before_lines = before.splitlines(keepends=True)
        fault_then = fault.frame.line - here[0] + then[0]
        out: list[Candidate] = []
        for strategy, near, score, rationale in (
            ("revert-suspect-hunk", fault_then, 0.6,
             f"Undo the hunk of commit {what} at the fault in `{name}`: the lines as production ran them "
             "before the crash began."),
            ("revert-suspect-function", None, 0.45,
             f"Undo all of commit {what}'s change to `{name}`, which introduced the crash."),
        ):
            reverted = _reverted(after_lines, before_lines, *then, near)
            if reverted is None:
                continue
            new_fn = reverted[then[0] - 1: len(reverted) - (len(after_lines) - then[1])]
            if near is None and len(new_fn) > MAX_FUNCTION_LINES:
                continue
            updated = "".join([*deployed_lines[: here[0] - 1], *new_fn, *deployed_lines[here[1]:]])
            if all(updated != c.edits[0].updated for c in out):
                out.append(Candidate(strategy=strategy, edits=(SourceEdit(path, deployed, updated),), score=score,
                                     rationale=rationale))
        if out:
            return out
    return []
