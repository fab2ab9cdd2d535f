"""Build a real git repository from an example tree and its recorded history.

Example services cannot be nested git repositories inside healcrew's own repository, so an
example tree carries ``.history.yaml``: its commits, oldest first, each with author, date,
message and the unified diff that produced it. The tree on disk is the last commit. We walk
the diffs backwards (``git apply -R``) to recover each earlier tree, then commit them in order
with fixed author and committer dates so that every commit sha is stable and a bundle can name
its deployed commit by sha.

A bundle's tree is untrusted: files are copied without following links, a link is copied as a
link only when it resolves inside the tree (anything else is refused, never followed), and git
runs through ``sandbox.safegit``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import BadInputError
from sandbox.safegit import run_git

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
    """True when ``tree`` is an example tree with recorded history (a link there counts, to be refused)."""
    return os.path.lexists(tree / HISTORY_FILE) and not (tree / HISTORY_FILE).is_dir()


def load_history(tree: Path) -> History:
    """Read and validate ``.history.yaml``; one-line error on anything malformed or a link."""
    path = tree / HISTORY_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        why = "it is a symbolic link" if os.path.islink(path) else (exc.strerror or str(exc))
        raise BadInputError(f"{path}: cannot read the history: {why}") from None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise BadInputError(f"{path}: the history is not a regular file")
            text = handle.read().decode("utf-8")
        return History.model_validate(yaml.safe_load(text))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{path}: invalid history: {first}") from None


def _git(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    proc = run_git(args, cwd, env=env, stdin=None if stdin is None else stdin.encode())
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()
        raise BadInputError(f"git {args[0]} failed in {cwd.name}: {stderr[:300]}")
    return proc.stdout.decode(errors="replace")


def _entries(root: Path) -> list[tuple[str, os.stat_result]]:
    """Every path under ``root`` (relative, sorted) with its lstat, minus ignored names; never follows."""
    found: list[tuple[str, os.stat_result]] = []
    for top, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            if name not in _IGNORED:
                path = os.path.join(top, name)
                found.append((os.path.relpath(path, root), os.lstat(path)))
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED and not os.path.islink(os.path.join(top, d)))
    return sorted(found)


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` into ``dst`` (created if needed): files by content, in-tree links as links.

    A link that resolves outside ``src`` (absolute, ``../``, or through other links) is refused:
    following it would commit host files; copying it would push a link to the host's paths.
    """
    root = os.path.realpath(src)
    dst.mkdir(parents=True, exist_ok=True)
    for rel, info in _entries(src):
        source, target = os.path.join(src, rel), dst / rel
        if stat.S_ISLNK(info.st_mode):
            link = os.readlink(source)
            resolved = os.path.realpath(source)
            if os.path.isabs(link) or not (resolved == root or resolved.startswith(root + os.sep)):
                raise BadInputError(f"{src.name}: symbolic link {rel} -> {link[:120]} points outside the tree; "
                                    "refusing to copy it")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(link, target)
        elif stat.S_ISDIR(info.st_mode):
            target.mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(info.st_mode):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as reader, open(target, "wb") as writer:
                shutil.copyfileobj(reader, writer)
            os.chmod(target, stat.S_IMODE(info.st_mode))
        else:
            raise BadInputError(f"{src.name}: {rel} is not a file, folder or link; refusing to copy it")


def _fingerprint(tree: Path) -> str:
    """Hash of every file of the tree, so a cached materialization is rebuilt after edits."""
    digest = hashlib.sha256(load_history(tree).model_dump_json().encode())
    for rel, info in _entries(tree):
        path = os.path.join(tree, rel)
        if stat.S_ISREG(info.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as reader:
                digest.update(rel.encode() + b"\0" + reader.read() + b"\0")
        elif stat.S_ISLNK(info.st_mode):
            digest.update(rel.encode() + b"\0->" + os.readlink(path).encode() + b"\0")
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
        no_parent = {"GIT_CEILING_DIRECTORIES": str(Path(tmp).resolve())}
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
                    shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            _copy_tree(snap, repo)
            name, email = _split_author(commit.author)
            stamp = commit.date.isoformat()
            env = {
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
