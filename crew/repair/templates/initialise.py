"""Initialise: an attribute some paths never assign gets assigned on all of them, in ``__init__``.

Covers ``'C' object has no attribute 'a'`` where the class does assign ``self.a``, but only on some
branches of ``__init__`` or only in a later method (``start()``, ``connect()``), so an object that
took another path lacks it. Assigning it first thing in ``__init__`` is safe: every path that
assigned it still does (later assignments overwrite the initial one), and only the paths that
crashed change. The initial value is read from the class, never invented: None when the class
compares the attribute with None elsewhere, the literal when the paths that assign one agree,
the empty value of the type the other assignments give it, the identity of ``+=`` for a counter,
or what the class's reads need (iterated: empty; tested for truth: None). Without one of
these, nothing is offered; a name the class never assigns is a rename, not this.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import Edit, Source, candidate, finish, locate, repo_sources

HANDLES: tuple[RootCause, ...] = (RootCause.MISSING_ATTRIBUTE,)

MAX_FILES = 300
_MISSING = re.compile(r"'(\w+)' object has no attribute '(\w+)'")
_CALL_EMPTY = {"list": "[]", "dict": "{}", "set": "set()", "str": '""', "int": "0", "float": "0.0",
               "tuple": "()", "frozenset": "frozenset()", "bool": "False"}
_IMMUTABLE = re.compile(r"^(?:None|True|False|-?\d+(?:\.\d+)?|\"[^\"]*\"|'[^']*'|\(\)|frozenset\(\))$")


def _class(ctx: TemplateContext, name: str) -> tuple[Source, ast.ClassDef] | None:
    """The class ``name``: in the fault file first, then the only one of that name in the repo."""
    fault = locate(ctx)
    sources = [fault.source] if fault is not None else []
    found: list[tuple[Source, ast.ClassDef]] = []
    for source in [*sources, *repo_sources(ctx, f"class {name}", MAX_FILES)]:
        for node in ast.walk(source.tree):
            if isinstance(node, ast.ClassDef) and node.name == name:
                found.append((source, node))
        if found:
            return found[0] if len({id(c) for _, c in found}) == 1 else None
    return None


def _methods(cls: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [s for s in cls.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef) and s.args.args]


def _self_attr(node: ast.AST, selves: set[str], attr: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.value, ast.Name) and (
        node.value.id in selves)


def _empty_of(value: ast.expr) -> str | None:
    """The literal itself, or the empty value of the type an assigned expression has."""
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        literal = None
    else:
        if literal is None or isinstance(literal, bool | int | float | str) or literal in ((), [], {}):
            return ast.unparse(value)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in _CALL_EMPTY:
        return _CALL_EMPTY[value.func.id]
    if isinstance(value, ast.List | ast.ListComp):
        return "[]"
    if isinstance(value, ast.Dict | ast.DictComp):
        return "{}"
    if isinstance(value, ast.Set | ast.SetComp):
        return "set()"
    if isinstance(value, ast.JoinedStr):
        return '""'
    return None


def _value(cls: ast.ClassDef, attr: str, src: Source) -> tuple[str, str] | None:
    """(initial value, the evidence in the class)."""
    selves = {m.args.args[0].arg for m in _methods(cls)}
    literals: set[str] = set()
    typed: set[str] = set()
    counter = False
    needs: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.Compare) and any(
            _self_attr(side, selves, attr) for side in (node.left, *node.comparators)
        ) and any(isinstance(c, ast.Constant) and c.value is None for c in (node.left, *node.comparators)):
            return "None", f"the class compares `self.{attr}` with None"
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_self_attr(t, selves, attr) for t in targets):
                empty = _empty_of(node.value)
                if empty is not None and empty == ast.unparse(node.value):
                    literals.add(empty)
                elif empty is not None:
                    typed.add(empty)
        if isinstance(node, ast.AugAssign) and _self_attr(node.target, selves, attr) and isinstance(
            node.op, ast.Add | ast.Sub
        ) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int | float):
            counter = True
        if _self_attr(node, selves, attr) and isinstance(node.ctx, ast.Load):  # type: ignore[attr-defined]
            parent = src.parent(node)
            if isinstance(parent, ast.For | ast.comprehension) and parent.iter is node:
                needs.add("[]")
            elif isinstance(parent, ast.If | ast.While | ast.IfExp | ast.BoolOp) or (
                isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)
            ):
                needs.add("None")
    if len(literals) == 1:
        return literals.pop(), "the one literal the class assigns it"
    if len(literals | typed) == 1:
        value = (literals | typed).pop()
        return value, "the type of the class's other assignments"
    if counter and not literals and not typed:
        return "0", f"`self.{attr}` is a counter (`+=`)"
    if len(needs) == 1 and not literals and not typed:
        return needs.pop(), "how the class reads it"
    return None


def _assigned_always(init: ast.FunctionDef | ast.AsyncFunctionDef, selves: set[str], attr: str) -> bool:
    """True when a top-level statement of ``__init__`` assigns the attribute (every path does)."""
    for stmt in init.body:
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
            targets = [stmt.target]
        if any(_self_attr(t, selves, attr) for t in targets):
            return True
    return False


def _first_statement(body: list[ast.stmt]) -> ast.stmt | None:
    """The statement the initialisation goes before: after a docstring and a ``super().__init__`` call."""
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue
        if isinstance(stmt, ast.Expr) and "__init__(" in ast.unparse(stmt) and "super" in ast.unparse(stmt):
            continue
        return stmt
    return None


def generate(ctx: TemplateContext) -> list[Candidate]:
    m = _MISSING.search(ctx.diagnosis.exc_message)
    if m is None or m.group(1) == "NoneType":
        return []
    cls_name, attr = m.groups()
    found = _class(ctx, cls_name)
    if found is None:
        return []
    src, cls = found
    methods = _methods(cls)
    selves = {meth.args.args[0].arg for meth in methods}
    assigners = [meth for meth in methods for node in ast.walk(meth)
                 if isinstance(node, ast.Attribute) and _self_attr(node, selves, attr)
                 and isinstance(node.ctx, ast.Store)]
    if not assigners:
        return []  # never assigned: a renamed or misspelt attribute, not a missing initialisation
    inits = [meth for meth in methods if meth.name == "__init__"]
    value = _value(cls, attr, src)
    if value is None:
        return []
    initial, evidence = value
    where = ", ".join(sorted({meth.name for meth in assigners}))
    why = (f"`{cls_name}` assigns `self.{attr}` only on some paths ({where}), so an object that took another "
           f"path has no `{attr}` at {ctx.diagnosis.fault_frame.repo_path if ctx.diagnosis.fault_frame else ''}.")
    if inits:
        init = inits[0]
        self_name = init.args.args[0].arg
        if _assigned_always(init, {self_name}, attr):
            return []
        anchor = _first_statement(init.body)
        if anchor is None:
            return []
        upd = Edit(src).insert_before(anchor, [f"{self_name}.{attr} = {initial}"]).apply()
        return finish(ctx, [candidate(
            "initialise-attribute-in-init", src, upd,
            why + f" Assign it first in `__init__` as {initial} ({evidence}); the paths that set it still do.", 0.8,
        )])
    if not _IMMUTABLE.match(initial):
        return []  # a mutable class attribute would be shared by every instance
    anchor = _first_statement(cls.body)
    if anchor is None:
        return []
    upd = Edit(src).insert_before(anchor, [f"{attr} = {initial}"]).apply()
    return finish(ctx, [candidate(
        "initialise-attribute-on-class", src, upd,
        why + f" The class has no `__init__`: give it the class attribute {initial} ({evidence}), which each "
        "assignment then shadows per object.", 0.7,
    )])
