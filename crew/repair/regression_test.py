"""The regression test: the crashing call written down as a pytest file a reviewer would accept.

Everything written as code is healcrew's own: the inputs it built (re-checked with ``ast``),
names checked to be identifiers, and text from outside only inside the docstring, made inert.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import Diagnosis, RegressionTest
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


def _used_imports(args: list[str], imports: dict[str, str]) -> list[str]:
    used = {name for name in imports if any(re.search(rf"\b{name}\(", a) for a in args)}
    return [f"from {imports[name]} import {name}" for name in sorted(used)]




def test_path(repo: GitRepo, incident_id: str) -> str:
    """Follow the repo's layout: its tests folder if it has one."""
    slug = re.sub(r"[^a-z0-9]+", "_", incident_id.lower()).strip("_")[:60] or "incident"
    dirs = {p.split("/", 1)[0] for p in repo.tracked_files if "/" in p}
    for folder in ("tests", "test"):
        if folder in dirs:
            return f"{folder}/test_healcrew_{slug}.py"
    return f"test_healcrew_{slug}.py"


_BUILTIN_RETURNS = ("str", "int", "float", "bool", "dict", "list", "tuple", "set", "bytes")


def _types_from_annotation(annotation: str | None) -> list[str]:
    """Return types a reviewer would expect from ``-> str`` / ``-> dict[str, Any] | None``."""
    if not annotation:
        return []
    names = [re.split(r"[\[(]", part.strip())[0] for part in annotation.split("|")]
    names = ["NoneType" if n == "None" else n for n in names]
    return names if all(n in (*_BUILTIN_RETURNS, "NoneType") for n in names) else []


def _sanity_asserts(types: list[str], expected: str | None, returns: str | None = None) -> list[str]:
    """``expected`` must already be a safe literal; ``types`` are sandbox names, written only as str literals."""
    lines = []
    if not types:
        declared = _types_from_annotation(returns)
        if declared:
            allowed = ", ".join(t if t != "NoneType" else "type(None)" for t in declared)
            return [*([f"    assert result == {expected}"] if expected else []),
                    f"    assert isinstance(result, ({allowed},))  # the declared return type"]
    if expected is not None:
        lines.append(f"    assert result == {expected}")
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
    if not lines:
        lines.append("    assert result is None or result == result  # a value, not an exception")
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
    path: str, expected_result: str | None = None,
) -> RegressionTest:
    """The pytest file: call the crashing code with the crashing input, assert a sane result.

    It reads like a test a developer would write: a direct import, one call, plain asserts.
    The repo root goes on ``sys.path`` because pytest's default import mode does not add it.

    Everything written as code is healcrew's own: the inputs it built (re-checked here with
    ``ast``), names checked to be identifiers, and text from outside only inside the docstring,
    made inert. Raises ``UnsafeInputError`` rather than write anything else.
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
    docstring += ['"""', ""]
    path_setup = ["", f"sys.path.insert(0, str({root_expr}))", ""]
    _require(is_dotted_name(target.module), "the module name is not a dotted identifier")
    if target.route is not None:
        assert reproduction is not None and reproduction.args is not None
        _require(all(safe_expression(a) is not None for a in reproduction.args), "the request is not a literal")
        stdlib = ["import sys", "from pathlib import Path"]
        imports: list[str]
        imports, body, call = render_route_test(target.route, reproduction.args, f"from {reproduction.source}")
        source = reproduction.source
    elif target.function is None:
        name = target.assigned_name
        stdlib = ["import importlib", "import sys", "from pathlib import Path"]
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
        known = safe_imports({**target.imports, **reproduction.imports})
        args = [safe_expression(a, known) for a in reproduction.args]
        _require(all(a is not None for a in args), "an input is not a literal or a known constructor")
        rendered = [a for a in args if a is not None]
        expected = None
        if expected_result is not None:
            expected = safe_expression(expected_result)
            _require(expected is not None, "the expected result is not a literal")
        owner, _, method = target.function.rpartition(".")
        if owner and target.params and target.params[0].name == "self":
            call = f"{rendered[0]}.{method}({', '.join(rendered[1:])})"
        else:
            call = f"{target.function}({', '.join(rendered)})"
        if target.is_async:
            call = f"asyncio.run({call})"
        asserts = _sanity_asserts(reproduction.normal_types, expected, target.returns)
        stdlib = ["import sys", "from pathlib import Path"]
        if any("math." in line for line in asserts):
            stdlib.insert(0, "import math")
        if target.is_async:
            stdlib.insert(0, "import asyncio")
        used = _used_imports(rendered, known)
        std_modules = set(STDLIB_NAMES.values())
        stdlib += [line for line in used if line.split()[1] in std_modules]
        own = f"from {target.module} import {owner or target.function}"
        imports = [f"{line}  # noqa: E402" for line in
                   dict.fromkeys([own, *(line for line in used if line.split()[1] not in std_modules)])]
        body = [
            f"def test_{_identifier(method or target.function)}_handles_the_incident_input():",
            f"    result = {call}",
            *asserts,
        ]
        source = reproduction.source
    code = "\n".join([*docstring, *stdlib, *path_setup, *imports, "", "", *body]) + "\n"
    try:
        ast.parse(code)
    except SyntaxError as exc:
        raise UnsafeInputError(f"refusing to write a regression test: it does not parse ({exc.msg})") from None
    note = f"input from {source}" if target.function or target.route else "crash happens at import time"
    if reproduction is not None and reproduction.synthetic:
        note += "; a secret in the logged input was replaced by a synthetic value of the same shape"
    return RegressionTest(path=path, code=code, call=call, input_source=source, note=note)  # type: ignore[arg-type]


def _snake(name: str) -> str:
    short = name.rsplit(".", 1)[-1]
    return _identifier(re.sub(r"(?<!^)(?=[A-Z])", "_", short))
