"""Mutation benchmark: crash-inducing mutations of real open-source packages, fixed or declined by healcrew.

Each package below is a small pure-Python project from PyPI whose sdist ships its test suite. At
benchmark time its sdist is downloaded inside a container (the download prepares metadata, which
runs the package's build code: never on the host) into a scratch cache, unpacked with links and
paths out of the folder refused, and its source and tests made a git repo. Then, for each of
eight mutation kinds -- a general syntax-tree transformation, not a hand-written bug -- a seeded,
deterministic search over the package's functions picks sites: a site qualifies when the
package's own tests, run in the sandbox, then crash with a traceback whose deepest package frame
is the mutated function (for an early return in ``__init__``, a method of the same class), not
with a plain assertion failure. The mutated file is the repo's second commit, the traceback (as
pytest prints it natively, inside the container) the log. ``healcrew run`` gets the repo, the log
and the package's test command; an accepted patch is then applied to a copy and the package's
own tests run again in the sandbox.

Per case: reproduced, fixed (healcrew said validated, the tests that crashed now pass and no test
that passed before the mutation fails), declined (with the reason), wrong (validated, but the
package's tests still fail), false claim (a reproduction claim whose exception is not the
traceback's), candidates tried, sandbox seconds. The table sums them per mutation kind.

    python bench/mutation.py [--quick] [--budget SECONDS] [--per-kind N] [--seed S] [--json FILE] [--keep DIR]

It is a measurement: it exits 0 whatever the outcome and ends with "fixed X of Y". No library code
is kept in this repository; only the names and versions below.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from judging import patch_files, reproduction_claims  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = "/work"  # where the sandbox puts the repo: the traceback's paths start here


@dataclass(frozen=True)
class Package:
    """A PyPI package pinned to a version: which folders of its sdist are its code and its tests."""

    name: str
    version: str
    code: tuple[str, ...]  # files or folders of the sdist that are the package's source
    tests: tuple[str, ...]  # files or folders of the sdist that are its tests
    extra: tuple[str, ...] = ()  # other files the tests need (data, conftest)


PACKAGES: list[Package] = [
    Package("inflection", "0.5.1", code=("inflection",), tests=("test_inflection.py",)),
    Package("parse", "1.20.2", code=("parse.py",), tests=("tests",)),
    Package("idna", "3.7", code=("idna",), tests=("tests",)),
    Package("more-itertools", "10.2.0", code=("more_itertools",), tests=("tests",)),
    Package("toolz", "0.12.1", code=("toolz",), tests=("toolz/tests",), extra=("tlz",)),
    Package("six", "1.16.0", code=("six.py",), tests=("test_six.py",)),
]


# ============================================================================ mutations
#
# Every kind is a function from a function's syntax tree to its sites, and from a site to the
# edit: a span of the file's text (1-based lines, 0-based columns) and its replacement. Editing
# the text of one span, rather than unparsing the whole file, keeps the regression commit as small
# as a real one, with the rest of the file (comments, layout) as it was.


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, col) to (end_line, end_col) with ``text``."""

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


Finder = Callable[[ast.AST], list[Edit]]


def _own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``func`` that are not inside a nested function, class or lambda."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop(0)
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _span(node: ast.AST, text: str) -> Edit:
    return Edit(node.lineno, node.col_offset, node.end_lineno or node.lineno,  # type: ignore[attr-defined]
                node.end_col_offset or 0, text)  # type: ignore[attr-defined]


def _exits(body: list[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break))


def _stmt_lines(node: ast.stmt, text: str) -> Edit:
    """Replace whole lines of a statement (from its first column to the end of its last line)."""
    return Edit(node.lineno, node.col_offset, node.end_lineno or node.lineno, 10**6, text)


def removed_guard(func: ast.AST) -> list[Edit]:
    """An ``if`` whose body leaves early (return, raise, continue) deleted; a ``try`` reduced to its body."""
    edits: list[Edit] = []
    for node in _own_nodes(func):
        if isinstance(node, ast.If) and not node.orelse and _exits(node.body):
            edits.append(_stmt_lines(node, "pass"))
        elif isinstance(node, ast.Try) and node.handlers and not node.finalbody and not node.orelse:
            pad = " " * node.col_offset
            body = "\n".join(pad + line if i else line
                             for i, line in enumerate("\n".join(ast.unparse(s) for s in node.body).splitlines()))
            edits.append(_stmt_lines(node, body))
    return edits


def removed_default(func: ast.AST) -> list[Edit]:
    """A lookup's fallback dropped: ``d.get(k, v)`` / ``d.get(k)`` -> ``d[k]``, ``getattr(o, n, v)`` ->
    ``getattr(o, n)``, ``next(it, v)`` -> ``next(it)``."""
    edits: list[Edit] = []
    for node in _own_nodes(func):
        if not isinstance(node, ast.Call) or node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "get" and len(node.args) in (1, 2):
            new: ast.expr = ast.Subscript(value=f.value, slice=node.args[0], ctx=ast.Load())
            edits.append(_span(node, ast.unparse(new)))
        elif isinstance(f, ast.Name) and ((f.id == "getattr" and len(node.args) == 3)
                                          or (f.id == "next" and len(node.args) == 2)):
            edits.append(_span(node, ast.unparse(ast.Call(func=f, args=node.args[:-1], keywords=[]))))
    return edits


def _misspell(name: str) -> str:
    """A near name, as a typo or a stale rename leaves it: the last letter dropped, or an ``s`` added."""
    return name[:-1] if len(name) > 3 and not name.endswith("_") else name + "s"


def renamed_attribute(func: ast.AST) -> list[Edit]:
    """An attribute read ``obj.name`` (``obj`` a plain name) spelled ``obj.nam``."""
    edits: list[Edit] = []
    for node in _own_nodes(func):
        if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name)
                and not node.attr.startswith("__")):
            new = ast.Attribute(value=node.value, attr=_misspell(node.attr), ctx=ast.Load())
            edits.append(_span(node, ast.unparse(new)))
    return edits


_CONVERSIONS = {"int", "float", "str", "list", "tuple", "set", "dict", "bytes", "frozenset", "sorted"}


def dropped_conversion(func: ast.AST) -> list[Edit]:
    """A one-argument conversion ``int(x)``, ``str(x)``, ``list(x)``, ... replaced by its argument."""
    edits: list[Edit] = []
    for node in _own_nodes(func):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONVERSIONS
                and len(node.args) == 1 and not node.keywords and not isinstance(node.args[0], ast.Starred)):
            edits.append(_span(node, "(" + ast.unparse(node.args[0]) + ")"))
    return edits


def wrong_argument_order(func: ast.AST) -> list[Edit]:
    """The first two positional arguments of a call swapped (when they differ)."""
    edits: list[Edit] = []
    for node in _own_nodes(func):
        if (isinstance(node, ast.Call) and len(node.args) >= 2
                and not any(isinstance(a, ast.Starred) for a in node.args)
                and ast.dump(node.args[0]) != ast.dump(node.args[1])):
            new = ast.Call(func=node.func, args=[node.args[1], node.args[0], *node.args[2:]], keywords=node.keywords)
            edits.append(_span(node, ast.unparse(new)))
    return edits


_LOOSER = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}


def off_by_one(func: ast.AST) -> list[Edit]:
    """A bound moved by one: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``range(..., n)`` -> ``range(..., n + 1)``,
    ``e - 1`` -> ``e``."""
    edits: list[Edit] = []
    for node in _own_nodes(func):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _LOOSER:
            op = _LOOSER[type(node.ops[0])]()
            new: ast.expr = ast.Compare(left=node.left, ops=[op], comparators=node.comparators)
            edits.append(_span(node, "(" + ast.unparse(new) + ")"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range"
              and 1 <= len(node.args) <= 2 and not node.keywords):
            end = len(node.args) - 1
            args = [*node.args]
            args[end] = ast.BinOp(left=args[end], op=ast.Add(), right=ast.Constant(1))
            edits.append(_span(node, ast.unparse(ast.Call(func=node.func, args=args, keywords=[]))))
        elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(node.right, ast.Constant)
              and node.right.value == 1):
            edits.append(_span(node, "(" + ast.unparse(node.left) + ")"))
    return edits


def early_return_initialisation(func: ast.AST) -> list[Edit]:
    """In ``__init__``, a ``return`` put before a top-level ``self.x = ...``: that and later attributes
    are never set."""
    if not isinstance(func, ast.FunctionDef) or func.name != "__init__" or not func.args.args:
        return []
    me = func.args.args[0].arg
    edits: list[Edit] = []
    for stmt in func.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(
            stmt, (ast.AnnAssign, ast.AugAssign)) else []
        if any(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == me for t in targets):
            edits.append(Edit(stmt.lineno, stmt.col_offset, stmt.lineno, stmt.col_offset,
                              "return\n" + " " * stmt.col_offset))
    return edits


_PARSERS = {"int", "float", "complex", "Decimal", "Fraction", "fromisoformat", "strptime", "loads", "unpack"}
_TOLERANCE = {"strip", "lstrip", "rstrip", "lower", "upper", "casefold"}


def stricter_parse(func: ast.AST) -> list[Edit]:
    """Parsing made stricter: a normalisation dropped before a parse (``int(s.strip())`` -> ``int(s)``),
    ``float(x)`` -> ``int(x)``, a ``maxsplit`` dropped (``s.split(sep, 1)`` -> ``s.split(sep)``)."""
    edits: list[Edit] = []
    for node in _own_nodes(func):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        fname = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if fname in _PARSERS and node.args:
            arg = node.args[0]
            if (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr in _TOLERANCE
                    and not arg.args):
                edits.append(_span(arg, "(" + ast.unparse(arg.func.value) + ")"))
            elif fname == "float" and isinstance(f, ast.Name) and len(node.args) == 1 and not node.keywords:
                edits.append(_span(f, "int"))
        elif (isinstance(f, ast.Attribute) and f.attr in ("split", "rsplit") and len(node.args) == 2
              and not node.keywords):
            edits.append(_span(node, ast.unparse(ast.Call(func=f, args=node.args[:1], keywords=[]))))
    return edits


KINDS: dict[str, Finder] = {
    "removed guard": removed_guard,
    "removed default": removed_default,
    "renamed attribute": renamed_attribute,
    "dropped conversion": dropped_conversion,
    "wrong argument order": wrong_argument_order,
    "off-by-one bound": off_by_one,
    "early-return initialisation": early_return_initialisation,
    "stricter parse": stricter_parse,
}


def apply_edit(source: str, edit: Edit) -> str:
    """The source with one span replaced (columns are UTF-8 byte offsets, as ``ast`` gives them)."""
    lines = source.splitlines(keepends=True)
    first = lines[edit.line - 1].encode()
    last = lines[edit.end_line - 1].encode()
    end_col = min(edit.end_col, len(last.rstrip(b"\r\n")))
    tail = last[end_col:]
    new = first[:edit.col] + edit.text.encode() + tail
    return "".join(lines[:edit.line - 1]) + new.decode() + "".join(lines[edit.end_line:])


@dataclass(frozen=True)
class Site:
    """One place to mutate: a file, a function (by qualified name and its class), a kind, an edit."""

    path: str
    function: str  # qualified name, "Class.method" or "func"
    cls: str | None
    kind: str
    edit: Edit

    def key(self) -> str:
        e = self.edit
        return f"{self.path}:{self.function}:{self.kind}:{e.line}:{e.col}:{e.end_line}:{e.end_col}"


def _functions(tree: ast.Module) -> Iterator[tuple[str, str | None, ast.AST]]:
    """(qualified name, enclosing class, node) of every function of a module, methods included."""
    def walk(node: ast.AST, prefix: str, cls: str | None) -> Iterator[tuple[str, str | None, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                yield name, cls, child
                yield from walk(child, name + ".", cls)
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.", f"{prefix}{child.name}")
            elif not isinstance(child, ast.Lambda):
                yield from walk(child, prefix, cls)
    yield from walk(tree, "", None)


def find_sites(sources: dict[str, str], kind: str) -> list[Site]:
    """Every site of ``kind`` in the modules (``{path: text}``) whose mutated text still parses, in
    file and line order."""
    found: list[Site] = []
    for path in sorted(sources):
        try:
            tree = ast.parse(sources[path])
        except SyntaxError:
            continue
        for name, cls, func in _functions(tree):
            for edit in KINDS[kind](func):
                try:
                    ast.parse(apply_edit(sources[path], edit))
                except (SyntaxError, ValueError, UnicodeDecodeError):
                    continue
                found.append(Site(path, name, cls, kind, edit))
    found.sort(key=lambda s: (s.path, s.edit.line, s.edit.col, s.key()))
    return found


def ordered_sites(sources: dict[str, str], kind: str, seed: int) -> list[Site]:
    """The sites of ``kind`` in a seeded order: the same seed always gives the same order."""
    sites = find_sites(sources, kind)
    random.Random(f"{seed}:{kind}").shuffle(sites)
    return sites


# ============================================================================ packages


def _safe_members_tar(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for m in tar.getmembers():
        if m.isfile() or m.isdir():
            yield m


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack an sdist (untrusted): regular files and folders only, no absolute paths, nothing out of
    ``dest``; returns its single top folder."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()

    def target(name: str) -> Path:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise ValueError(f"unsafe path in {archive.name}: {name!r}")
        out = (root / pure).resolve()
        if root not in out.parents and out != root:
            raise ValueError(f"unsafe path in {archive.name}: {name!r}")
        return out

    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                out = target(info.filename)
                if (info.external_attr >> 16) & 0o170000 == stat.S_IFLNK:
                    continue
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                else:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(z.read(info))
    else:
        with tarfile.open(archive) as tar:
            for m in _safe_members_tar(tar):
                out = target(m.name)
                if m.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                if src is not None:
                    with src, open(out, "wb") as fh:
                        shutil.copyfileobj(src, fh)
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise ValueError(f"{archive.name} has {len(tops)} top folders")
    return tops[0]


def download_sdists(packages: list[Package], cache: Path) -> dict[str, Path]:
    """The sdists of ``packages`` in ``cache``, downloaded in a locked-down container when missing.

    ``pip download`` of an sdist prepares its metadata, which runs the package's build code, so it
    runs in a container: uid 65534, all capabilities dropped, read-only root, the host's CA bundle
    and pip configuration read-only (its network is the host's only because it must reach the index),
    and only the regular archive files it leaves are copied out.
    """
    import docker

    from sandbox.images import ensure_base_image
    from sandbox.wheels import BUILD_USER, _hand_to_builder, host_pip_setup

    cache.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    missing: list[Package] = []
    for p in packages:
        hit = next((f for f in sorted(cache.glob(f"{p.name}-{p.version}.*"))
                    if f.name.endswith((".tar.gz", ".zip")) and f.is_file() and not f.is_symlink()), None)
        if hit:
            found[p.name] = hit
        else:
            missing.append(p)
    if not missing:
        return found
    client = docker.from_env()
    image = ensure_base_image(client).tag
    pip = host_pip_setup()
    work = Path(tempfile.mkdtemp(prefix="mutation-dl-"))
    try:
        inbox, outbox = work / "in", work / "out"
        inbox.mkdir()
        outbox.mkdir()
        (inbox / "pip.conf").write_text(pip.config_text, encoding="utf-8")
        for path in (work, inbox, inbox / "pip.conf"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        _hand_to_builder(outbox)
        volumes = {str(outbox): {"bind": "/out", "mode": "rw"}, str(inbox): {"bind": "/in", "mode": "ro"}}
        for host, inside in pip.mounts.items():
            volumes[host] = {"bind": inside, "mode": "ro"}
        specs = [f"{p.name}=={p.version}" for p in missing]
        command = ["timeout", "--signal=KILL", "600", "python3", "-m", "pip", "download", "--no-cache-dir",
                   "--disable-pip-version-check", "--no-input", "--no-binary", ":all:", "--no-deps", "-d", "/out",
                   "--", *specs]
        env = {**pip.env, "PIP_CONFIG_FILE": "/in/pip.conf", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
        container = client.containers.run(
            image, command, name=f"healcrew-sdist-{uuid.uuid4().hex[:12]}", detach=True, user=BUILD_USER,
            working_dir="/tmp", environment=env, volumes=volumes, network_mode="host", read_only=True,
            tmpfs={"/tmp": "rw,exec,nosuid,nodev,size=1g,mode=1777"}, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], pids_limit=256, mem_limit="1024m", memswap_limit="1024m", init=True)
        try:
            status = container.wait(timeout=620)
            if status.get("StatusCode") != 0:
                tail = container.logs(tail=10).decode("utf-8", "replace").strip().splitlines()
                raise RuntimeError(f"sdist download failed: {tail[-1] if tail else 'no output'}")
        finally:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
        for name in sorted(os.listdir(outbox)):
            src = outbox / name
            st = os.lstat(src)
            if stat.S_ISREG(st.st_mode) and name.endswith((".tar.gz", ".zip")) and st.st_size < 64 * 1024**2:
                shutil.copyfile(src, cache / name, follow_symlinks=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for p in missing:
        hit = next((f for f in sorted(cache.glob(f"{p.name}-{p.version}.*")) if f.is_file()), None)
        if hit:
            found[p.name] = hit
    return found


def _git(repo: Path, *args: str, date: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "GIT_AUTHOR_NAME": "dev",
           "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "dev",
           "GIT_COMMITTER_EMAIL": "dev@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


_NOT_COPIED = ("__pycache__", "*.pyc", "*.so", ".git", ".gitattributes", ".gitmodules", ".hg")


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy a file or folder of the sdist: no links followed or kept, no git metadata (the harness's
    own git commands must not meet a repository the sdist brought along)."""
    if src.is_symlink():
        return
    if src.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return
    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = set(shutil.ignore_patterns(*_NOT_COPIED)(folder, names))
        return skip | {n for n in names if os.path.islink(os.path.join(folder, n))}
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True, ignore=ignore)


def base_repo(package: Package, unpacked: Path, repo: Path) -> None:
    """The package's source and tests as a one-commit git repo (no build files: nothing to install)."""
    repo.mkdir(parents=True)
    for rel in (*package.code, *package.tests, *package.extra):
        _copy_tree(unpacked / rel, repo / rel)
    _git(repo, "init", "-q", "-b", "main", date="2026-10-01T09:00:00+00:00")
    _git(repo, "add", "-A", date="2026-10-01T09:00:00+00:00")
    _git(repo, "commit", "-q", "-m", f"{package.name} {package.version}", date="2026-10-01T09:00:00+00:00")


def code_sources(package: Package, repo: Path) -> dict[str, str]:
    """``{repo-relative path: text}`` of the package's own modules, its tests excluded."""
    out: dict[str, str] = {}
    for rel in package.code:
        base = repo / rel
        files = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for f in files:
            r = f.relative_to(repo).as_posix()
            if any(r == t or r.startswith(t.rstrip("/") + "/") for t in package.tests):
                continue
            out[r] = f.read_text(encoding="utf-8")
    return out


def test_argv(package: Package, junit: str | None = None) -> list[str]:
    argv = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=native", "-x", *package.tests]
    return argv + [f"--junitxml={junit}"] if junit else argv


def test_command(package: Package) -> str:
    return " ".join(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *package.tests])


# ============================================================================ crashes


_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')


@dataclass
class Crash:
    """The first native traceback in pytest's output: its text, exception and frames."""

    text: str
    exc_type: str
    exc_message: str
    frames: list[tuple[str, int, str]] = field(default_factory=list)  # (path, line, function), outermost first


def first_traceback(output: str) -> Crash | None:
    """Read the first ``Traceback (most recent call last):`` block of ``output`` (a pytest run with
    ``--tb=native``); None when there is none. Frames before the first one in the repo (pytest's
    own, when it prints them) are left out, as a service's traceback starts at its entry point."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.strip() != "Traceback (most recent call last):":
            continue
        groups: list[tuple[tuple[str, int, str], list[str]]] = []
        for follow in lines[i + 1:]:
            m = _FRAME.match(follow)
            if m:
                groups.append(((m.group(1), int(m.group(2)), m.group(3)), [follow.rstrip()]))
            elif follow.startswith((" ", "\t")) and groups:
                groups[-1][1].append(follow.rstrip())
            else:
                exc = follow.strip()
                m2 = re.match(r"^([\w.]+)(?::\s?(.*))?$", exc)
                if not m2 or not groups:
                    return None
                first = next((k for k, (f, _) in enumerate(groups) if f[0].startswith(WORKDIR + "/")), 0)
                kept = groups[first:]
                block = [line.strip(), *(text for _, texts in kept for text in texts), exc]
                crash = Crash("\n".join(block), m2.group(1).rsplit(".", 1)[-1], m2.group(2) or "",
                              [f for f, _ in kept])
                rest = "\n".join(lines[i + 2 + sum(len(t) for _, t in groups):])
                if rest.lstrip().startswith(_CHAINED):  # the exception the test saw is the chain's last
                    later = first_traceback(rest)
                    if later is not None:
                        return Crash(crash.text + "\n\n" + rest.lstrip().split("\n", 1)[0] + "\n\n" + later.text,
                                     later.exc_type, later.exc_message, later.frames)
                return crash
    return None


_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


def deepest_package_frame(crash: Crash, code_paths: set[str]) -> tuple[str, int, str] | None:
    for path, line, func in reversed(crash.frames):
        rel = path.removeprefix(WORKDIR + "/")
        if rel in code_paths:
            return rel, line, func
    return None


def qualifies(site: Site, crash: Crash | None, code_paths: set[str], sources: dict[str, str]) -> bool:
    """The crash is the mutation's: an exception (not an assertion) whose deepest package frame is the
    mutated function -- or, for an early return in ``__init__``, an AttributeError in its class."""
    if crash is None or crash.exc_type in ("AssertionError", "Failed", "SyntaxError", "ImportError",
                                           "ModuleNotFoundError"):
        return False
    frame = deepest_package_frame(crash, code_paths)
    if frame is None or frame[0] != site.path:
        return False
    owner = function_at(sources[site.path], frame[1])
    if site.kind == "early-return initialisation":
        return crash.exc_type == "AttributeError" and owner is not None and owner[1] == site.cls
    return owner is not None and owner[0] == site.function


def function_at(source: str, line: int) -> tuple[str, str | None] | None:
    """(qualified name, class) of the innermost function holding ``line``."""
    best: tuple[int, str, str | None] | None = None
    for name, cls, node in _functions(ast.parse(source)):
        start, end = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        if start <= line <= end and (best is None or start >= best[0]):
            best = (start, name, cls)
    return (best[1], best[2]) if best else None


def render_log(package: Package, crash: Crash) -> str:
    """Production-like log lines around the traceback."""
    out = [f"2026-11-04 10:00:0{i} INFO {package.name} worker: {msg}" for i, msg in
           enumerate(["started", "processing batch 17", "processing batch 18"])]
    out.append("2026-11-04 10:00:03 ERROR unhandled exception in job")
    out.extend(crash.text.splitlines())
    out.append("2026-11-04 10:00:04 INFO worker restarting")
    return "\n".join(out) + "\n"


# ============================================================================ sandbox runs


def sandbox_config(cache: Path, timeout: float) -> Any:
    from sandbox import SandboxConfig
    return SandboxConfig(backend="docker", timeout=timeout, cache_dir=cache)


def run_tests(repo: Path, package: Package, cache: Path, *, patch: str | None = None, stop_first: bool = True,
              timeout: float = 120.0) -> Any:
    """The package's tests in the sandbox (the repo's HEAD, plus ``patch``)."""
    import sandbox
    argv = test_argv(package, "/tmp/junit.xml")
    if not stop_first:
        argv.remove("-x")
    return sandbox.run(repo, argv, patch=patch, config=sandbox_config(cache, timeout))


# ============================================================================ cases


def _failing(result: Any) -> set[str]:
    return {t.test_id for t in result.tests if t.outcome in ("failed", "error")}


def search_sites(package: Package, repo: Path, work: Path, cache: Path, seed: int, per_kind: int,
                 kinds: list[str], deadline: float, max_tries: int) -> list[dict[str, Any]]:
    """Mutate a copy at each seeded site until ``per_kind`` qualify for each kind (or the time is up)."""
    sources = code_sources(package, repo)
    code_paths = set(sources)
    picked: list[dict[str, Any]] = []
    for kind in kinds:
        tries = 0
        for site in ordered_sites(sources, kind, seed):
            if sum(c["kind"] == kind for c in picked) >= per_kind or tries >= max_tries or time.time() > deadline:
                break
            tries += 1
            mutated = apply_edit(sources[site.path], site.edit)
            trial = work / f"trial-{uuid.uuid4().hex[:8]}"
            shutil.copytree(repo, trial, symlinks=True)
            try:
                (trial / site.path).write_text(mutated, encoding="utf-8")
                _git(trial, "commit", "-q", "-am", "tidy", date="2026-11-03T15:30:00+00:00")
                result = run_tests(trial, package, cache, timeout=60.0)
            finally:
                shutil.rmtree(trial, ignore_errors=True)
            if result.timed_out:
                continue
            crash = first_traceback(result.stdout)
            if qualifies(site, crash, code_paths, sources):
                assert crash is not None
                picked.append({"kind": kind, "site": site, "crash": crash, "mutated": mutated,
                               "crashed_tests": sorted(_failing(result))})
    return picked


def build_case(package: Package, repo: Path, case: dict[str, Any], dest: Path) -> Path:
    """The mutated repo: the original commit, then the mutation as the regression commit."""
    shutil.copytree(repo, dest, symlinks=True)
    site: Site = case["site"]
    (dest / site.path).write_text(case["mutated"], encoding="utf-8")
    subject = f"Simplify {site.function.rsplit('.', 1)[-1]}"
    _git(dest, "commit", "-q", "-am", subject, date="2026-11-03T15:30:00+00:00")
    return dest


def run_case(package: Package, repo: Path, case: dict[str, Any], work: Path, cache: Path,
             baseline_failing: set[str]) -> dict[str, Any]:
    site: Site = case["site"]
    crash: Crash = case["crash"]
    row: dict[str, Any] = {"package": f"{package.name} {package.version}", "kind": case["kind"],
                           "site": f"{site.path}:{site.edit.line} {site.function}",
                           "production": f"{crash.exc_type}: {crash.exc_message}"[:160]}
    start = time.perf_counter()
    mutated = build_case(package, repo, case, work / "repo")
    log = work / "crash.log"
    log.write_text(render_log(package, crash))
    cmd = [sys.executable, "-m", "crew.cli", "run", "--repo", str(mutated), "--log", str(log),
           "--test-cmd", test_command(package), "--out", str(work / "out"), "--sandbox", "docker",
           "--deliver", "none", "--json"]
    env = {**os.environ, "HEALCREW_CACHE": str(cache)}
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900, cwd=ROOT)
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired:
        stdout, stderr = "", "timed out after 900 s"
    row["seconds"] = time.perf_counter() - start
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        row["error"] = (stderr.strip().splitlines() or ["no output"])[-1][:200]
        return row
    (work / "report.json").write_text(json.dumps(report, indent=1))
    judge(package, mutated, case, report, row, cache, baseline_failing)
    return row


def sandbox_seconds(report: dict[str, Any]) -> float:
    """Sandbox time the run reports: its "sandbox" stage timing (the repair loop's sandbox share)."""
    return float(sum(t.get("seconds") or 0.0 for t in report.get("timings") or []
                     if isinstance(t, dict) and t.get("stage") == "sandbox"))


def candidates_tried(report: dict[str, Any]) -> int:
    """Candidates the run generated and judged: its candidate records, else its counter, else its attempts."""
    records = report.get("candidates")
    if isinstance(records, list) and records:
        return len(records)
    if isinstance(report.get("candidates_considered"), int) and report["candidates_considered"]:
        return int(report["candidates_considered"])
    return len(report.get("attempts") or [])


def decline_reason(report: dict[str, Any]) -> str:
    """Why a run ended without a fix: its decline, its error, else the last attempt's rejection or
    the first candidate's verdict (a run that found no fix says why in those)."""
    if report.get("declined") or report.get("error"):
        return str(report.get("declined") or report.get("error"))
    attempts = report.get("attempts") or []
    if attempts and attempts[-1].get("rejected_because"):
        return f"no fix ({report.get('outcome')}): {attempts[-1]['rejected_because']}"
    records = report.get("candidates") or []
    if records and isinstance(records[0], dict) and records[0].get("verdict"):
        return f"no fix ({report.get('outcome')}): {records[0]['verdict']}"
    return f"no fix ({report.get('outcome') or 'no outcome'})"


def judge(package: Package, mutated: Path, case: dict[str, Any], report: dict[str, Any], row: dict[str, Any],
          cache: Path, baseline_failing: set[str]) -> None:
    """Fill a row from the run report, then check an accepted patch with the package's own tests."""
    crash: Crash = case["crash"]
    sources, false_claims, refused = reproduction_claims(report, crash.exc_type, crash.exc_message)
    row["reproduced"] = ", ".join(sources)
    row["false_claim"] = " / ".join(false_claims)
    row["refused"] = refused
    row["validated"] = report.get("outcome") == "fixed"
    row["declined"] = "" if row["validated"] else decline_reason(report)
    row["candidates"] = candidates_tried(report)
    row["sandbox_seconds"] = sandbox_seconds(report)
    accepted = report.get("accepted") or {}
    row["strategy"] = (accepted.get("proposal") or {}).get("strategy") or ""
    row["fixed"] = False
    row["wrong"] = ""
    if not row["validated"]:
        return
    diff = (accepted.get("proposal") or {}).get("diff") or ""
    patch = mutated.parent / "out" / "fix.patch"
    text = patch.read_text() if patch.is_file() else diff
    if not patch_files(text):
        row["wrong"] = "validated without a patch"
        return
    try:
        result = run_tests(mutated, package, cache, patch=text, stop_first=False, timeout=300.0)
    except Exception as exc:  # noqa: BLE001 -- any sandbox failure leaves the case unjudged, and says so
        row["wrong"] = f"(could not re-run the package's tests: {str(exc)[:100]})"
        return
    failing = _failing(result)
    still = sorted(set(case["crashed_tests"]) & failing)
    new = sorted(failing - baseline_failing)
    if result.timed_out:
        row["wrong"] = "the package's tests hang with the patch"
    elif still:
        row["wrong"] = f"still failing: {', '.join(still)[:160]}"
    elif new:
        row["wrong"] = f"newly failing: {', '.join(new)[:160]}"
    elif result.exit_code not in (0, None) and not result.tests:
        row["wrong"] = f"the package's tests do not run with the patch (exit {result.exit_code})"
    else:
        row["fixed"] = True


# ============================================================================ table


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per mutation kind: cases, reproduced, fixed, declined, wrong, false claims, candidates, sandbox s."""
    out = []
    for kind in [*KINDS, "all"]:
        rs = [r for r in rows if kind == "all" or r["kind"] == kind]
        out.append({"kind": kind, "cases": len(rs), "reproduced": sum(bool(r.get("reproduced")) for r in rs),
                    "fixed": sum(bool(r.get("fixed")) for r in rs),
                    "declined": sum(bool(not r.get("validated") and r.get("declined")) for r in rs),
                    "wrong": sum(bool(r.get("wrong")) for r in rs),
                    "false_claims": sum(bool(r.get("false_claim")) for r in rs),
                    "errors": sum(bool(r.get("error")) for r in rs),
                    "candidates": sum(int(r.get("candidates") or 0) for r in rs),
                    "sandbox_seconds": round(sum(float(r.get("sandbox_seconds") or 0) for r in rs), 1)})
    return out


def print_tables(rows: list[dict[str, Any]]) -> None:
    head = ("package", "kind", "site", "production", "reproduced", "fixed", "declined", "wrong", "false claim",
            "candidates", "strategy", "sandbox s", "s")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        cells = [r["package"], r["kind"], r["site"], r["production"], r.get("reproduced") or "no",
                 "yes" if r.get("fixed") else "no", (r.get("declined") or r.get("error") or "")[:120],
                 r.get("wrong") or "", r.get("false_claim") or "", str(r.get("candidates", 0)),
                 r.get("strategy") or "", f"{r.get('sandbox_seconds', 0):.0f}", f"{r.get('seconds', 0):.0f}"]
        print("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    print()
    head2 = ("kind", "cases", "reproduced", "fixed", "declined", "wrong", "false claims", "errors", "candidates",
             "sandbox s")
    print("| " + " | ".join(head2) + " |")
    print("|" + "|".join("---" for _ in head2) + "|")
    for s in summarise(rows):
        print("| " + " | ".join(str(s[k]) for k in ("kind", "cases", "reproduced", "fixed", "declined", "wrong",
                                                     "false_claims", "errors", "candidates", "sandbox_seconds"))
              + " |")
    print(f"\nfixed {sum(bool(r.get('fixed')) for r in rows)} of {len(rows)}")


# ============================================================================ main


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few cases: 1 site per kind, 3 packages")
    parser.add_argument("--budget", type=float, default=1200.0, help="wall-clock seconds for the whole run")
    parser.add_argument("--per-kind", type=int, default=2, help="sites per kind, across the packages")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--tries", type=int, default=25, help="sites tried per kind and package at most")
    parser.add_argument("--packages", nargs="*", help="only these package names")
    parser.add_argument("--json", type=Path, help="also write rows and the per-kind summary as JSON")
    parser.add_argument("--keep", type=Path, help="keep repos, logs and reports in this folder")
    parser.add_argument("--cache", type=Path, help="downloads and sandbox images (default: a scratch cache)")
    args = parser.parse_args()
    start = time.time()
    packages = [p for p in PACKAGES if not args.packages or p.name in args.packages]
    per_kind = 1 if args.quick else args.per_kind
    if args.quick and not args.packages:
        packages = packages[:3]
    cache = args.cache or Path(os.environ.get("HEALCREW_CACHE") or Path(tempfile.gettempdir()) / "healcrew-bench")
    sdists = download_sdists(packages, cache / "mutation-sdists")
    tmp = Path(tempfile.mkdtemp(prefix="mutation-"))
    base = args.keep or tmp
    if args.keep and args.keep.exists():
        shutil.rmtree(args.keep)
    base.mkdir(parents=True, exist_ok=True)
    # the search takes at most ~40% of the budget; the rest is for healcrew's runs
    search_deadline = start + 0.4 * args.budget
    rows: list[dict[str, Any]] = []
    try:
        cases: list[tuple[Package, Path, set[str], dict[str, Any]]] = []
        need = dict.fromkeys(KINDS, per_kind)
        for package in packages:
            if package.name not in sdists or not any(need.values()):
                continue
            pdir = base / package.name
            unpacked = unpack(sdists[package.name], pdir / "sdist")
            repo = pdir / "original"
            base_repo(package, unpacked, repo)
            baseline = run_tests(repo, package, cache, stop_first=False, timeout=300.0)
            if not baseline.tests:
                print(f"{package.name}: its tests do not run in the sandbox (exit {baseline.exit_code}); skipped",
                      flush=True)
                continue
            share = max(1, -(-per_kind // 2)) if not args.quick else 1  # spread each kind over packages
            kinds = [k for k, n in need.items() if n > 0]
            found = search_sites(package, repo, pdir, cache, args.seed, share, kinds, search_deadline, args.tries)
            for c in found:
                if need[c["kind"]] > 0:
                    need[c["kind"]] -= 1
                    cases.append((package, repo, _failing(baseline), c))
            print(f"{package.name}: {len(found)} site(s) qualified; still wanted "
                  f"{sum(need.values())} ({time.time() - start:.0f} s)", flush=True)
        for i, (package, repo, baseline_failing, c) in enumerate(cases):
            if time.time() - start > args.budget:
                print(f"budget reached: {len(cases) - i} case(s) not run", flush=True)
                break
            work = base / package.name / f"case-{i:02d}"
            work.mkdir(parents=True)
            rows.append(run_case(package, repo, c, work, cache, baseline_failing))
            print(f"  {rows[-1]['kind']}: {rows[-1]['site']} fixed={rows[-1].get('fixed')} "
                  f"({rows[-1].get('seconds', 0):.0f} s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summarise(rows)}, indent=1, default=str))
    print_tables(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
