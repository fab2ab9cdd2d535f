"""Read-only questions to a git repository at the deployed commit.

Diagnosis must look at the code that was running, not at the working tree, so every read goes
through ``git`` at a resolved commit. Plain ``git`` subprocesses keep this fast (a whole
diagnosis is promised in well under a second). The repository is untrusted: git runs through
``sandbox.safegit`` and only in ways that never start a command the repo's config names (blobs
via ``cat-file``, ``blame``/``log`` without textconv or external diff).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path

from crew.errors import BadInputError
from crew.handoffs import SuspectCommit
from sandbox.safegit import run_git

_NO_DRIVERS = ("--no-textconv", "--no-ext-diff")


def _author_date(epoch: str, tz: str) -> datetime:
    sign = -1 if tz.startswith("-") else 1
    offset = timedelta(hours=int(tz[1:3] or 0), minutes=int(tz[3:5] or 0)) * sign
    return datetime.fromtimestamp(int(epoch), timezone(offset))


class GitRepo:
    """A git repository pinned to one commit."""

    def __init__(self, path: Path | str, commit: str = "HEAD") -> None:
        self.path = Path(path).resolve()
        if not self.path.is_dir():
            raise BadInputError(f"repository not found: {path}")
        top = self._run("rev-parse", "--show-toplevel", check=False)
        if top is None:
            raise BadInputError(f"not a git repository: {path}")
        self.path = Path(top.strip())
        sha = self._run("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", check=False)
        if not sha:
            raise BadInputError(f"commit {commit!r} not found in {self.path.name}")
        self.commit = sha.strip()
        self._reads: dict[str, str | None] = {}

    def _run(self, *args: str, check: bool = True) -> str | None:
        try:
            proc = run_git(args, self.path, ceiling=False)
        except FileNotFoundError:
            raise BadInputError("git is not installed; it is needed to read the repository") from None
        if proc.returncode != 0:
            if check:
                stderr = proc.stderr.decode(errors="replace").strip()
                raise BadInputError(f"git {args[0]} failed: {stderr[:200]}")
            return None
        text = proc.stdout.decode("utf-8", errors="replace")
        return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode gave

    @cached_property
    def tracked_files(self) -> list[str]:
        """Every file path at the commit."""
        out = self._run("ls-tree", "-r", "-z", "--name-only", self.commit) or ""
        return [p for p in out.split("\0") if p]

    def read(self, path: str) -> str | None:
        """The file's text at the commit, or None if it is not there.

        Remembered per repo: the commit is fixed, and diagnosis, the templates and reproduction
        each scan the same files (one ``git show`` each otherwise).
        """
        if path not in self._reads:
            self._reads[path] = self._run("cat-file", "blob", f"{self.commit}:{path}", check=False)
        return self._reads[path]

    def read_at(self, rev: str, path: str) -> str | None:
        """The file's text at another revision (``sha``, ``sha^``), or None if it is not there."""
        if rev.startswith("-") or ":" in rev:
            return None
        return self._run("cat-file", "blob", f"{rev}:{path}", check=False)

    def blame_line(self, path: str, line: int) -> SuspectCommit | None:
        """The commit that last changed ``line`` of ``path``."""
        out = self._run(
            "blame", *_NO_DRIVERS, "--porcelain", "-L", f"{line},{line}", self.commit, "--", path, check=False
        )
        if not out:
            return None
        sha = out.split(" ", 1)[0]
        fields: dict[str, str] = {}
        for row in out.splitlines()[1:]:
            key, _, value = row.partition(" ")
            fields.setdefault(key, value)
        if set(sha) == {"0"}:
            return None
        return SuspectCommit(
            sha=sha,
            author=f"{fields.get('author', '')} {fields.get('author-mail', '')}".strip(),
            date=_author_date(fields.get("author-time", "0"), fields.get("author-tz", "+0000")),
            summary=fields.get("summary", ""),
            reason=f"last changed {path}:{line}",
        )

    def file_creators(self, path: str) -> frozenset[str]:
        """The commits that added ``path`` (more than one when it was deleted and added again)."""
        out = self._run("log", *_NO_DRIVERS, "--no-renames", "--diff-filter=A", "--format=%H", self.commit, "--", path,
                        check=False)
        return frozenset((out or "").split())

    def commits_touching(self, path: str, start: int, end: int, limit: int = 3) -> list[SuspectCommit]:
        """Commits that changed lines start..end of path (``git log -L``), newest first."""
        out = self._run(
            "log", *_NO_DRIVERS, "--no-show-signature", f"-L{start},{end}:{path}", "--no-patch", f"-n{limit}",
            "--format=%x1e%H%x1f%an <%ae>%x1f%aI%x1f%s", self.commit, check=False,
        )
        commits: list[SuspectCommit] = []
        for record in (out or "").split("\x1e"):
            fields = record.strip().split("\x1f")
            if len(fields) != 4:
                continue
            commits.append(
                SuspectCommit(
                    sha=fields[0], author=fields[1], date=datetime.fromisoformat(fields[2]),
                    summary=fields[3], reason=f"changed {path}:{start}-{end}",
                )
            )
        return commits
