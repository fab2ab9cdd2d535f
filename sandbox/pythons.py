"""Which Python the sandbox runs a repository on, read from what the repository declares.

A suite that needs Python 3.9 cannot even import on 3.11, so the interpreter is chosen from the
repo itself, read statically (every file opened without following links, ``setup.py`` parsed and
never run): ``requires-python`` (pyproject.toml, setup.cfg, setup.py) is a hard limit; a pinned
version (``.python-version``, ``runtime.txt``, a Dockerfile's ``FROM python:X.Y``) is what
production runs, so it wins among the allowed ones; the versions the project says it supports or
tests (trove classifiers, tox envlist, CI matrices) narrow the rest. Among what remains the
default image is preferred (it is usually built already), else the newest.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import BaseModel, ConfigDict

from sandbox.errors import ImageError
from sandbox.requirements import (
    Refusal,
    SpecFileRefused,
    list_repo_dir,
    parse_ini,
    read_setup_py,
    read_spec_text,
)

_VERSION = re.compile(r"3\.\d{1,2}")
_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d{1,2})\s*$")


class PythonChoice(BaseModel):
    """The Python the sandbox uses for a repo, and why (one line for the run report)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    """``X.Y``."""
    reason: str
    """What in the repo (or on the command line) decided it."""


class PythonHints(BaseModel):
    """What a repository says about its Python, each with the file it came from."""

    model_config = ConfigDict(extra="forbid")

    requires: list[tuple[str, str]] = []
    """(specifier, source): hard limits such as ``>=3.8,<3.10``."""
    pins: list[tuple[str, str]] = []
    """(X.Y, source): the version production runs."""
    supported: list[tuple[str, str]] = []
    """(X.Y, source): versions the project declares or tests."""
    notes: list[str] = []
    """Hints that could not be used, and why."""


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def allows(spec: SpecifierSet, version: str) -> bool:
    """Whether some release of ``X.Y`` satisfies ``spec`` (``>=3.9.2`` allows 3.9)."""
    return any(spec.contains(f"{version}.{patch}", prereleases=True) for patch in (0, 99))


def read_hints(root: Path) -> PythonHints:
    """Every Python hint of the repo at ``root``, read without running or following anything."""
    hints = PythonHints()
    refused: list[Refusal] = []
    _from_pyproject(root, hints, refused)
    _from_setup_cfg(root, hints, refused)
    setup_py = read_setup_py(root, [])
    if setup_py is not None:
        if setup_py.python_requires:
            hints.requires.append((setup_py.python_requires, "setup.py python_requires"))
        _classifiers(setup_py.classifiers, "setup.py classifiers", hints)
    for name in (".python-version", "runtime.txt"):
        text = read_spec_text(root, name, refused)
        if text is not None:
            match = re.search(r"(?:^|python-|\s)(3\.\d{1,2})(?:\.\d+)?\b", text.strip())
            if match:
                hints.pins.append((match.group(1), name))
    for name in ("Dockerfile", "Containerfile"):
        text = read_spec_text(root, name, refused)
        if text is not None:
            froms = re.findall(r"(?im)^\s*FROM\s+(?:--\S+\s+)*(?:\S+/)?python:(3\.\d{1,2})", text)
            if froms:
                hints.pins.append((froms[-1], f"{name} FROM python:{froms[-1]}"))  # the last stage runs
    _from_tox(root, hints, refused)
    _from_ci(root, hints, refused)
    hints.notes += [f"python hint not read: {r.source} ({r.reason})" for r in refused]
    return hints


def _classifiers(items: Iterable[object], source: str, hints: PythonHints) -> None:
    for item in items:
        match = _CLASSIFIER.match(item) if isinstance(item, str) else None
        if match:
            hints.supported.append((match.group(1), source))


def _from_pyproject(root: Path, hints: PythonHints, refused: list[Refusal]) -> None:
    text = read_spec_text(root, "pyproject.toml", refused)
    if text is None:
        return
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        hints.notes.append("python hint not read: pyproject.toml cannot be parsed")
        return
    raw = data.get("project")
    project: dict[str, object] = raw if isinstance(raw, dict) else {}
    requires, classifiers = project.get("requires-python"), project.get("classifiers")
    if isinstance(requires, str):
        hints.requires.append((requires, "pyproject.toml requires-python"))
    if isinstance(classifiers, list):
        _classifiers(classifiers, "pyproject.toml classifiers", hints)
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    python = poetry.get("dependencies", {}).get("python") if isinstance(poetry, dict) else None
    if isinstance(python, str):
        hints.requires.append((_poetry_to_pep440(python), "pyproject.toml tool.poetry python"))


def _poetry_to_pep440(spec: str) -> str:
    """Poetry's ``^3.9`` / ``~3.9`` / ``3.9.*`` ranges as PEP 440 specifiers."""
    out = []
    for part in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", spec.strip()):
        caret = re.fullmatch(r"\^(\d+)(?:\.(\d+))?(?:\.\d+)?", part)
        tilde = re.fullmatch(r"~(\d+)\.(\d+)(?:\.\d+)?", part)
        if caret:
            out += [f">={part[1:]}", f"<{int(caret.group(1)) + 1}"]
        elif tilde:
            out += [f">={part[1:]}", f"<{tilde.group(1)}.{int(tilde.group(2)) + 1}"]
        elif re.fullmatch(r"\d+(\.\d+)*(\.\*)?", part):
            out.append(f"=={part}")
        else:
            out.append(part)
    return ",".join(out)


def _from_setup_cfg(root: Path, hints: PythonHints, refused: list[Refusal]) -> None:
    text = read_spec_text(root, "setup.cfg", refused)
    if text is None:
        return
    try:
        parser = parse_ini(text, "setup.cfg")
    except ImageError:
        hints.notes.append("python hint not read: setup.cfg cannot be parsed")
        return
    if parser.has_option("options", "python_requires"):
        hints.requires.append((parser.get("options", "python_requires").strip(), "setup.cfg python_requires"))
    if parser.has_option("metadata", "classifiers"):
        _classifiers([c.strip() for c in parser.get("metadata", "classifiers").splitlines()],
                     "setup.cfg classifiers", hints)


def _expand_braces(text: str) -> list[str]:
    """tox's ``py{38,39}-django{3,4}`` generative names, expanded."""
    match = re.search(r"\{([^{}]*)\}", text)
    if not match:
        return [text]
    out: list[str] = []
    for option in match.group(1).split(","):
        out += _expand_braces(text[: match.start()] + option.strip() + text[match.end():])
        if len(out) > 1000:
            break
    return out


def _from_tox(root: Path, hints: PythonHints, refused: list[Refusal]) -> None:
    text = read_spec_text(root, "tox.ini", refused)
    if text is None:
        return
    try:
        parser = parse_ini(text, "tox.ini")
    except ImageError:
        hints.notes.append("python hint not read: tox.ini cannot be parsed")
        return
    envlist = parser.get("tox", "envlist", fallback="") if parser.has_section("tox") else ""
    chunks = re.split(r"[,\n](?![^{]*\})", envlist)  # commas inside braces belong to the expansion
    names = [name for chunk in chunks if chunk.strip() for name in _expand_braces(chunk.strip())]
    for name in names:
        for factor in name.split("-"):
            match = re.fullmatch(r"py(3)(\d{1,2})", factor)
            if match:
                hints.supported.append((f"{match.group(1)}.{match.group(2)}", "tox.ini envlist"))


def _from_ci(root: Path, hints: PythonHints, refused: list[Refusal]) -> None:
    """``python-version`` values of GitHub Actions workflows and ``image: python:X.Y`` of GitLab CI."""
    try:
        workflows = list_repo_dir(root, ".github/workflows") or []
    except SpecFileRefused as exc:
        refused.append(Refusal(source=".github/workflows/", line=".github/workflows/", reason=str(exc)))
        workflows = []
    for name in workflows:
        if not name.endswith((".yml", ".yaml")):
            continue
        source = f".github/workflows/{name}"
        text = read_spec_text(root, source, refused)
        if text is None:
            continue
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            hints.notes.append(f"python hint not read: {source} is not valid YAML")
            continue
        for value in _values_of(data, "python-version"):
            hints.supported += [(v, f"{source} python-version") for v in _versions(value)]
    gitlab = read_spec_text(root, ".gitlab-ci.yml", refused)
    if gitlab is not None:
        hints.supported += [(v, ".gitlab-ci.yml image") for v in re.findall(r"\bpython:(3\.\d{1,2})", gitlab)]


def _values_of(data: object, key: str, depth: int = 0) -> list[object]:
    if depth > 20:
        return []
    if isinstance(data, dict):
        found = [v for k, v in data.items() if k == key]
        return found + [x for v in data.values() for x in _values_of(v, key, depth + 1)]
    if isinstance(data, list):
        return [x for v in data for x in _values_of(v, key, depth + 1)]
    return []


def _versions(value: object) -> list[str]:
    """``X.Y`` strings in a ``python-version`` value; YAML floats (``3.1`` for ``3.10``) are ambiguous and skipped."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            match = re.fullmatch(r"\s*(?:cpython-?)?(3\.\d{1,2})(?:\.[\dx*]+)?\s*", item)
            if match:
                out.append(match.group(1))
        elif isinstance(item, float) and str(item) != "3.1":
            out.append(str(item))
    return out


def choose_python(root: Path, available: Iterable[str], default: str, override: str | None = None) -> PythonChoice:
    """The best of ``available`` (``X.Y`` versions with a base image) for the repo at ``root``.

    ``override`` (``--python X.Y``) wins outright. Otherwise ``requires-python`` filters; a pinned
    version is taken when allowed; declared or tested versions narrow the rest when any of them
    is available; then ``default`` if still allowed, else the newest allowed. When no image
    satisfies ``requires-python`` the nearest one is used, and the reason says so.
    """
    images = sorted(set(available), key=_key)
    if override:
        return PythonChoice(version=override, reason=f"--python {override} requested")
    hints = read_hints(root)
    allowed, limits = list(images), []
    for text, source in hints.requires:
        try:
            spec = SpecifierSet(text)
        except InvalidSpecifier:
            hints.notes.append(f"python hint not read: {source} {text!r} is not a version specifier")
            continue
        allowed = [v for v in allowed if allows(spec, v)]
        limits.append(f"{source} {text!r}")
    limit = f"{' and '.join(limits)} allow{'s' if len(limits) == 1 else ''} " if limits else ""
    if not allowed:
        nearest = _nearest(images, hints)
        return PythonChoice(version=nearest, reason=f"no base image satisfies {' and '.join(limits)} "
                                                    f"(images: {', '.join(images)}); using the nearest, {nearest}")
    for version, source in hints.pins:
        if version in allowed:
            return PythonChoice(version=version, reason=f"{source} pins {version}" + (
                f"; {limit.strip()} it" if limit else ""))
    pinned_out = [f"{source} pins {v}, for which there is no allowed image" for v, source in hints.pins]
    declared = sorted({v for v, _ in hints.supported if v in allowed}, key=_key)
    pool = declared or allowed
    pick = default if default in pool else pool[-1]
    parts = pinned_out[:1]
    if limits:
        parts.append(f"{limit}{', '.join(allowed)}")
    if declared:
        sources = sorted({s for v, s in hints.supported if v in declared})
        parts.append(f"the project declares or tests {', '.join(declared)} ({'; '.join(sources)})")
    elif hints.supported:
        parts.append("none of the versions it declares or tests has an image")
    if not parts:
        parts.append("the repository states no Python version")
    how = "the default" if pick == default else "the only one" if len(pool) == 1 else "the newest of those"
    return PythonChoice(version=pick, reason=f"{'; '.join(parts)}: {how}, {pick}")


def _nearest(images: list[str], hints: PythonHints) -> str:
    """The image closest to what the repo asks for when none satisfies it: its lowest stated bound."""
    bounds = [m for text, _ in hints.requires for m in re.findall(r">=?\s*(3\.\d{1,2})", text)]
    if bounds:
        wanted = max(bounds, key=_key)
        above = [v for v in images if _key(v) >= _key(wanted)]
        return above[0] if above else images[-1]
    return images[0]


def marker_environment(python: str, machine: str) -> dict[str, str]:
    """PEP 508 marker values of CPython ``python`` on Linux/``machine``: what the image's pip would see.

    The host's pip evaluates markers for its own interpreter even when downloading for another
    one, so ``tomli; python_version < "3.11"`` is skipped on a 3.11 host for a 3.9 image.
    """
    from packaging.markers import default_environment

    env = {key: str(value) for key, value in default_environment().items()}
    env.update(python_version=python, python_full_version=f"{python}.0", implementation_name="cpython",
               implementation_version=f"{python}.0", platform_python_implementation="CPython",
               sys_platform="linux", os_name="posix", platform_system="Linux", platform_machine=machine)
    return env
