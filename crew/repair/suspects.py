"""The commits that may have brought a regression, likeliest first, for the fix search and the test.

Everything is read through :class:`crew.repo.GitRepo` (``log -L``, ``blame``, ``cat-file``), which
never starts a command the untrusted repository's config names.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import Diagnosis
from crew.repo import GitRepo

_SHA = re.compile(r"^[0-9a-f]{7,64}$")


def function_span(source: str, line: int) -> tuple[int, int]:
    """The lines of the innermost function holding ``line`` (the line alone outside any function)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return line, line
    spans = [(n.lineno, n.end_lineno or n.lineno) for n in ast.walk(tree)
             if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.lineno <= line <= (n.end_lineno or 0)]
    return max(spans, default=(line, line))


def suspect_commits(repo: GitRepo, diagnosis: Diagnosis) -> list[str]:
    """Commits that may have brought the regression, likeliest first.

    The newest change to the fault function comes first (a removed guard leaves the raising line
    itself unchanged, so blame alone would name an older commit), then blame of the fault line,
    then the diagnosis' own suspects.
    """
    fault = diagnosis.fault_frame
    if fault is None or not fault.repo_path:
        return []
    path, line = fault.repo_path, fault.frame.line
    start, end = function_span(repo.read(path) or "", line)
    shas = [c.sha for c in repo.commits_touching(path, start, end, limit=1)]
    blamed = repo.blame_line(path, line)
    if blamed is not None:
        shas.append(blamed.sha)
    shas += [c.sha for c in diagnosis.suspect_commits]
    return [sha for sha in dict.fromkeys(shas) if _SHA.match(sha)]
