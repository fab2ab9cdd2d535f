"""The repo as the sandbox sees it: a throw-away copy at a commit, plus a patch and extra files.

The host checkout is only ever read (``git archive`` or a file copy); the patch is applied with
``git apply`` to the copy, so nothing a run does can reach the checkout.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from sandbox.errors import PatchError, WorkspaceError

# Never copied from a plain tree: VCS data, caches and virtualenvs are not part of the code.
_SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", "node_modules"}


def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    try:
        return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, env=env, check=False)
    except FileNotFoundError as exc:
        raise WorkspaceError("git is not installed; it is needed to read the repo at a commit") from exc


def is_git_repo(path: Path) -> bool:
    """``path`` is the top of a git work tree (not merely inside one)."""
    if not (path / ".git").exists():
        return False
    proc = _git(["rev-parse", "--show-toplevel"], path)
    return proc.returncode == 0 and Path(proc.stdout.decode().strip()).resolve() == path.resolve()


def _archive_commit(repo: Path, commit: str, dest: Path) -> None:
    rev = _git(["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], repo)
    if rev.returncode != 0:
        raise WorkspaceError(f"commit {commit!r} is not in the repository {repo}")
    sha = rev.stdout.decode().strip()
    proc = _git(["archive", "--format=tar", sha], repo)
    if proc.returncode != 0:
        raise WorkspaceError(f"git archive of {sha[:12]} failed: {_first_line(proc.stderr)}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")


def _copy_tracked(repo: Path, dest: Path) -> None:
    """The work tree as it is on disk: tracked files plus untracked ones git does not ignore."""
    proc = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], repo)
    if proc.returncode != 0:
        raise WorkspaceError(f"git ls-files failed in {repo}: {_first_line(proc.stderr)}")
    for rel in sorted({p for p in proc.stdout.decode().split("\0") if p}):
        src = repo / rel
        if src.is_symlink() or src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target, follow_symlinks=False)


def _copy_tree(repo: Path, dest: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        return {
            n for n in names
            if n in _SKIP_DIRS or (os.path.isdir(os.path.join(directory, n))
                                   and os.path.exists(os.path.join(directory, n, "pyvenv.cfg")))
        }

    shutil.copytree(repo, dest, symlinks=True, ignore=ignore, dirs_exist_ok=True)


def apply_patch(dest: Path, patch: str) -> None:
    """Apply a unified diff (``a/`` ``b/`` prefixes) to the copy; a clear error if it does not apply."""
    if not patch.strip():
        return
    if not patch.endswith("\n"):
        patch += "\n"
    check = _git(["apply", "--check", "--whitespace=nowarn", "-"], dest, stdin=patch.encode())
    if check.returncode != 0:
        raise PatchError(f"patch does not apply: {_first_line(check.stderr)}")
    done = _git(["apply", "--whitespace=nowarn", "-"], dest, stdin=patch.encode())
    if done.returncode != 0:
        raise PatchError(f"patch does not apply: {_first_line(done.stderr)}")


def write_files(dest: Path, files: dict[str, str]) -> None:
    """Write extra files (repo-relative path -> text); paths may not leave the copy."""
    for rel, content in files.items():
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise WorkspaceError(f"extra file path must be relative and inside the repo: {rel!r}")
        target = dest.joinpath(*pure.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")


def _first_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[0] if lines else "no details"


class Workspace:
    """A temporary copy of the repo; remove it with ``close()`` (or use it as a context manager)."""

    def __init__(self, path: Path, source: Path, commit: str | None) -> None:
        self.path = path
        self.source = source
        self.commit = commit

    def tar_bytes(self) -> bytes:
        """The copy as an uncompressed tar; ownership is dropped (the non-root extracting user owns it)."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(self.path.iterdir()):
                tar.add(entry, arcname=entry.name, filter=_reset_owner)
        return buf.getvalue()

    def close(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reset_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def make_workspace(
    repo: str | Path, commit: str | None = None, patch: str | None = None, files: dict[str, str] | None = None
) -> Workspace:
    """Copy ``repo`` (at ``commit`` when given) into a temp dir, then apply ``patch`` and ``files``.

    A git repo without ``commit`` is copied as its work tree (tracked and untracked, not ignored
    files); a plain directory is copied whole, minus VCS data, caches and virtualenvs.
    """
    source = Path(repo).expanduser()
    if not source.is_dir():
        raise WorkspaceError(f"repo path does not exist or is not a directory: {source}")
    source = source.resolve()
    git = is_git_repo(source)
    if commit and not git:
        raise WorkspaceError(f"--commit needs a git repository; {source} is not one")
    top = Path(tempfile.mkdtemp(prefix="healcrew-ws-"))
    dest = top / "repo"
    dest.mkdir()
    try:
        if commit:
            _archive_commit(source, commit, dest)
        elif git:
            _copy_tracked(source, dest)
        else:
            _copy_tree(source, dest)
        if patch:
            apply_patch(dest, patch)
        if files:
            write_files(dest, files)
    except BaseException:
        shutil.rmtree(top, ignore_errors=True)
        raise
    return Workspace(dest, source, commit)
