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


def _dereferenced_later(fault: Fault, stmt: ast.stmt) -> bool:
    """True when a name the statement assigns is later used as ``x.attr``, ``x[...]`` or ``x()``."""
    if not isinstance(stmt, ast.Assign | ast.AnnAssign) or fault.function is None:
        return False
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    end = stmt.end_lineno or stmt.lineno
    for node in ast.walk(fault.function):
        base = node.value if isinstance(node, ast.Attribute | ast.Subscript) else (
            node.func if isinstance(node, ast.Call) else None)
        if isinstance(base, ast.Name) and base.id in names and node.lineno > end:  # type: ignore[attr-defined]
            return True
    return False


def _is_len_of(node: ast.AST, seq: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"
            and len(node.args) == 1 and ast.unparse(node.args[0]) == seq)


def _off_by_one(fault: Fault, node: ast.Subscript, seq: str) -> list[Candidate | None]:
    """``seq[len(seq)]``, or ``seq[i + 1]`` behind a bounds check written with ``>`` where ``>=`` was meant."""
    src = fault.source
    index = ast.unparse(node.slice)
    where = f"`{src.segment(node)}` at {fault.path}:{node.lineno}"
    if _is_len_of(node.slice, seq):
        return [candidate(
            "off-by-one-last-index", src, Edit(src).replace(node.slice, f"{src.segment(node.slice)} - 1").apply(),
            f"{where} indexes one past the end: the last element of `{seq}` is at `len({seq}) - 1`.", 0.85,
        )]
    if fault.function is None:
        return []
    for test in ast.walk(fault.function):
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and test.lineno < node.lineno):
            continue
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if isinstance(op, ast.Gt) and ast.unparse(left) == index and _is_len_of(right, seq):
            fixed = f"{src.segment(left)} >= {src.segment(right)}"
        elif isinstance(op, ast.Lt) and _is_len_of(left, seq) and ast.unparse(right) == index:
            fixed = f"{src.segment(left)} <= {src.segment(right)}"
        else:
            continue
        return [candidate(
            "off-by-one-bounds-check", src, Edit(src).replace(test, fixed).apply(),
            f"{where} is guarded by `{src.segment(test)}` (line {test.lineno}), which lets `{index}` equal "
            f"`len({seq})`, one past the last element. The check must be `{fixed}`.", 0.9,
        )]
    return []


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    node = _subscript(fault)
    if node is None or not is_simple(node.value):
        return []
    src = fault.source
    seq = src.segment(node.value)
    exact_fix = _off_by_one(fault, node, seq)
    if any(exact_fix):
        return finish(ctx, exact_fix)
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
        # A None assigned here that the function dereferences later only moves the crash down.
        later = _dereferenced_later(fault, stmt) and fallback == "None"
        out.append(candidate(
            "conditional-index-default", src, Edit(src).replace(value, text).apply(),
            why + f" Use {fallback} when the element is missing.",
            0.4 if later else score - (0.05 if isinstance(stmt, ast.Return) else -0.05),
        ))
    return finish(ctx, out)
