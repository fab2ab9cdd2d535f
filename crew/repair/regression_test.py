"""The regression test: the crashing call written down as a pytest file a reviewer would accept.

Everything written as code is healcrew's own: the inputs it built (re-checked with ``ast``),
names checked to be identifiers, and text from outside only inside the docstring, made inert.
"""

from __future__ import annotations

import ast
import keyword
import re
import tomllib
from collections import Counter
from dataclasses import dataclass

from crew.handoffs import Diagnosis, RegressionTest
from crew.repair.expected import Expected, derive, returns_nothing, safe_literal
from crew.repair.http_repro import render_route_test
from crew.repair.reproduce import (
    STDLIB_NAMES,
    Reproduction,
    Target,
    UnsafeInputError,
    is_dotted_name,
    safe_expression,
    safe_imports,
)
from crew.repo import GitRepo
from crew.testfiles import is_test_module
from sandbox.errors import SandboxError
from sandbox.requirements import parse_ini

MAX_PINNED = 3
"""Ordinary inputs whose deployed results the second test pins."""


def _used_imports(args: list[str], imports: dict[str, str]) -> list[str]:
    used = {name for name in imports if any(re.search(rf"\b{name}\(", a) for a in args)}
    return [f"from {imports[name]} import {name}" for name in sorted(used)]




def test_path(repo: GitRepo, incident_id: str) -> str:
    """Follow the repo's layout: its top-level tests folder, else the folder most of its tests are in."""
    slug = re.sub(r"[^a-z0-9]+", "_", incident_id.lower()).strip("_")[:60] or "incident"
    name = f"test_healcrew_{slug}.py"
    dirs = {p.split("/", 1)[0] for p in repo.tracked_files if "/" in p}
    for folder in ("tests", "test"):
        if folder in dirs:
            return f"{folder}/{name}"
    folders = Counter(p.rpartition("/")[0] for p in repo.tracked_files if is_test_module(p))
    if folders:
        folder = sorted(folders.items(), key=lambda item: (-item[1], item[0]))[0][0]
        if folder and all(re.fullmatch(r"[\w.-]+", part) and part not in (".", "..") for part in folder.split("/")):
            return f"{folder}/{name}"
    return name


# ----------------------------------------------------------------------------- the repo's test style


@dataclass(frozen=True)
class TestStyle:
    """How the repo's own tests are written, as far as the generated test follows it."""

    __test__ = False  # not a pytest test class

    path_setup: bool = True  # put the import root on ``sys.path`` (nothing the repo configures does)
    module_import: str | None = None  # ``import pkg.mod as <alias>``: the alias; "" for plain ``import pkg.mod``


def _norm(path: str) -> str:
    return path.strip().replace("\\", "/").removeprefix("./").strip("/") or "."


def configured_pythonpath(repo: GitRepo) -> list[str]:
    """The ``pythonpath`` entries of the repo's pytest configuration (pyproject, pytest.ini, tox.ini, setup.cfg)."""
    entries: list[str] = []
    pyproject = repo.read("pyproject.toml")
    if pyproject:
        try:
            options = tomllib.loads(pyproject).get("tool", {}).get("pytest", {}).get("ini_options", {})
        except tomllib.TOMLDecodeError:
            options = {}
        value = options.get("pythonpath") if isinstance(options, dict) else None
        if isinstance(value, str):
            entries += value.split()
        elif isinstance(value, list):
            entries += [v for v in value if isinstance(v, str)]
    for name, section in (("pytest.ini", "pytest"), ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        text = repo.read(name)
        if not text:
            continue
        try:
            parser = parse_ini(text, name)
        except SandboxError:
            continue
        if parser.has_option(section, "pythonpath"):
            entries += parser.get(section, "pythonpath").split()
    return [_norm(e) for e in entries]


def _conftest_adds(repo: GitRepo, root: str) -> bool:
    """A conftest.py the repo's tests load puts ``root`` on sys.path (a string literal naming it)."""
    for path in ("conftest.py", "tests/conftest.py", "test/conftest.py"):
        source = repo.read(path)
        if not source or "sys.path" not in source:
            continue
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("insert", "append") and ast.unparse(node.func.value) == "sys.path"
                    and any(isinstance(c, ast.Constant) and isinstance(c.value, str) and _norm(c.value) == root
                            for arg in node.args for c in ast.walk(arg))):
                return True
    return False


def import_root_covered(repo: GitRepo, import_root: str) -> bool:
    """The repo's own set-up already makes the import root importable for its tests."""
    root = _norm(import_root)
    return root == "." or root in configured_pythonpath(repo) or _conftest_adds(repo, root)


def _import_counts(repo: GitRepo, module: str) -> tuple[int, int, dict[str, str]]:
    """(from-imports, module imports, aliases by module) of ``module``'s package in the repo's tests."""
    top = module.split(".", 1)[0]
    froms = modules = 0
    aliases: dict[str, str] = {}
    for path in [p for p in repo.tracked_files if is_test_module(p)][:200]:
        source = repo.read(path) or ""
        if top not in source:
            continue
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == top:
                froms += 1
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == top and "." in alias.name:
                        modules += 1
                        aliases.setdefault(alias.name, alias.asname or "")
    return froms, modules, aliases


def test_style(repo: GitRepo | None, target: Target) -> TestStyle:
    """The repo's style for this target; without a repo, the self-contained default."""
    if repo is None:
        return TestStyle()
    path_setup = not import_root_covered(repo, target.import_root)
    froms, modules, aliases = _import_counts(repo, target.module)
    if modules <= froms or target.function is None or "." in target.function:
        return TestStyle(path_setup=path_setup)
    alias = aliases.get(target.module)
    if alias is None:  # the module itself is not imported yet: the repo's usual form, aliased or not
        alias = target.module.rsplit(".", 1)[-1] if any(aliases.values()) else ""
    taken = {*target.imports, *(p.name for p in target.params)}
    if alias and (not alias.isidentifier() or keyword.iskeyword(alias) or alias in taken):
        alias = ""
    return TestStyle(path_setup=path_setup, module_import=alias)


test_style.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test
test_path.__test__ = False  # type: ignore[attr-defined]


_BUILTIN_RETURNS = ("str", "int", "float", "bool", "dict", "list", "tuple", "set", "bytes")


def _types_from_annotation(annotation: str | None) -> list[str]:
    """Return types a reviewer would expect from ``-> str`` / ``-> dict[str, Any] | None``."""
    if not annotation:
        return []
    names = [re.split(r"[\[(]", part.strip())[0] for part in annotation.split("|")]
    names = ["NoneType" if n == "None" else n for n in names]
    return names if all(n in (*_BUILTIN_RETURNS, "NoneType") for n in names) else []


def _equals(expr: str, literal: str) -> str:
    """``expr == literal``, or ``is`` for None and the booleans (``True == 1`` would pass for 1)."""
    return f"{expr} is {literal}" if literal in ("None", "True", "False") else f"{expr} == {literal}"


def _sanity_asserts(types: list[str], expected: str | None, returns: str | None = None) -> list[str]:
    """``expected`` must already be a safe literal; ``types`` are sandbox names, written only as str literals.

    An expected value is the whole claim. Without one, the result's type as ordinary inputs (or
    the annotation) show it; with nothing to assert, no assert at all (never a tautology).
    """
    if expected is not None:
        return [f"    assert {_equals('result', expected)}"]
    lines = []
    if not types:
        declared = _types_from_annotation(returns)
        if declared:
            allowed = ", ".join(t if t != "NoneType" else "type(None)" for t in declared)
            return [f"    assert isinstance(result, ({allowed},))  # the declared return type"]
        named = (returns or "").strip().strip("'\"").rsplit(".", 1)[-1]
        if named.isidentifier() and named not in ("None", "Any", "object") and named[:1].isupper():
            return [f"    assert type(result).__name__ == {named!r}  # the declared return type"]
    numeric = {"int", "float"}
    if types and set(types) <= numeric:
        lines += ["    assert isinstance(result, (int, float)) and not isinstance(result, bool)",
                  "    assert math.isfinite(result)"]
    elif types and len(set(types)) == 1 and types[0] in ("str", "list", "dict", "tuple", "set", "bytes", "bool"):
        lines.append(f"    assert isinstance(result, {types[0]})")
    elif types and len(set(types)) == 1 and types[0] not in ("NoneType", "float-nonfinite") \
            and types[0].isidentifier():
        lines.append(f"    assert type(result).__name__ == {types[0]!r}")
    elif types == ["NoneType"]:
        lines.append("    assert result is None")
    return lines


def _call(target: Target, rendered: list[str], prefix: str = "") -> str:
    """The call of the target with healcrew's rendered arguments (an instance first for a method)."""
    assert target.function is not None
    owner, _, method = target.function.rpartition(".")
    if owner and target.params and target.params[0].name == "self":
        call = f"{rendered[0]}.{method}({', '.join(rendered[1:])})"
    else:
        call = f"{prefix}{target.function}({', '.join(rendered)})"
    return f"asyncio.run({call})" if target.is_async else call


def _pinned(target: Target, reproduction: Reproduction, known: dict[str, str], prefix: str) -> list[str]:
    """Asserts that up to ``MAX_PINNED`` ordinary inputs still return what they did on the deployed commit.

    The inputs are healcrew's own (re-checked); the results are sandbox text, written only as
    :func:`safe_literal` re-renders.
    """
    lines: list[str] = []
    for args, result in zip(reproduction.normal_inputs, reproduction.normal_results, strict=False):
        rendered = [safe_expression(a, known) for a in args]
        literal = safe_literal(result)
        if literal is None or any(a is None for a in rendered) or args == reproduction.args:
            continue
        lines.append(f"    assert {_equals(_call(target, [a for a in rendered if a is not None], prefix), literal)}")
        if len(lines) == MAX_PINNED:
            break
    return lines


def _doc(text: str, limit: int = 200) -> str:
    """Text that came from outside (a log, an alert, repo paths) made inert inside a docstring."""
    flat = "".join(c if c.isprintable() else " " for c in text).replace("\\", "/").replace('"', "'")
    return flat[:limit]


def _identifier(name: str) -> str:
    """``name`` as a valid, lower-case part of a Python identifier."""
    return re.sub(r"\W+", "_", name, flags=re.ASCII).strip("_").lower()[:80] or "x"


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise UnsafeInputError(f"refusing to write a regression test: {what}")


def render_test(
    target: Target, reproduction: Reproduction | None, diagnosis: Diagnosis, incident_id: str,
    path: str, expected_result: str | None = None, *, repo: GitRepo | None = None,
    before: Expected | None = None, entry: tuple[Target, Reproduction] | None = None,
) -> RegressionTest:
    """The pytest file: call the crashing code with the crashing input, assert what it should return.

    It reads like a test a developer of the repo would write: its import style, one call, the
    expected value when one can be derived (:mod:`crew.repair.expected`; ``before`` is the probe's
    answer on the code before the regression), and a second test pinning ordinary inputs to their
    deployed results. With ``entry`` (production's outermost repo frame and an input that crashes
    through it), a third test calls that entry too: the fix must also hold on production's path
    and the call must return. Only when ordinary inputs were seen to return through the entry in
    the sandbox: a service's ``main()`` that serves forever once it starts is no such entry. An
    entry that is a web route sends the logged request through the framework's test client and
    asserts it is answered without a server error (the API-level test).
    The import root goes on ``sys.path`` only when nothing the repo configures
    (``pythonpath``, a conftest) puts it there. Without ``repo``, the self-contained default.

    Everything written as code is healcrew's own: the inputs it built (re-checked here with
    ``ast``), names checked to be identifiers, values from the sandbox only as re-rendered
    literals, and text from outside only inside the docstring, made inert. Raises
    ``UnsafeInputError`` rather than write anything else.
    """
    fault = diagnosis.fault_frame
    where = f"{fault.repo_path}:{fault.frame.line}" if fault and fault.repo_path else target.path
    depth = path.count("/")
    root_expr = "Path(__file__).resolve().parent" + ".parent" * depth
    if target.import_root:
        root_expr += f" / {target.import_root!r}"
    exc_type = _doc(diagnosis.exc_type, 100)
    docstring = [
        f'"""Regression test for incident {_doc(incident_id, 100)}: {exc_type} at {_doc(where)}.',
        "",
        f"Written by healcrew. It fails on the deployed commit {_doc(diagnosis.commit[:12], 12)} with",
        f"{exc_type} and passes once the fix is applied.",
    ]
    if reproduction is not None and reproduction.synthetic:
        docstring += ["", "The logged input held a secret: the test uses a synthetic value of the same shape."]
    _require(is_dotted_name(target.module), "the module name is not a dotted identifier")
    style = test_style(repo, target)
    path_setup = ["", f"sys.path.insert(0, str({root_expr}))", ""] if style.path_setup else []
    noqa = "  # noqa: E402" if style.path_setup else ""
    paths = ["import sys", "from pathlib import Path"] if style.path_setup else []
    expected: Expected | None = None
    if target.route is not None:
        assert reproduction is not None and reproduction.args is not None
        _require(all(safe_expression(a) is not None for a in reproduction.args), "the request is not a literal")
        stdlib = list(paths)
        imports: list[str]
        imports, body, call = render_route_test(target.route, reproduction.args, f"from {reproduction.source}")
        imports = [line.replace("  # noqa: E402", noqa) for line in imports]
        source = reproduction.source
    elif target.function is None:
        name = target.assigned_name
        stdlib = ["import importlib", "import sys", *paths[1:]]
        imports = []
        body = [
            f"def test_{_identifier(target.module)}_imports_without_{_snake(diagnosis.exc_type)}():",
            f"    sys.modules.pop({target.module!r}, None)",
            f"    module = importlib.import_module({target.module!r})",
            f"    assert module.__name__ == {target.module!r}",
        ]
        if name:
            body.append(f"    assert getattr(module, {name!r}) is not None")
        call = f"import {target.module}"
        source = "template"
    else:
        assert reproduction is not None and reproduction.args is not None
        _require(is_dotted_name(target.function) and target.function.count(".") <= 1,
                 "the function name is not an identifier")
        rendered, known = _rendered_args(target, reproduction, "an input")
        if expected_result is not None:
            _require(safe_expression(expected_result) is not None and safe_literal(expected_result) is not None,
                     "the expected result is not a literal")
        expected = derive(repo, target, reproduction, diagnosis, expected_result, before)
        owner, _, method = target.function.rpartition(".")
        if style.module_import is None or owner:
            own = f"from {target.module} import {owner or target.function}"
            prefix = ""
        elif style.module_import:
            own, prefix = f"import {target.module} as {style.module_import}", f"{style.module_import}."
        else:
            own, prefix = f"import {target.module}", f"{target.module}."
        call = _call(target, rendered, prefix)
        asserts = _sanity_asserts(reproduction.normal_types, expected.literal if expected else None, target.returns)
        if not asserts and repo is not None and returns_nothing(repo, target):
            asserts = ["    assert result is None  # it returns no value: the call must simply not raise"]
        pinned = _pinned(target, reproduction, known, prefix)
        stdlib = list(paths)
        if any("math." in line for line in asserts):
            stdlib.insert(0, "import math")
        if target.is_async:
            stdlib.insert(0, "import asyncio")
        entry_call: str | None = None
        entry_own: str | None = None
        entry_args: list[str] = []
        entry_known: dict[str, str] = {}
        entry_asserts: list[str] = []
        route_entry: tuple[list[str], list[str]] | None = None
        if entry is not None and entry[0].route is not None:  # the request production crashed on
            assert entry[1].args is not None
            _require(all(safe_expression(a) is not None for a in entry[1].args), "the request is not a literal")
            route_imports, route_body, _ = render_route_test(entry[0].route, entry[1].args,
                                                             f"from {entry[1].source}")
            route_entry = ([line.replace("  # noqa: E402", noqa) for line in route_imports], route_body)
        elif entry is not None and entry[1].normal_types:  # ordinary inputs were seen to return through it
            entry_call, entry_own, entry_args, entry_known = _entry_call(entry)
            entry_asserts = _sanity_asserts(entry[1].normal_types, None, entry[0].returns)
            if not entry_asserts:  # nothing to assert about the entry's result: its test is left out
                entry_call, entry_own, entry_args, entry_known = None, None, [], {}
        used = _used_imports(rendered + entry_args + [a for args_ in reproduction.normal_inputs for a in args_],
                             {**known, **entry_known})
        std_modules = set(STDLIB_NAMES.values())
        stdlib += [line for line in used if line.split()[1] in std_modules]
        imports = [f"{line}{noqa}" for line in
                   dict.fromkeys([own, *([entry_own] if entry_own else []),
                                  *(line for line in used if line.split()[1] not in std_modules)])]
        if route_entry is not None:  # the framework's test client first, a blank line, then the repo's own
            framework = [line for line in route_entry[0] if line.split()[1].split(".")[0] in ("fastapi", "flask")]
            own_lines = [line for line in route_entry[0] if line not in framework]
            imports = [*framework, *([""] if framework else []), *dict.fromkeys([*own_lines, *imports])]
        name = _identifier(method or target.function)
        if asserts:
            body = [f"def test_{name}_handles_the_incident_input():", f"    result = {call}", *asserts]
        else:
            body = [f"def test_{name}_handles_the_incident_input():",
                    f"    {call}  # nothing to compare with: the incident input must not raise"]
        if pinned:
            body += ["", "", f"def test_{name}_keeps_its_ordinary_results():",
                     '    """The results these inputs had on the deployed commit."""', *pinned]
        if route_entry is not None:
            body += ["", "", *route_entry[1]]
        elif entry is not None and entry_call is not None:
            assert entry[0].function is not None
            outer = _identifier(entry[0].function.rpartition(".")[2])
            outer += "_entry" if outer == name else ""
            body += ["", "", f"def test_{outer}_handles_the_incident_input():",
                     '    """The incident input through production\'s entry point: the call must return."""',
                     f"    result = {entry_call}", *entry_asserts]
            if any("math." in line for line in entry_asserts) and "import math" not in stdlib:
                stdlib.insert(0, "import math")
            if entry[0].is_async and "import asyncio" not in stdlib:
                stdlib.insert(0, "import asyncio")
        source = reproduction.source
    if expected is not None:
        docstring += ["", f"The expected value comes from {_doc(expected.source, 120)}."]
    docstring += ['"""', ""]
    if stdlib and imports and not path_setup:
        path_setup = [""]  # one blank line between the standard library and the repo's own imports
    code = "\n".join([*docstring, *stdlib, *path_setup, *imports, "", "", *body]) + "\n"
    try:
        ast.parse(code)
    except SyntaxError as exc:
        raise UnsafeInputError(f"refusing to write a regression test: it does not parse ({exc.msg})") from None
    note = f"input from {source}" if target.function or target.route else "crash happens at import time"
    if reproduction is not None and reproduction.synthetic:
        note += "; a secret in the logged input was replaced by a synthetic value of the same shape"
    return RegressionTest(path=path, code=code, call=call, input_source=source, note=note,  # type: ignore[arg-type]
                          expected=expected.literal if expected else None,
                          expected_from=expected.source if expected else None)


def _rendered_args(target: Target, reproduction: Reproduction, what: str) -> tuple[list[str], dict[str, str]]:
    """The reproduction's arguments re-rendered by ``safe_expression``, and the imports they may use;
    ``UnsafeInputError`` when one is not a literal or a known constructor."""
    assert reproduction.args is not None
    known = safe_imports({**target.imports, **reproduction.imports})
    args = [safe_expression(a, known) for a in reproduction.args]
    _require(all(a is not None for a in args), f"{what} is not a literal or a known constructor")
    return [a for a in args if a is not None], known


def _entry_call(entry: tuple[Target, Reproduction]) -> tuple[str, str, list[str], dict[str, str]]:
    """The call of production's entry with its crashing input, its import line, its rendered arguments
    and their imports; checked like the fault function's own."""
    target, reproduction = entry
    _require(target.function is not None and is_dotted_name(target.function) and target.function.count(".") <= 1
             and is_dotted_name(target.module), "the entry's name is not an identifier")
    assert target.function is not None
    rendered, known = _rendered_args(target, reproduction, "an entry input")
    owner = target.function.rpartition(".")[0]
    own = f"from {target.module} import {owner or target.function}"
    return _call(target, rendered), own, rendered, known


def _snake(name: str) -> str:
    short = name.rsplit(".", 1)[-1]
    return _identifier(re.sub(r"(?<!^)(?=[A-Z])", "_", short))
