"""Default: a missing value (None, a missing key or attribute) gets the value the repository documents.

Covers a read that finds nothing: ``d["k"]`` without the key, ``d.get("k")`` or a ``None``
parameter that is then used, ``getattr(o, "k")`` without the attribute. The value is never
invented; it is one the repository itself states for the same name: the same read with a default
in an earlier version of the file (the code before the regression), the fault function's
docstring ("``timeout`` defaults to 30"), a parameter of the same name with a default elsewhere,
the repository's configuration files (read by the config template's ``find_values``), the
literal every other call site passes for it, or the repository's test fixtures. It is safe in
that only the missing case changes: a present value is read as before. With no stated value,
or several that disagree, nothing is offered. Environment variables are the config template's.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.suspects import suspect_commits
from crew.repair.templates import guard
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    FunctionNode,
    Source,
    assigned_from_call,
    candidate,
    finish,
    locate,
    repo_sources,
    string_literal,
)
from crew.repair.templates.config import find_values

HANDLES: tuple[RootCause, ...] = (
    RootCause.NONE_DEREFERENCE, RootCause.MISSING_KEY, RootCause.MISSING_ATTRIBUTE, RootCause.TYPE_MISMATCH,
)

MAX_FILES = 300
MAX_SUSPECTS = 3
_SCORES = {"history": 0.85, "docstring": 0.8, "parameter": 0.75, "config": 0.7, "callers": 0.65, "fixtures": 0.55}
_CONFIG_KINDS = ("constant", "example", "compose", "docs")


@dataclass(frozen=True)
class Read:
    """Where the missing value is read: the name it goes by, and how to give the read a default."""

    name: str
    node: ast.AST  # the expression replaced (a subscript, a .get/getattr call, an attribute) or the parameter
    form: str  # subscript, get, getattr, attribute, parameter
    base: ast.expr | None = None


# ------------------------------------------------------------------ where the value is missing


def _get_call(node: ast.AST) -> ast.Call | None:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return node
    return None


def _getattr_call(node: ast.AST) -> ast.Call | None:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) in (2, 3) and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str) and not node.keywords
            and (len(node.args) == 2 or (isinstance(node.args[2], ast.Constant) and node.args[2].value is None))):
        return node
    return None


def _read(ctx: TemplateContext, fault: Fault) -> Read | None:
    """The read that came back empty, from the failing sub-expression the guard finds."""
    f = guard.failing(ctx, fault)
    options = guard.options(fault, ctx) if f is None else [f]
    if not options:
        return None
    f = options[0]
    if f.kind == "key" and isinstance(f.use, ast.Subscript) and isinstance(f.use.slice, ast.Constant):
        return Read(str(f.use.slice.value), f.use, "subscript", f.use.value)
    if f.kind == "attr" and isinstance(f.use, ast.Attribute):
        return Read(f.use.attr, f.use, "attribute", f.use.value)
    if f.kind != "none":
        return None
    value = f.value
    if (call := _get_call(value)) is not None:
        return Read(str(call.args[0].value), call, "get")  # type: ignore[attr-defined]
    if (call := _getattr_call(value)) is not None:
        return Read(str(call.args[1].value), call, "getattr")  # type: ignore[attr-defined]
    if isinstance(value, ast.Name):
        origin = assigned_from_call(fault.function, value.id, fault.stmt.lineno)
        if origin is not None and (call := _get_call(origin) or _getattr_call(origin)) is not None:
            form = "get" if call.func is not None and isinstance(call.func, ast.Attribute) else "getattr"
            key = call.args[0] if form == "get" else call.args[1]
            return Read(str(key.value), call, form)  # type: ignore[attr-defined]
        if origin is None and fault.function is not None:
            param = _none_parameter(fault.function, value.id)
            if param is not None:
                return Read(value.id, param, "parameter")
    return None


def _none_parameter(func: FunctionNode, name: str) -> ast.arg | None:
    """The parameter ``name`` when its default is None (the caller may leave it out)."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
    for arg, default in pairs:
        if arg.arg == name and isinstance(default, ast.Constant) and default.value is None:
            return arg
    return None


# ------------------------------------------------------------------ what the repository says


def _literal(node: ast.AST | None) -> str | None:
    """The source of a literal that is a usable default (not None)."""
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)  # type: ignore[arg-type]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return None if value is None else repr(value)


def _stated_in(tree: ast.AST, name: str) -> Iterator[tuple[str, str]]:
    """(kind, value) for every default the code gives ``name``: a read with a default, a parameter default."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and len(
            node.args
        ) == 2 and isinstance(node.args[0], ast.Constant) and node.args[0].value == name:
            if (v := _literal(node.args[1])) is not None:
                yield "read", v
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(
            node.args
        ) == 3 and isinstance(node.args[1], ast.Constant) and node.args[1].value == name:
            if (v := _literal(node.args[2])) is not None:
                yield "read", v
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
            for arg, default in pairs:
                if arg.arg == name and (v := _literal(default)) is not None:
                    yield "parameter", v


def _one(values: list[str]) -> str | None:
    """The value when every statement agrees, else None."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _from_history(ctx: TemplateContext, fault: Fault, name: str) -> str | None:
    """The default the same read had before the suspect commits changed the file."""
    values: list[str] = []
    for sha in suspect_commits(ctx.repo, ctx.diagnosis)[:MAX_SUSPECTS]:
        before = ctx.repo.read_at(f"{sha}^", fault.path)
        if not before:
            continue
        try:
            tree = ast.parse(before)
        except (SyntaxError, ValueError):
            continue
        values += [v for kind, v in _stated_in(tree, name) if kind == "read"] or [
            v for kind, v in _stated_in(tree, name) if kind == "parameter"]
        if values:
            break
    return _one(values)


def _from_docstring(fault: Fault, name: str) -> str | None:
    doc = (ast.get_docstring(fault.function) or "") if fault.function else ""
    pattern = (rf"`*\b{re.escape(name)}\b`*[^.\n]*?\bdefault(?:s| value)?(?:\s+(?:to|is|of))?\s*[:=]?\s*"
               r"(?:``?([^`\n]+)``?|'([^'\n]*)'|\"([^\"\n]*)\"|(-?\d+(?:\.\d+)?\b|True\b|False\b))")
    m = re.search(pattern, doc, re.IGNORECASE)
    if m is None:
        return None
    if m.group(4) is not None:
        return m.group(4)
    text = m.group(1) if m.group(1) is not None else (m.group(2) if m.group(2) is not None else m.group(3))
    if m.group(1) is not None:
        try:
            return _literal(ast.parse(text, mode="eval").body) or repr(text)
        except SyntaxError:
            return repr(text)
    return repr(text)


def _from_parameters(ctx: TemplateContext, fault: Fault, name: str) -> str | None:
    values: list[str] = []
    for source in repo_sources(ctx, name, MAX_FILES):
        if _is_test(source.path):
            continue
        values += [v for kind, v in _stated_in(source.tree, name) if kind == "parameter"]
    return _one(values)


def _from_config(ctx: TemplateContext, name: str) -> str | None:
    values = [f.value for var in dict.fromkeys((name, name.upper()))
              for f in find_values(ctx, var) if f.kind in _CONFIG_KINDS]
    value = _one(values)
    if value is None:
        return None
    return value if re.fullmatch(r"-?\d+(?:\.\d+)?|True|False", value) else repr(value)


def _from_callers(ctx: TemplateContext, fault: Fault, name: str) -> str | None:
    """The literal every call of the fault function passes for ``name``."""
    func = fault.function
    if func is None:
        return None
    values: list[str] = []
    for source in repo_sources(ctx, f"{func.name}(", MAX_FILES):
        if _is_test(source.path):
            continue
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == func.name:
                for kw in node.keywords:
                    if kw.arg == name and (v := _literal(kw.value)) is not None:
                        values.append(v)
    return _one(values)


def _from_fixtures(ctx: TemplateContext, name: str) -> str | None:
    """The value the repository's tests give the key in their data."""
    values: list[str] = []
    for source in repo_sources(ctx, name, MAX_FILES):
        if not _is_test(source.path):
            continue
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == name and (v := _literal(value)) is not None:
                        values.append(v)
    return _one(values)


def _is_test(path: str) -> bool:
    parts = path.split("/")
    return any(p in ("tests", "test") for p in parts[:-1]) or parts[-1].startswith("test_") or parts[-1] in (
        "conftest.py",)


def documented(ctx: TemplateContext, fault: Fault, name: str) -> list[tuple[str, str]]:
    """(source kind, value) for ``name``, most trusted first, one per distinct value."""
    found = [
        ("history", _from_history(ctx, fault, name)),
        ("docstring", _from_docstring(fault, name)),
        ("parameter", _from_parameters(ctx, fault, name)),
        ("config", _from_config(ctx, name)),
        ("callers", _from_callers(ctx, fault, name)),
        ("fixtures", _from_fixtures(ctx, name)),
    ]
    out: list[tuple[str, str]] = []
    for kind, value in found:
        if value is not None and value not in {v for _, v in out}:
            out.append((kind, value))
    return out


# ------------------------------------------------------------------ the edit


def _edit(src: Source, fault: Fault, read: Read, value: str) -> str | None:
    node = read.node
    if read.form == "subscript" and isinstance(node, ast.Subscript) and read.base is not None:
        return Edit(src).replace(node, f"{src.segment(read.base)}.get({src.segment(node.slice)}, {value})").apply()
    if read.form == "attribute" and read.base is not None:
        lit = string_literal(read.name)
        return Edit(src).replace(node, f"getattr({src.segment(read.base)}, {lit}, {value})").apply()
    if read.form in ("get", "getattr") and isinstance(node, ast.Call):
        args = [src.segment(a) for a in node.args[:2 if read.form == "getattr" else 1]]
        return Edit(src).replace(node, f"{src.segment(node.func)}({', '.join(args)}, {value})").apply()
    if read.form == "parameter" and fault.function is not None:
        body = fault.function.body[1:] if ast.get_docstring(fault.function) is not None else fault.function.body
        if not body:
            return None
        first = body[0]
        return Edit(src).insert_before(first, [f"if {read.name} is None:", f"    {read.name} = {value}"]).apply()
    return None


def _quoted(src: Source, read: Read, value: str) -> str:
    """A string default quoted like the key of the read (the file's own style)."""
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    if not isinstance(literal, str):
        return value
    like = next((n for n in ast.walk(read.node) if isinstance(n, ast.Constant) and isinstance(n.value, str)), None)
    return string_literal(literal, like, src)


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    read = _read(ctx, fault)
    if read is None:
        return []
    src = fault.source
    whole_return = isinstance(fault.stmt, ast.Return) and fault.stmt.value is read.node
    where = {"history": "the same read before the suspect commit", "docstring": "the function's docstring",
             "parameter": f"the default of a parameter `{read.name}` elsewhere in the repository",
             "config": "the repository's configuration files", "callers": "every call site of the function",
             "fixtures": "the repository's test data"}
    out: list[Candidate | None] = []
    for kind, stated in documented(ctx, fault, read.name)[:2]:
        value = _quoted(src, read, stated)
        out.append(candidate(
            f"default-{kind}", src, _edit(src, fault, read, value),
            f"`{read.name}` is missing for this input at {fault.path}:{fault.line}. {where[kind].capitalize()} "
            f"states its value, {value}: read a missing `{read.name}` as {value}; a present one is read as before.",
            _SCORES[kind], expected_result=value if whole_return else None,
        ))
    return finish(ctx, out)


def explain(ctx: TemplateContext) -> str | None:
    """Why no default: the missing value has none the repository states."""
    fault = locate(ctx)
    read = _read(ctx, fault) if fault is not None else None
    if fault is None or read is None or documented(ctx, fault, read.name):
        return None
    return f"`{read.name}` is missing and the repository states no default for it"
