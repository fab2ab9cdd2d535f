"""Build a real git repository from an example tree and its recorded history.

Example services cannot be nested git repositories inside healcrew's own repository, so an
example tree carries ``.history.yaml``: its commits, oldest first, each with author, date,
message and the unified diff that produced it. The tree on disk is the last commit. We walk
the diffs backwards (``git apply -R``) to recover each earlier tree, then commit them in order
with fixed author and committer dates so that every commit sha is stable and a bundle can name
its deployed commit by sha.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import BadInputError

HISTORY_FILE = ".history.yaml"
_IGNORED = {HISTORY_FILE, ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv"}


class HistoryCommit(BaseModel):
    """One recorded commit of an example repository."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="Commit message; the first line is the summary.")
    author: str = Field(description="'Name <email>' of the author (also the committer).")
    date: datetime = Field(description="Author and committer date, with a timezone.")
    patch: str | None = Field(
        default=None, description="Unified diff from the previous commit; none for the first."
    )


class History(BaseModel):
    """The whole recorded history, oldest commit first."""

    model_config = ConfigDict(extra="forbid")

    commits: list[HistoryCommit] = Field(min_length=1)


def has_history(tree: Path) -> bool:
    """True when ``tree`` is an example tree with recorded history."""
    return (tree / HISTORY_FILE).is_file()


def load_history(tree: Path) -> History:
    """Read and validate ``.history.yaml``; one-line error on anything malformed."""
    path = tree / HISTORY_FILE
    try:
        return History.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{path}: invalid history: {first}") from None


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise BadInputError(f"git {args[0]} failed in {cwd.name}: {proc.stderr.strip()[:300]}")
    return proc.stdout


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=lambda _d, names: [n for n in names if n in _IGNORED])


def _fingerprint(tree: Path) -> str:
    """Hash of every file of the tree, so a cached materialization is rebuilt after edits."""
    digest = hashlib.sha256((tree / HISTORY_FILE).read_bytes())
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        rel = path.relative_to(tree)
        if any(part in _IGNORED for part in rel.parts):
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _split_author(author: str) -> tuple[str, str]:
    name, _, rest = author.partition("<")
    return name.strip() or "unknown", rest.rstrip(">").strip() or "unknown@example.com"


def materialize(tree: Path, cache_dir: Path) -> Path:
    """Return a git repository holding ``tree``'s history, building it once per content."""
    tree = tree.resolve()
    history = load_history(tree)
    target = cache_dir / f"{tree.name}-{_fingerprint(tree)}"
    if (target / ".git").is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as tmp:
        work = Path(tmp) / "work"
        no_parent = {**os.environ, "GIT_CEILING_DIRECTORIES": str(Path(tmp).resolve())}
        _copy_tree(tree, work)
        snapshots: list[Path] = []
        for index in range(len(history.commits) - 1, -1, -1):
            snap = Path(tmp) / f"snap-{index}"
            _copy_tree(work, snap)
            snapshots.append(snap)
            patch = history.commits[index].patch
            if patch:
                # Stop git from finding an enclosing repository (a cache dir inside a checkout):
                # there, git apply reads paths from that repository's top and skips ours silently.
                _git(work, "apply", "-R", "--whitespace=nowarn", "-", stdin=patch, env=no_parent)
            elif index > 0:
                raise BadInputError(f"{tree}: commit {index + 1} of the history has no patch")
        snapshots.reverse()
        repo = Path(tmp) / "repo"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        for commit, snap in zip(history.commits, snapshots, strict=True):
            for child in repo.iterdir():
                if child.name != ".git":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            for child in snap.iterdir():
                dest = repo / child.name
                shutil.copytree(child, dest) if child.is_dir() else shutil.copy2(child, dest)
            name, email = _split_author(commit.author)
            stamp = commit.date.isoformat()
            env = {
                **os.environ,
                "GIT_AUTHOR_NAME": name,
                "GIT_AUTHOR_EMAIL": email,
                "GIT_AUTHOR_DATE": stamp,
                "GIT_COMMITTER_NAME": name,
                "GIT_COMMITTER_EMAIL": email,
                "GIT_COMMITTER_DATE": stamp,
            }
            _git(repo, "add", "-A")
            _git(repo, "-c", "commit.gpgsign=false", "commit", "-q", "--allow-empty",
                 "-m", commit.message, env=env)
        os.replace(repo, target)
    return target
