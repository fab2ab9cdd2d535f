"""None dereference: guard the value that can be None before it is used.

The message names what was done to ``None`` (an attribute, a subscript, a call, iteration); the
AST of the fault statement gives the expression that was ``None``. The guard returns a neutral
value consistent with the function's other returns (or skips the item inside a loop), so the
code after it never sees ``None``.
"""

from __future__ import annotations

import ast
import builtins
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import (
    BUILTIN_NAMES,
    Edit,
    Fault,
    Source,
    assigned_from_call,
    candidate,
    conditional,
    finish,
    is_simple,
    locate,
    neutral_default,
)

HANDLES: tuple[RootCause, ...] = (RootCause.NONE_DEREFERENCE,)

_ATTR = re.compile(r"'NoneType' object has no attribute '([^']+)'")
_OPERAND = re.compile(r"unsupported operand type\(s\) for (\S+): '(\w+)' and '(\w+)'")
_ARGUMENT = re.compile(r"^(\w+)\(\) argument must be .*, not 'NoneType'")


def _none_base(fault: Fault, message: str) -> tuple[ast.expr, ast.expr] | None:
    """(the expression that was None, the expression that used it)."""
    attr = _ATTR.search(message)
    if attr:
        for node in fault.nodes(ast.Attribute):
            if isinstance(node, ast.Attribute) and node.attr == attr.group(1) and isinstance(node.ctx, ast.Load):
                return node.value, node
        return None
    kinds: tuple[type[ast.AST], ...] = ()
    if "not subscriptable" in message:
        kinds = (ast.Subscript,)
    elif "not callable" in message:
        kinds = (ast.Call,)
    elif "not iterable" in message:
        for node in fault.nodes((ast.For, ast.comprehension)):
            if isinstance(node, ast.For | ast.comprehension) and isinstance(node.iter, ast.expr):
                return node.iter, node.iter
        return None
    elif _OPERAND.search(message):
        op = _OPERAND.search(message)
        assert op is not None
        for node in fault.nodes(ast.BinOp):
            if isinstance(node, ast.BinOp):
                side = node.left if op.group(2) == "NoneType" else node.right
                if not isinstance(side, ast.Constant):
                    return side, node
        return None
    else:
        return None
    candidates: list[tuple[ast.expr, ast.expr]] = []
    for node in fault.nodes(kinds):
        base = node.value if isinstance(node, ast.Subscript) else node.func if isinstance(node, ast.Call) else None
        if isinstance(base, ast.expr) and isinstance(node, ast.expr) and not isinstance(base, ast.Constant):
            if isinstance(node, ast.Call) and isinstance(base, ast.Name) and base.id in BUILTIN_NAMES:
                continue
            candidates.append((base, node))
    if len(candidates) == 1:
        return candidates[0]
    # Several: prefer a local that was assigned from a call (the usual source of a None).
    for base, node in candidates:
        if isinstance(base, ast.Name) and assigned_from_call(fault.function, base.id, fault.stmt.lineno):
            return base, node
    return None


def _part_of_bigger_value(src: Source, use: ast.AST, stmt: ast.stmt) -> bool:
    """True when ``use`` is one field of a larger value (a dict entry, an argument, an f-string part).

    Returning early there would throw the other fields away; the narrow conditional keeps them.
    """
    child = use
    for anc in src.ancestors(use):
        if anc is stmt:
            return False
        if isinstance(anc, ast.Dict | ast.List | ast.Tuple | ast.Set | ast.JoinedStr | ast.keyword):
            return True
        if isinstance(anc, ast.Call) and child is not anc.func:
            return True
        child = anc
    return False


_EMPTY_FOR_METHOD = (("str", '""'), ("dict", "{}"), ("list", "[]"))


def _get_default(fault: Fault, base: ast.expr, use: ast.expr) -> Candidate | None:
    """``payload.get("title").strip()``: the key is absent or null; read it as the empty value of its type.

    The method called on it says the type (a str method: ``""``); a method several types share says
    nothing, and nothing is offered.
    """
    if not (isinstance(base, ast.Call) and isinstance(base.func, ast.Attribute) and base.func.attr == "get"
            and len(base.args) == 1 and not base.keywords and is_simple(base.func.value)
            and isinstance(use, ast.Attribute)):
        return None
    kinds = [(name, empty) for name, empty in _EMPTY_FOR_METHOD if hasattr(getattr(builtins, name), use.attr)]
    if len(kinds) != 1:
        return None
    name, empty = kinds[0]
    src = fault.source
    text = src.segment(base)
    return candidate(
        "get-none-default", src, Edit(src).replace(base, f"({text} or {empty})").apply(),
        f"`{text}` at {fault.path}:{fault.line} is None when the key is missing or null, and "
        f"`.{use.attr}` then fails on None. `.{use.attr}` is a {name} method, so read a missing value as "
        f"the empty {name} `{empty}` there; the rest of the function runs as before.", 0.8,
    )


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    found = _none_base(fault, ctx.diagnosis.exc_message)
    if found is None:
        return []
    base, use = found
    src = fault.source
    if not is_simple(base):
        return finish(ctx, [_get_default(fault, base, use)])  # else a call's result: guarding it calls it twice
    base_text = src.segment(base)
    origin = assigned_from_call(fault.function, base.id, fault.stmt.lineno) if isinstance(base, ast.Name) else None
    where = f"{fault.path}:{fault.line}"
    came = (f", assigned from `{ast.unparse(origin)}`, which returns None for this input" if origin is not None
            else " is None for this input")
    why = f"`{base_text}`{came}; `{src.segment(use)}` at {where} then fails on None."
    out: list[Candidate | None] = []
    stmt = fault.stmt
    can_insert = src.starts_its_line(stmt) and not src.in_nested_scope(use, stmt) and not isinstance(
        stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    )
    strong = 0.8 if origin is not None else 0.65
    part = _part_of_bigger_value(src, use, stmt)
    if can_insert and fault.function is not None:
        if src.in_loop(stmt):
            upd = Edit(src).insert_before(stmt, [f"if {base_text} is None:", "    continue"]).apply()
            out.append(candidate("guard-none-skip", src, upd,
                                 why + " Skip this item when it is None, before it is used.", strong))
        default = neutral_default(src, fault.function)
        upd = Edit(src).insert_before(stmt, [f"if {base_text} is None:", f"    return {default}"]).apply()
        out.append(candidate(
            "guard-none-return", src, upd,
            why + f" Check for None right before the use and return {default}, the neutral value this "
            "function already returns elsewhere.",
            strong - (0.1 if src.in_loop(stmt) else 0.0) - (0.15 if part else 0.0),
        ))
    stored = isinstance(use, ast.Attribute | ast.Subscript) and isinstance(use.ctx, ast.Store)
    if isinstance(use, ast.Attribute | ast.Subscript | ast.Call) and not stored:
        upd = Edit(src).replace(use, conditional(src, use, f"{base_text} is not None", "None")).apply()
        out.append(candidate(
            "conditional-none", src, upd,
            why + f" Evaluate `{src.segment(use)}` only when `{base_text}` is not None, else None"
            + (", so the rest of the value is still produced." if part else "."),
            0.75 if part else strong - 0.15,
        ))
    return finish(ctx, out, broad=("conditional-none",))


def explain(ctx: TemplateContext) -> str | None:
    """Why no guard is offered: a None passed on to a conversion, or a call's None with no stated default."""
    fault = locate(ctx)
    if fault is None:
        return None
    src = fault.source
    message = ctx.diagnosis.exc_message
    if m := _ARGUMENT.search(message):
        for call in fault.nodes(ast.Call):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == m.group(1):
                return (f"`{src.segment(call)}`: the value is None and the right default cannot be inferred "
                        "from the code")
        return None
    found = _none_base(fault, message)
    if found is None or is_simple(found[0]):
        return None
    base, use = found
    if isinstance(base, ast.Call) and ast.unparse(base.func).endswith(("getenv", "environ.get")):
        return None  # a None from the environment: the configuration template says why
    return (f"`{src.segment(use)}`: `{src.segment(base)}` returns None here; a guard would call it twice and the "
            "right default cannot be inferred from the code")
