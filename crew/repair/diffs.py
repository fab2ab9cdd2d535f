"""Unified diffs from whole-file edits, parsed back with ``unidiff``, checked with ``git apply``.

Templates edit whole files (``SourceEdit``); the proposal carries a diff because that is what a
reviewer reads and what ``git apply`` takes. The diff is written the way ``git diff`` writes it
(``diff --git`` line, ``a/`` ``b/`` prefixes, ``/dev/null`` for new files, the
``\\ No newline at end of file`` marker) so that git accepts it as is.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from crew.errors import BadInputError
from crew.repair.candidates import SourceEdit

NO_NEWLINE = "\\ No newline at end of file\n"


def _file_diff(path: str, original: str | None, updated: str | None, context: int = 3) -> str:
    """One file's section of a git-style unified diff; '' when nothing changed."""
    if original == updated:
        return ""
    old_lines = (original or "").splitlines(keepends=True)
    new_lines = (updated or "").splitlines(keepends=True)
    from_file = "/dev/null" if original is None else f"a/{path}"
    to_file = "/dev/null" if updated is None else f"b/{path}"
    head = [f"diff --git a/{path} b/{path}\n"]
    if original is None:
        head.append("new file mode 100644\n")
    elif updated is None:
        head.append("deleted file mode 100644\n")
    if not old_lines and not new_lines:
        # An empty file created or deleted: git writes no hunk and no ---/+++ lines.
        return "".join(head)
    body = []
    for line in difflib.unified_diff(old_lines, new_lines, from_file, to_file, n=context):
        if line.startswith(("--- ", "+++ ")):
            line = line.rstrip("\n").rstrip("\t") + "\n"  # difflib may append a tab for the date
        body.append(line)
        if not line.endswith("\n"):
            body.append("\n" + NO_NEWLINE)
    return "".join(head + body)


def unified_diff(edits: Sequence[SourceEdit], context: int = 3) -> str:
    """The git-style unified diff of ``edits``; an edit whose ``original`` is '' creates the file."""
    parts = []
    for edit in edits:
        original = None if edit.original == "" else edit.original
        parts.append(_file_diff(edit.path, original, edit.updated, context))
    return "".join(parts)


def new_file_diff(path: str, content: str) -> str:
    """A diff that creates ``path`` holding ``content``."""
    return _file_diff(path, None, content)


def parse_diff(diff: str) -> PatchSet:
    """``diff`` as a ``unidiff.PatchSet``; BadInputError when it is not a unified diff."""
    try:
        patch = PatchSet(diff)
    except UnidiffParseError as exc:
        raise BadInputError(f"not a unified diff: {exc}") from exc
    if not len(patch) and diff.strip():
        raise BadInputError("not a unified diff: no file headers (--- a/... +++ b/...) found")
    return patch


def diff_stats(diff: str) -> tuple[int, int, int]:
    """(files, added lines, removed lines) of ``diff``."""
    patch = parse_diff(diff)
    return len(patch), sum(f.added for f in patch), sum(f.removed for f in patch)


def _git(repo_path: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> (
    subprocess.CompletedProcess[str]
):
    from sandbox.safegit import run_git  # the repo is untrusted: no filters, hooks or fsmonitor from its config

    extra = {k: v for k, v in (env or {}).items() if os.environ.get(k) != v}
    proc = run_git(args, Path(repo_path), env=extra, stdin=None if stdin is None else stdin.encode(), ceiling=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                       proc.stderr.decode(errors="replace"))


def _reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    first = (errors or lines or ["git apply --check failed"])[0]
    return first.removeprefix("error:").strip()


def check_applies(repo_path: Path, commit: str, diff: str) -> str | None:
    """None when ``diff`` applies to ``commit``'s tree, else the one-line reason.

    Uses a throw-away index (``GIT_INDEX_FILE``) and ``git apply --cached --check``, so neither
    the user's working tree nor their index is read or touched.
    """
    repo_path = Path(repo_path)
    if not diff.strip():
        return "the diff is empty"
    resolved = _git(repo_path, "rev-parse", "--verify", "--quiet", f"{commit}^{{tree}}")
    if resolved.returncode != 0:
        raise BadInputError(f"commit {commit!r} not found in {repo_path.name}")
    with tempfile.TemporaryDirectory(prefix="healcrew-index-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        read = _git(repo_path, "read-tree", resolved.stdout.strip(), env=env)
        if read.returncode != 0:
            raise BadInputError(f"git read-tree failed: {_reason(read.stderr)}")
        applied = _git(repo_path, "apply", "--cached", "--check", "--whitespace=nowarn", "-", env=env, stdin=diff)
    if applied.returncode == 0:
        return None
    return _reason(applied.stderr)
