"""Index out of range: check the sequence's length before indexing it.

``items[0]`` on an empty list is the usual case: the guard returns the function's neutral value
(or skips the item inside a loop) before the fault statement; an assignment gets a conditional
expression with ``None``. The condition is the narrowest that makes the index valid.
"""

from __future__ import annotations

import ast

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import Edit, Fault, candidate, finish, is_simple, locate, neutral_default

HANDLES: tuple[RootCause, ...] = (RootCause.INDEX_OUT_OF_RANGE,)


def _index_value(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        if isinstance(value, int) and not isinstance(value, bool):
            return -value
    return None


def _subscript(fault: Fault) -> ast.Subscript | None:
    culprit = fault.diagnosis.culprit
    found: list[ast.Subscript] = []
    for node in fault.nodes(ast.Subscript):
        if not isinstance(node, ast.Subscript) or not isinstance(node.ctx, ast.Load):
            continue
        if isinstance(node.slice, ast.Slice) or (
            isinstance(node.slice, ast.Constant) and not isinstance(node.slice.value, int)
        ):
            continue
        found.append(node)
    if not found:
        return None
    # Inner subscripts are evaluated first; the culprit (when it is exactly one of them) decides.
    for node in found:
        if culprit and ast.unparse(node) == culprit:
            return node
    return sorted(found, key=lambda n: len(ast.unparse(n)))[0]


def _condition(seq: str, node: ast.Subscript) -> str | None:
    """The condition under which ``seq[index]`` is valid."""
    value = _index_value(node.slice)
    if value is not None:
        if value in (0, -1):
            return seq
        return f"len({seq}) > {value}" if value >= 0 else f"len({seq}) >= {-value}"
    if is_simple(node.slice):
        index = ast.unparse(node.slice)
        return f"-len({seq}) <= {index} < len({seq})"
    return None


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    node = _subscript(fault)
    if node is None or not is_simple(node.value):
        return []
    src = fault.source
    seq = src.segment(node.value)
    cond = _condition(seq, node)
    if cond is None:
        return []
    negated = f"not {cond}" if cond == seq else f"not ({cond})"
    stmt = fault.stmt
    exact = _index_value(node.slice) in (0, -1)
    score = 0.8 if exact else 0.6
    what = "empty" if cond == seq else "too short"
    why = (f"`{src.segment(node)}` at {fault.path}:{node.lineno} assumes `{seq}` has that element, but it is "
           f"{what} for this input.")
    out: list[Candidate | None] = []
    can_insert = src.starts_its_line(stmt) and not src.in_nested_scope(node, stmt) and fault.function is not None
    if can_insert and not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        if src.in_loop(stmt):
            out.append(candidate(
                "guard-short-sequence-skip", src,
                Edit(src).insert_before(stmt, [f"if {negated}:", "    continue"]).apply(),
                why + " Skip this item when the element is missing.", score,
            ))
        if isinstance(stmt, ast.Return) or not src.in_loop(stmt):
            default = neutral_default(src, fault.function)
            out.append(candidate(
                "guard-short-sequence-return", src,
                Edit(src).insert_before(stmt, [f"if {negated}:", f"    return {default}"]).apply(),
                why + f" Check it before indexing and return {default}, the function's neutral value.",
                score - (0.0 if isinstance(stmt, ast.Return) else 0.1),
            ))
    value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.Return) else None
    if value is not None and not src.in_nested_scope(node, stmt):
        fallback = neutral_default(src, fault.function) if isinstance(stmt, ast.Return) else "None"
        text = f"{src.segment(value)} if {cond} else {fallback}"
        out.append(candidate(
            "conditional-index-default", src, Edit(src).replace(value, text).apply(),
            why + f" Use {fallback} when the element is missing.",
            score - (0.05 if isinstance(stmt, ast.Return) else -0.05),
        ))
    return finish(ctx, out)
