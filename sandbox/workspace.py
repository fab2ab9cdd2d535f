"""The repo as the sandbox sees it: a throw-away copy at a commit, plus a patch and extra files.

The host checkout is only ever read, and only in ways the repository cannot turn against the
host: git runs through :mod:`sandbox.safegit` and a commit is read blob by blob with
``ls-tree``/``cat-file`` (no filters, no attributes, no hooks); files on disk are opened without
following links. A symbolic link is copied as a link only when it stays inside the copy; one that
points out of it is skipped with a note (an absolute link, ``../../etc``). Extra files are never
written through a link, and a patch may not create or change links. The copy is bounded in size
(``HEALCREW_MAX_REPO_MB``) and streamed, so a huge repository costs disk, not memory, and stops
with a one-line error at the limit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from sandbox.errors import PatchError, WorkspaceError
from sandbox.safegit import first_line, git_argv, git_env, run_git

# Never copied from a plain tree: VCS data, caches and virtualenvs are not part of the code.
_SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", "node_modules"}
DEFAULT_MAX_REPO_MB = 1024
MAX_REPO_ENV = "HEALCREW_MAX_REPO_MB"
_ENTRY_COST = 512  # bytes charged per file or link (a tar header), so a million empty files count too
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def max_repo_bytes() -> int:
    """The size limit of a repo copy: ``$HEALCREW_MAX_REPO_MB`` MiB, else 1024 MiB."""
    raw = os.environ.get(MAX_REPO_ENV, "").strip()
    try:
        mb = int(raw) if raw else DEFAULT_MAX_REPO_MB
    except ValueError:
        raise WorkspaceError(f"{MAX_REPO_ENV} must be a whole number of MiB, not {raw!r}") from None
    if mb <= 0:
        raise WorkspaceError(f"{MAX_REPO_ENV} must be positive, not {mb}")
    return mb * 1024 * 1024


class _Budget:
    """Bytes left for the copy; one clear error when a repo is over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            mib = 1024 * 1024
            limit = f"{self.limit // mib} MiB" if self.limit % mib == 0 else f"{self.limit} byte"
            raise WorkspaceError(f"the repository is larger than the {limit} limit "
                                 f"for a sandbox copy (set {MAX_REPO_ENV} to raise it)")


class _LinkInPath(Exception):
    """A path component is a symbolic link (or not a directory): never written or read through."""


def _git(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return run_git(args, cwd, stdin=stdin)
    except FileNotFoundError as exc:
        raise WorkspaceError("git is not installed; it is needed to read the repo at a commit") from exc


def is_git_repo(path: Path) -> bool:
    """``path`` is the top of a git work tree (not merely inside one)."""
    if not os.path.lexists(path / ".git"):
        return False
    proc = _git(["rev-parse", "--show-toplevel"], path)
    return proc.returncode == 0 and Path(proc.stdout.decode().strip()).resolve() == path.resolve()


# --------------------------------------------------------------------------- paths that stay inside


def _parts(rel: str) -> tuple[str, ...] | None:
    """The components of a repo-relative path, or None when it could leave the copy or name .git."""
    pure = PurePosixPath(rel)
    parts = pure.parts
    if not parts or pure.is_absolute() or any(p in ("", ".", "..") or p.lower() == ".git" for p in parts):
        return None
    return parts


@contextlib.contextmanager
def _dir_fd(root: Path, parts: tuple[str, ...], create: bool) -> Iterator[int]:
    """An fd of ``root/parts`` reached without following any link (created on the way if asked)."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _LinkInPath(part) from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _create(root: Path, parts: tuple[str, ...], mode: int = 0o644) -> Iterator[IO[bytes]]:
    """A new file at ``root/parts`` for writing; ``_LinkInPath`` if any part of it is a link."""
    with _dir_fd(root, parts[:-1], create=True) as parent:
        try:
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENOTDIR):
                raise _LinkInPath(parts[-1]) from None
            raise
    with os.fdopen(fd, "wb") as handle:
        yield handle


def _copy_stream(src: IO[bytes], dst: IO[bytes], size: int | None, budget: _Budget) -> None:
    left = size
    while left is None or left > 0:
        chunk = src.read(_CHUNK if left is None else min(_CHUNK, left))
        if not chunk:
            if left:
                raise WorkspaceError("git cat-file ended before the blob did")
            return
        if size is None:
            budget.charge(len(chunk))
        dst.write(chunk)
        if left is not None:
            left -= len(chunk)


def _place_link(dest: Path, rel: str, parts: tuple[str, ...], target: str, notes: list[str]) -> None:
    """Copy a link as a link when its target is relative; absolute ones never stay inside."""
    if not target or target.startswith("/") or "\0" in target:
        notes.append(f"skipped symbolic link {rel} -> {target[:120]}: it points outside the repository")
        return
    try:
        with _dir_fd(dest, parts[:-1], create=True) as parent:
            os.symlink(target, parts[-1], dir_fd=parent)
    except (_LinkInPath, FileExistsError):
        notes.append(f"skipped symbolic link {rel}: its folder is a link or the path is taken")


def _links(root: Path) -> dict[str, str]:
    """Every symbolic link under ``root`` (never followed): relative path -> target."""
    found: dict[str, str] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            if os.path.islink(path):
                found[os.path.relpath(path, root)] = os.readlink(path)
    return found


def _drop_escaping_links(dest: Path, notes: list[str]) -> None:
    """Remove links whose resolution (through other links too) leaves the copy, until none does."""
    real = os.path.realpath(dest)
    while True:
        dropped = False
        for rel, target in sorted(_links(dest).items()):
            resolved = os.path.realpath(dest / rel)
            if resolved != real and not resolved.startswith(real + os.sep):
                os.unlink(dest / rel)
                notes.append(f"skipped symbolic link {rel} -> {target[:120]}: it points outside the repository")
                dropped = True
        if not dropped:
            return


# --------------------------------------------------------------------------- the three sources


def _archive_commit(repo: Path, commit: str, dest: Path, budget: _Budget, notes: list[str]) -> None:
    """The tree of ``commit``, blob by blob: plumbing only, so no filter or attribute applies."""
    rev = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}^{{commit}}"], repo)
    if rev.returncode != 0:
        raise WorkspaceError(f"commit {commit!r} is not in the repository {repo}")
    sha = rev.stdout.decode().strip()
    listing = _git(["ls-tree", "-r", "-l", "-z", "--full-tree", sha], repo)
    if listing.returncode != 0:
        raise WorkspaceError(f"git ls-tree of {sha[:12]} failed: {first_line(listing.stderr)}")
    blobs: list[tuple[str, str, str, tuple[str, ...]]] = []
    links: list[tuple[str, str, tuple[str, ...]]] = []
    for record in listing.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, obj, size_field = meta.decode().split(maxsplit=3)
        rel = raw_path.decode("utf-8", errors="surrogateescape")
        parts = _parts(rel)
        if parts is None:
            notes.append(f"skipped {rel[:120]!r}: the path would leave the copy or name .git")
            continue
        budget.charge(_ENTRY_COST + (int(size_field) if size_field.strip().isdigit() else 0))
        if kind == "commit":  # a submodule: git archive leaves an empty folder
            with _dir_fd(dest, parts, create=True):
                pass
        elif mode == "120000":
            links.append((rel, obj, parts))
        elif kind == "blob":
            blobs.append((rel, mode, obj, parts))
    with _cat_file(repo) as (ask, answer):
        for rel, mode, obj, parts in blobs:
            size = _request(ask, answer, obj)
            try:
                with _create(dest, parts, 0o755 if mode == "100755" else 0o644) as out:
                    _copy_stream(answer, out, size, budget)
            except _LinkInPath:
                notes.append(f"skipped {rel}: a folder on its path is a symbolic link")
                with open(os.devnull, "wb") as sink:
                    _copy_stream(answer, sink, size, budget)
            if answer.read(1) != b"\n":
                raise WorkspaceError("git cat-file answered out of step")
        for rel, obj, parts in links:
            size = _request(ask, answer, obj)
            target = answer.read(size).decode("utf-8", errors="surrogateescape")
            answer.read(1)
            _place_link(dest, rel, parts, target, notes)


@contextlib.contextmanager
def _cat_file(repo: Path) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """One ``git cat-file --batch`` for all blobs (no ``--filters``: bytes exactly as committed)."""
    try:
        proc = subprocess.Popen(git_argv(["cat-file", "--batch"], safe_directory=repo), cwd=repo,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=git_env(extra={"GIT_CEILING_DIRECTORIES": str(repo.parent)}))
    except FileNotFoundError as exc:
        raise WorkspaceError("git is not installed; it is needed to read the repo at a commit") from exc
    assert proc.stdin is not None and proc.stdout is not None
    try:
        yield proc.stdin, proc.stdout
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        proc.kill()
        proc.wait()
        proc.stdout.close()


def _request(ask: IO[bytes], answer: IO[bytes], obj: str) -> int:
    ask.write(obj.encode() + b"\n")
    ask.flush()
    header = answer.readline().split()
    if len(header) != 3 or header[1] not in (b"blob",):
        raise WorkspaceError(f"git cat-file could not read object {obj[:12]}")
    return int(header[2])


def _copy_entry(src_root: Path, rel: str, parts: tuple[str, ...], dest: Path, budget: _Budget,
                notes: list[str]) -> None:
    """Copy one path of the work tree: a regular file or a link, reached without following links."""
    try:
        with _dir_fd(src_root, parts[:-1], create=False) as parent:
            info = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                budget.charge(_ENTRY_COST)
                _place_link(dest, rel, parts, os.readlink(parts[-1], dir_fd=parent), notes)
                return
            if not stat.S_ISREG(info.st_mode):
                return
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=parent)
    except _LinkInPath:
        notes.append(f"skipped {rel}: a folder on its path is a symbolic link")
        return
    except FileNotFoundError:
        return
    budget.charge(_ENTRY_COST + info.st_size)
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            return
        try:
            with _create(dest, parts, stat.S_IMODE(info.st_mode) & 0o755 | 0o644) as out:
                _copy_stream(src, out, info.st_size, budget)
        except _LinkInPath:
            notes.append(f"skipped {rel}: a folder on its path is a symbolic link")


def _copy_tracked(repo: Path, dest: Path, budget: _Budget, notes: list[str]) -> None:
    """The work tree as it is on disk: tracked files plus untracked ones git does not ignore."""
    proc = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], repo)
    if proc.returncode != 0:
        raise WorkspaceError(f"git ls-files failed in {repo}: {first_line(proc.stderr)}")
    for rel in sorted({p for p in proc.stdout.decode("utf-8", errors="surrogateescape").split("\0") if p}):
        parts = _parts(rel)
        if parts is None:
            notes.append(f"skipped {rel[:120]!r}: the path would leave the copy or name .git")
            continue
        _copy_entry(repo, rel, parts, dest, budget, notes)


def _copy_tree(repo: Path, dest: Path, budget: _Budget, notes: list[str]) -> None:
    """A plain directory, minus VCS data, caches and virtualenvs; links are never followed."""
    for top, dirs, files in os.walk(repo):
        here = Path(top)
        keep = []
        for name in sorted(dirs):
            path = here / name
            if path.is_symlink():
                files.append(name)
            elif name not in _SKIP_DIRS and not os.path.lexists(path / "pyvenv.cfg"):
                keep.append(name)
        dirs[:] = keep
        for name in sorted(files):
            rel = (here / name).relative_to(repo).as_posix()
            parts = _parts(rel)
            if parts is not None:
                _copy_entry(repo, rel, parts, dest, budget, notes)


# --------------------------------------------------------------------------- patch and extra files


def apply_patch(dest: Path, patch: str) -> None:
    """Apply a unified diff (``a/`` ``b/`` prefixes) to the copy; a clear error if it does not apply.

    A patch may not add or retarget a symbolic link: no fix needs one, and a link is the only
    way a patch could make a later host-side write or read leave the copy.
    """
    if not patch.strip():
        return
    if not patch.endswith("\n"):
        patch += "\n"
    check = _git(["apply", "--check", "--whitespace=nowarn", "-"], dest, stdin=patch.encode())
    if check.returncode != 0:
        raise PatchError(f"patch does not apply: {first_line(check.stderr)}")
    before = _links(dest)
    done = _git(["apply", "--whitespace=nowarn", "-"], dest, stdin=patch.encode())
    if done.returncode != 0:
        raise PatchError(f"patch does not apply: {first_line(done.stderr)}")
    added = sorted(rel for rel, target in _links(dest).items() if before.get(rel) != target)
    if added:
        raise PatchError(f"patch creates a symbolic link ({added[0]}); patches may not add or change links")


def write_files(dest: Path, files: dict[str, str]) -> None:
    """Write extra files (repo-relative path -> text); paths may not leave the copy or pass a link."""
    for rel, content in files.items():
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise WorkspaceError(f"extra file path must be relative and inside the repo: {rel!r}")
        parts = _parts(rel)
        if parts is None:
            raise WorkspaceError(f"extra file path must be relative and inside the repo: {rel!r}")
        try:
            with _create(dest, parts) as out:
                out.write(content.encode("utf-8"))
        except _LinkInPath:
            raise WorkspaceError(f"extra file path goes through a symbolic link or folder: {rel!r}") from None


# --------------------------------------------------------------------------- the workspace


class Workspace:
    """A temporary copy of the repo; remove it with ``close()`` (or use it as a context manager)."""

    def __init__(self, path: Path, source: Path, commit: str | None, notes: list[str] | None = None) -> None:
        self.path = path
        self.source = source
        self.commit = commit
        self.notes: list[str] = notes if notes is not None else []
        """What the copy left out and why (links pointing outside the repo, unsafe paths)."""
        self._tar: Path | None = None

    def tar_file(self) -> Path:
        """The copy as an uncompressed tar file next to it (made once); ownership is dropped.

        A file, not bytes in memory: the container load streams it, so a big repo costs disk only.
        """
        if self._tar is None:
            target = self.path.parent / "repo.tar"
            with tarfile.open(target, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for entry in sorted(self.path.iterdir()):
                    tar.add(entry, arcname=entry.name, filter=_reset_owner)
            self._tar = target
        return self._tar

    def tar_bytes(self) -> bytes:
        """The tar in memory; only for small copies (tests). Prefer :meth:`tar_file`."""
        return self.tar_file().read_bytes()

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
    repo: str | Path, commit: str | None = None, patch: str | None = None, files: dict[str, str] | None = None,
    max_bytes: int | None = None,
) -> Workspace:
    """Copy ``repo`` (at ``commit`` when given) into a temp dir, then apply ``patch`` and ``files``.

    A git repo without ``commit`` is copied as its work tree (tracked and untracked, not ignored
    files); a plain directory is copied whole, minus VCS data, caches and virtualenvs. The copy
    may hold at most ``max_bytes`` (default :func:`max_repo_bytes`).
    """
    source = Path(repo).expanduser()
    if not source.is_dir():
        raise WorkspaceError(f"repo path does not exist or is not a directory: {source}")
    source = source.resolve()
    budget = _Budget(max_bytes if max_bytes is not None else max_repo_bytes())
    git = is_git_repo(source)
    if commit and not git:
        raise WorkspaceError(f"--commit needs a git repository; {source} is not one")
    top = Path(tempfile.mkdtemp(prefix="healcrew-ws-"))
    dest = top / "repo"
    dest.mkdir()
    notes: list[str] = []
    try:
        if commit:
            _archive_commit(source, commit, dest, budget, notes)
        elif git:
            _copy_tracked(source, dest, budget, notes)
        else:
            _copy_tree(source, dest, budget, notes)
        _drop_escaping_links(dest, notes)
        if patch:
            apply_patch(dest, patch)
        if files:
            write_files(dest, files)
    except OSError as exc:
        shutil.rmtree(top, ignore_errors=True)
        raise WorkspaceError(f"cannot copy the repository: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(top, ignore_errors=True)
        raise
    return Workspace(dest, source, commit, notes)
