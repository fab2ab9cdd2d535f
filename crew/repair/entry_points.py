"""Where a regression test can enter the crash: the fault function, then its callers up the traceback.

The innermost callable frame gives the smallest test, and it is tried first. A bad value,
though, often comes from further up: an argument passed in the wrong position, a ``None`` made
by a caller, an object built in several steps, a callback reached only through a registry. When
no input reaches the fault line from the fault function, the repo frames above it are driven
instead: the outermost one (production's own entry point) first, then the ones in between,
nearest first. A reproduction through any entry still counts only if the crash happens in the
fault frame and line with production's message (:mod:`crew.repair.fidelity`).

A module-level frame is an entry only as the import of its module, and not when its line sits
under ``if __name__ == "__main__":`` (importing does not run that code).
"""

from __future__ import annotations

import ast

from crew.handoffs import Diagnosis, MappedFrame
from crew.repair.reproduce import Target, target_at_frame
from crew.repo import GitRepo

#: entries probed per incident: each costs one sandbox run of the probe.
MAX_ENTRIES = 3


def _under_main_guard(repo: GitRepo, mapped: MappedFrame) -> bool:
    source = repo.read(mapped.repo_path or "")
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return False
    for stmt in tree.body:
        if (isinstance(stmt, ast.If) and "__name__" in ast.unparse(stmt.test) and "__main__" in ast.unparse(stmt.test)
                and stmt.lineno <= mapped.frame.line <= (stmt.end_lineno or stmt.lineno)):
            return True
    return False


def find_targets(diagnosis: Diagnosis, repo: GitRepo, limit: int = MAX_ENTRIES) -> list[Target]:
    """Entries to probe, in order: the nearest callable frame at or above the fault, the outermost
    repo frame, the frames in between (nearest first), and last the import of a module whose
    top-level code started the chain. Each target's ``depth`` says how far above the fault it is."""
    fault = diagnosis.fault_frame
    repo_frames = [m for m in diagnosis.frames if m.repo_path]
    if not repo_frames or fault is None or fault.repo_path is None:
        return []
    fault_index = max(i for i, m in enumerate(repo_frames) if m.frame == fault.frame)
    tracked = set(repo.tracked_files)
    functions: list[Target] = []
    module_entry: Target | None = None
    for depth, mapped in enumerate(reversed(repo_frames[: fault_index + 1])):
        target = target_at_frame(mapped, repo, tracked)
        if target is None:
            continue
        target.depth = depth
        if target.function is None:
            if not functions:  # the crash happens at import time: importing the module is the test
                return [target]
            if module_entry is None and not _under_main_guard(repo, mapped):
                module_entry = target
            continue
        functions.append(target)
    if not functions:
        return []
    ordered = [functions[0], *functions[-1:0:-1][:1], *functions[1:-1]]  # nearest, outermost, between
    entries = ordered[:limit]
    if module_entry is not None and len(entries) < limit + 1:
        entries.append(module_entry)
    return entries
