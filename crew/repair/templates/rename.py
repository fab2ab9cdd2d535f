"""Renamed parameter: a call passes a keyword the callee no longer accepts; use the callee's new name.

Covers ``TypeError: f() got an unexpected keyword argument 'x'`` when ``f`` (a function, a method,
a class's ``__init__`` or a dataclass) is defined in the repo: its parameters are read from the
source, and the closest one the call does not already pass is offered, only when the value passed
fits that parameter's annotation. Safe because the value and the callee are unchanged; only the
name that binds them is corrected, and a name of the wrong type is never offered. (Attribute and
module-name renames, with the same kind and annotation checks, are in ``attributes.py``.)
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import Edit, Fault, Source, candidate, closest, dispatch
from crew.repair.templates._names import (
    annotation_accepts,
    class_members,
    literal_type,
    parameters,
    repo_classes,
    repo_functions,
)

HANDLES: tuple[RootCause, ...] = (RootCause.TYPE_MISMATCH,)

_KEYWORD = re.compile(r"([\w.<>]+)\(\) got an unexpected keyword argument '(\w+)'")


def _callee_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _accepted(ctx: TemplateContext, fault: Fault, qualified: str, call: ast.Call) -> tuple[dict[str, str | None], str]:
    """The keyword names the callee accepts (with annotations), and the file that defines it."""
    parts = qualified.split(".")
    name = parts[-1]
    owner = parts[-2] if len(parts) > 1 else None
    if name == "__init__" and owner:
        class_name: str | None = owner
    elif name[:1].isupper():
        class_name = name
    else:
        class_name = None
    if class_name is not None:
        for src, cls in repo_classes(ctx, class_name):
            init = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
            if init is not None:
                return {a.arg: ast.unparse(a.annotation) if a.annotation else None
                        for a in parameters(init)[1:]}, src.path
            if any("dataclass" in ast.unparse(d) for d in cls.decorator_list):
                return {m.name: m.annotation for m in class_members(cls).values() if m.kind == "value"}, src.path
        return {}, ""
    for src, func in repo_functions(ctx, name, fault.source):
        params = parameters(func)
        if params and params[0].arg in ("self", "cls") and isinstance(call.func, ast.Attribute):
            params = params[1:]
        if func.args.kwarg is not None:
            return {}, ""  # **kwargs takes any name: the keyword is not what is wrong
        return {a.arg: ast.unparse(a.annotation) if a.annotation else None for a in params}, src.path
    return {}, ""


def _value_type(fault: Fault, value: ast.expr) -> str | None:
    """The type of a keyword's value: a literal's, or the caller's annotation of a parameter it passes on."""
    found = literal_type(value)
    if found is not None or fault.function is None or not isinstance(value, ast.Name):
        return found
    for arg in parameters(fault.function):
        if arg.arg == value.id and arg.annotation is not None:
            return ast.unparse(arg.annotation).rsplit(".", 1)[-1]
    return None


def _keyword(ctx: TemplateContext, fault: Fault, qualified: str, bad: str) -> list[Candidate | None]:
    src: Source = fault.source
    out: list[Candidate | None] = []
    parts = qualified.split(".")
    called = parts[-2] if parts[-1] == "__init__" and len(parts) > 1 else parts[-1]
    for call in fault.nodes(ast.Call):
        if not isinstance(call, ast.Call) or _callee_name(call) != called:
            continue
        kw = next((k for k in call.keywords if k.arg == bad), None)
        if kw is None:
            continue
        accepted, origin = _accepted(ctx, fault, qualified, call)
        positional = list(accepted)[: len(call.args)]
        passed = {k.arg for k in call.keywords if k.arg} | set(positional)
        value_type = _value_type(fault, kw.value)
        pool = [p for p, ann in accepted.items() if p not in passed and annotation_accepts(ann, value_type)]
        for sim, new in closest(bad, pool, cutoff=0.55)[:2]:
            line = kw.lineno
            col = src.char_col(line, kw.col_offset)
            if src.lines[line - 1][col: col + len(bad)] != bad:
                continue
            edit = Edit(src).replace_span(line, col, line, col + len(bad), new)
            out.append(candidate(
                f"rename-keyword-{new}", src, edit.apply(),
                f"`{src.segment(call)}` at {fault.path}:{call.lineno} passes `{bad}=`, which `{qualified}` "
                f"({origin}) no longer accepts; its closest parameter is `{new}`, and the value passed fits "
                "its annotation. Pass the value under the name the callee now uses.", 0.5 + 0.35 * sim,
            ))
        break
    return out


def generate(ctx: TemplateContext) -> list[Candidate]:
    return dispatch(ctx, [(_KEYWORD, lambda c, f, m: _keyword(c, f, m.group(1), m.group(2)))])
