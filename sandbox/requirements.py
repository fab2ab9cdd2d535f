"""Reading and vetting a repository's dependency specs on the host, where nothing of it may run.

The repo is untrusted: its requirement files may point pip at another index, at a URL, a VCS
checkout or a local path (each of which would build and run code), and any of its spec files may
be a symbolic link to a host file. So files are opened one path component at a time with
``O_NOFOLLOW`` below the repo root (a link anywhere is refused), and each requirement line must
be a plain PEP 508 requirement (name, extras, versions, markers) that only the operator's own
index can satisfy. Everything else is refused with a reason that travels to the run report.
"""

from __future__ import annotations

import ast
import configparser
import errno
import os
import posixpath
import re
import stat
from fnmatch import fnmatch
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BaseModel, ConfigDict

from sandbox.errors import ImageError

MAX_SPEC_BYTES = 1_000_000
"""A dependency spec larger than this is refused rather than read into memory."""

_VCS = ("git+", "hg+", "svn+", "bzr+")
_ARCHIVES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")
_SOURCE_OPTIONS = ("-i", "--index-url", "--extra-index-url", "--no-index", "-f", "--find-links", "--trusted-host",
                   "--pre", "--prefer-binary", "--only-binary", "--no-binary", "--use-feature")


class Refusal(BaseModel):
    """A dependency line or spec file healcrew would not fetch or read, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    """Repo-relative file, with the line number when there is one (``requirements.txt:3``)."""
    line: str
    """The refused text as the repo wrote it (shortened), or the file name for a refused file."""
    reason: str
    """Why it was refused, in one line."""

    def note(self) -> str:
        """One line for a report."""
        return f"dependency refused: {self.source}: {self.line} ({self.reason})"


class SpecFileRefused(Exception):
    """A spec file that must not be read (a link, outside the tree, not a regular file, too big)."""


def read_repo_file(root: Path, relative: str, max_bytes: int = MAX_SPEC_BYTES) -> bytes | None:
    """Bytes of ``root/relative`` with no link followed at any level; None when it does not exist.

    Raises ``SpecFileRefused`` for anything that is not a regular file inside the tree.
    """
    parts = _tree_parts(relative)
    dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            below = _step(dirfd, part)
            os.close(dirfd)
            dirfd = below
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise SpecFileRefused(_why(exc)) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SpecFileRefused("not a regular file")
            if info.st_size > max_bytes:
                raise SpecFileRefused(f"larger than {max_bytes} bytes")
            data = os.read(fd, max_bytes + 1)
        finally:
            os.close(fd)
    except _Missing:
        return None
    finally:
        os.close(dirfd)
    if len(data) > max_bytes:
        raise SpecFileRefused(f"larger than {max_bytes} bytes")
    return data


def list_repo_dir(root: Path, relative: str = "") -> list[str] | None:
    """Names in ``root/relative`` (no link followed); None when it does not exist."""
    dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in _tree_parts(relative) if relative else ():
            below = _step(dirfd, part)
            os.close(dirfd)
            dirfd = below
        return sorted(os.listdir(dirfd))
    except _Missing:
        return None
    finally:
        os.close(dirfd)


class _Missing(Exception):
    pass


def _step(dirfd: int, part: str) -> int:
    """Open the directory ``part`` below ``dirfd`` without following a link."""
    try:
        return os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise _Missing from None
        raise SpecFileRefused(_why(exc)) from None


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return "a symbolic link (links are not followed out of the repository)"
    return f"cannot be read ({exc.strerror})"


def _tree_parts(relative: str) -> list[str]:
    norm = posixpath.normpath(relative.replace("\\", "/"))
    if norm.startswith("/") or norm == ".." or norm.startswith("../") or norm in ("", "."):
        raise SpecFileRefused("outside the repository")
    return norm.split("/")


def read_spec_text(root: Path, relative: str, refused: list[Refusal]) -> str | None:
    """The text of a spec file, or None (missing, or refused with the reason recorded)."""
    try:
        data = read_repo_file(root, relative)
    except SpecFileRefused as exc:
        refused.append(Refusal(source=relative, line=relative, reason=str(exc)))
        return None
    return None if data is None else data.decode("utf-8", errors="replace")


TEST_REQUIREMENT_PATTERNS = ("requirements*.txt", "test-requirements*.txt", "test_requirements*.txt",
                             "dev-requirements*.txt", "dev_requirements*.txt", "tests-requirements*.txt")
"""pip requirement files at the top of a repo; ``requirements/*.txt`` and ``tests/requirements*.txt`` too."""


def requirement_files(root: Path, refused: list[Refusal]) -> list[str]:
    """Repo-relative pip requirement files: ``requirements*.txt`` and the usual test/dev ones, at the
    top, every ``requirements/*.txt`` and ``tests/requirements*.txt``."""
    found = [name for name in list_repo_dir(root) or [] if any(fnmatch(name, p) for p in TEST_REQUIREMENT_PATTERNS)]
    for folder, pattern in (("requirements", "*.txt"), ("tests", "requirements*.txt")):
        try:
            below = list_repo_dir(root, folder) or []
        except SpecFileRefused as exc:
            refused.append(Refusal(source=f"{folder}/", line=f"{folder}/", reason=str(exc)))
            below = []
        found += [f"{folder}/{name}" for name in below if fnmatch(name, pattern)]
    return found


def tox_deps(text: str, refused: list[Refusal]) -> list[tuple[str, str]]:
    """``[testenv] deps`` of a tox.ini as (source, line) pairs still to vet, ``-r`` includes as ``-r path``.

    ``{toxinidir}/`` is the repo root; any other substitution, and factor-conditional lines
    (``py39: x``), cannot be resolved statically and are recorded as refused.
    """
    parser = parse_ini(text, "tox.ini")
    if not parser.has_option("testenv", "deps"):
        return []
    out: list[tuple[str, str]] = []
    for line in parser.get("testenv", "deps").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line:
            continue
        line = re.sub(r"\{toxinidir\}[/\\]?", "", line)
        if re.match(r"^[A-Za-z0-9_.,!{}-]+:\s", line):
            refused.append(Refusal(source="tox.ini:deps", line=_short(line),
                                   reason="factor-conditional tox deps are not evaluated"))
        elif "{" in line:
            refused.append(Refusal(source="tox.ini:deps", line=_short(line),
                                   reason="tox substitutions are not expanded"))
        else:
            out.append(("tox.ini:deps", line))
    return out


def read_requirements_file(root: Path, relative: str, refused: list[Refusal], seen: set[str]) -> list[str]:
    """Vetted requirements of one pip requirements file, following ``-r`` includes inside the tree."""
    norm = posixpath.normpath(relative)
    if norm in seen:
        return []
    seen.add(norm)
    text = read_spec_text(root, norm, refused)
    if text is None:
        return []
    out: list[str] = []
    for number, line in _logical_lines(text):
        source = f"{norm}:{number}"
        include = re.match(r"^(-r|--requirement)(?:\s*=\s*|\s+)(\S+)$", line)
        if include:
            target = posixpath.join(posixpath.dirname(norm), include.group(2))
            try:
                _tree_parts(target)
            except SpecFileRefused as exc:
                refused.append(Refusal(source=source, line=_short(line), reason=str(exc)))
                continue
            out += read_requirements_file(root, target, refused, seen)
            continue
        vetted = vet_requirement(line, source, refused, pip_file=True)
        if vetted:
            out.append(vetted)
    return out


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """pip's reading of a requirements file: comments dropped, ``\\`` continuations joined."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw)
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            out.append((start, joined))
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def vet_requirement(line: str, source: str, refused: list[Refusal], pip_file: bool = False) -> str | None:
    """``line`` as a normalised PEP 508 requirement, or None with the refusal recorded.

    ``pip_file``: the line comes from a pip requirements file, where ``--hash`` options may follow
    a requirement (they are dropped: the wheelhouse is fetched by the operator's pip).
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    reason = _refusal_reason(text, pip_file)
    if reason is None:
        try:
            requirement = Requirement(_without_hashes(text) if pip_file else text)
        except InvalidRequirement:
            reason = _unparsable_reason(text)
        else:
            reason = _direct_reference_reason(requirement)
            if reason is None:
                return str(requirement)
    refused.append(Refusal(source=source, line=_short(text), reason=reason))
    return None


def _without_hashes(text: str) -> str:
    return re.sub(r"\s+--hash(?:=|\s+)\S+", "", text).strip()


def _refusal_reason(text: str, pip_file: bool) -> str | None:
    if "${" in text:
        return "environment variable references are not expanded"
    if text.startswith("-"):
        option = re.split(r"[\s=]", text, maxsplit=1)[0]
        if option in ("-e", "--editable"):
            return "editable installs are not made: the project's code is copied into each run"
        if option in ("-c", "--constraint"):
            return "constraint files from the repository are not followed"
        if option in _SOURCE_OPTIONS or option.startswith(("--index", "--extra-index", "--find", "--trusted")):
            return "pip options that choose where packages come from are not allowed; only the operator's index is used"
        return f"pip option {option} is not allowed in a repository's requirements"
    rest = _without_hashes(text) if pip_file else text
    if re.search(r"\s-{1,2}[A-Za-z]", rest.split(";", 1)[0]):
        return "per-requirement pip options are not allowed"
    return None


def _unparsable_reason(text: str) -> str:
    if text.lower().startswith(_VCS):
        return "VCS requirements are not fetched"
    if "://" in text:
        return "URL requirements are not fetched"
    if text.startswith((".", "/", "~")) or "/" in text or "\\" in text or text.lower().endswith(_ARCHIVES):
        return "local path requirements are not built"
    return "not a valid PEP 508 requirement"


def _direct_reference_reason(requirement: Requirement) -> str | None:
    if requirement.url is None:
        return None
    url = requirement.url.lower()
    if url.startswith(_VCS):
        return "VCS requirements are not fetched"
    if url.startswith("file:") or "://" not in url:
        return "local path requirements are not built"
    return "direct URL references (name @ url) are not fetched"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_ini(text: str, name: str, *, strict: bool = False) -> configparser.ConfigParser:
    """A repo's INI spec file (setup.cfg, tox.ini) parsed with no interpolation; an error never quotes it."""
    parser = configparser.ConfigParser(interpolation=None, strict=strict)
    try:
        parser.read_string(text, source=name)
    except configparser.Error as exc:
        raise spec_parse_error(name, exc) from None
    return parser


def spec_parse_error(name: str, exc: Exception) -> ImageError:
    """An error for a spec file that cannot be parsed, naming the place but never quoting it."""
    where = getattr(exc, "lineno", None)
    if where is None and getattr(exc, "errors", None):
        where = exc.errors[0][0]  # type: ignore[attr-defined]  # configparser.ParsingError
    at = f" (line {where})" if isinstance(where, int) else ""
    return ImageError(f"{name} cannot be parsed{at}: {type(exc).__name__}")


# --- setup.py, read as a syntax tree and never run ------------------------------------------------


class SetupPy(BaseModel):
    """The literal arguments of a ``setup.py``'s ``setup(...)`` call; anything computed is left out."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    python_requires: str | None = None
    install_requires: list[str] = []
    tests_require: list[str] = []
    extras_require: dict[str, list[str]] = {}
    classifiers: list[str] = []


_SETUP_STRINGS = ("name", "python_requires")
_SETUP_LISTS = ("install_requires", "tests_require", "classifiers")


def read_setup_py(root: Path, refused: list[Refusal], relative: str = "setup.py") -> SetupPy | None:
    """What ``setup.py`` states literally, from its syntax tree; None when there is none.

    The file is parsed with ``ast`` and never executed. An argument counts only when it is a
    literal, or a name bound once at module level to a literal; list items and ``+`` operands are
    taken one by one. Anything computed (a call, a comprehension, a file read, ``**kwargs``) is
    recorded in ``refused`` instead, since only running the code could tell its value.
    """
    text = read_spec_text(root, relative, refused)
    if text is None:
        return None
    try:
        tree = ast.parse(text, filename=relative)
    except (SyntaxError, ValueError) as exc:
        refused.append(Refusal(source=relative, line=relative, reason=f"cannot be parsed ({type(exc).__name__})"))
        return None
    names = _module_literals(tree)
    call = next((node for node in ast.walk(tree) if isinstance(node, ast.Call) and _is_setup(node.func)), None)
    if call is None:
        refused.append(Refusal(source=relative, line=relative, reason="no setup(...) call found"))
        return SetupPy()
    info = SetupPy()
    for keyword in call.keywords:
        where = f"{relative}:{keyword.arg or '**'}"
        if keyword.arg is None:
            refused.append(Refusal(source=where, line=_short(ast.unparse(keyword.value)), reason=_COMPUTED))
        elif keyword.arg in _SETUP_STRINGS:
            value = _literal(keyword.value, names)
            if isinstance(value, str):
                setattr(info, keyword.arg, value)
            else:
                refused.append(Refusal(source=where, line=_short(ast.unparse(keyword.value)), reason=_COMPUTED))
        elif keyword.arg in _SETUP_LISTS:
            setattr(info, keyword.arg, _literal_strings(keyword.value, names, where, refused))
        elif keyword.arg == "extras_require":
            info.extras_require = _literal_extras(keyword.value, names, where, refused)
    return info


_MUTATORS = frozenset({"append", "extend", "insert", "update", "pop", "remove", "clear", "setdefault", "add"})
_COMPUTED = "computed by code, not a literal (setup.py is never run)"


def _is_setup(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "setup") or (
        isinstance(func, ast.Attribute) and func.attr == "setup")


def _module_literals(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level names bound exactly once in the whole file (``X = ...``), to resolve when literal."""
    stores: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            stores[node.id] = stores.get(node.id, 0) + 1
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.attr in _MUTATORS):  # REQS.append(...): the literal is not the whole value
            stores[node.value.id] = stores.get(node.value.id, 0) + 2
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                stores[bound] = stores.get(bound, 0) + 1
    return {node.targets[0].id: node.value for node in tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and stores.get(node.targets[0].id) == 1}


def _literal(node: ast.expr, names: dict[str, ast.expr], depth: int = 0) -> object:
    """The value of a literal expression (names bound to literals resolved), or ``_NOT_LITERAL``."""
    if depth > 20:
        return _NOT_LITERAL
    if isinstance(node, ast.Name) and node.id in names:
        return _literal(names[node.id], names, depth + 1)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


_NOT_LITERAL = object()


def _literal_strings(node: ast.expr, names: dict[str, ast.expr], where: str, refused: list[Refusal],
                     depth: int = 0) -> list[str]:
    """Strings of a list-valued argument: literal items kept, computed ones recorded as refused."""
    if isinstance(node, ast.Name) and node.id in names and depth < 20:
        return _literal_strings(names[node.id], names, where, refused, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return (_literal_strings(node.left, names, where, refused, depth + 1)
                + _literal_strings(node.right, names, where, refused, depth + 1))
    if isinstance(node, (ast.List, ast.Tuple)):
        out: list[str] = []
        for item in node.elts:
            value = _literal(item, names)
            if isinstance(value, str):
                out.append(value)
            else:
                refused.append(Refusal(source=where, line=_short(ast.unparse(item)), reason=_COMPUTED))
        return out
    value = _literal(node, names)
    if isinstance(value, str):
        return value.splitlines()  # setuptools accepts one requirement per line
    refused.append(Refusal(source=where, line=_short(ast.unparse(node)), reason=_COMPUTED))
    return []


def _literal_extras(node: ast.expr, names: dict[str, ast.expr], where: str,
                    refused: list[Refusal]) -> dict[str, list[str]]:
    if isinstance(node, ast.Name) and node.id in names:
        node = names[node.id]
    if not isinstance(node, ast.Dict):
        refused.append(Refusal(source=where, line=_short(ast.unparse(node)), reason=_COMPUTED))
        return {}
    out: dict[str, list[str]] = {}
    for key, value in zip(node.keys, node.values, strict=True):
        extra = _literal(key, names) if key is not None else _NOT_LITERAL
        if not isinstance(extra, str):
            refused.append(Refusal(source=where, line=_short(ast.unparse(value)), reason=_COMPUTED))
            continue
        out[extra] = _literal_strings(value, names, f"{where}[{extra}]", refused)
    return out
