"""Division by zero: guard the divisor at the division, with a fallback the function implies.

An adjustment (a scale, factor, discount, exchange rate) that is zero means "no adjustment", so
the numerator passes through unchanged; an average, ratio, rate or share over nothing is zero.
A candidate that raises a clearer error is not a fix (the service still crashes), so none is made.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import Edit, Fault, candidate, conditional, finish, locate

HANDLES: tuple[RootCause, ...] = (RootCause.DIVISION_BY_ZERO,)

_DIVISIONS = (ast.Div, ast.FloorDiv, ast.Mod)
_IDENTITY = re.compile(
    r"scale|factor|divisor|discount|multiplier|weight|fx|exchange|conversion|adjust|coef|deflat|normali[sz]",
    re.IGNORECASE,
)
_ZERO = re.compile(
    r"av(?:era)?g|mean|ratio|rate|percent|pct|share|fraction|per_|_per|utili[sz]|proportion|score|yield",
    re.IGNORECASE,
)


def _division(fault: Fault) -> ast.BinOp | ast.AugAssign | None:
    culprit = fault.diagnosis.culprit
    found: list[ast.BinOp | ast.AugAssign] = []
    for node in fault.nodes((ast.BinOp, ast.AugAssign)):
        if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, _DIVISIONS):
            found.append(node)
    for node in found:
        right = node.right if isinstance(node, ast.BinOp) else node.value
        if culprit and ast.unparse(right) == culprit:
            return node
    return found[0] if found else None


def _is_float(fault: Fault, node: ast.AST) -> bool:
    func = fault.function
    if func is not None and func.returns is not None and ast.unparse(func.returns) == "float":
        return True
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, float):
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "float":
            return True
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)


def _context_words(fault: Fault, divisor: str) -> tuple[bool, bool]:
    """(identity-like, zero-like) from the divisor, the function and the assigned name."""
    names = [fault.function.name if fault.function else ""]
    if isinstance(fault.stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = fault.stmt.targets if isinstance(fault.stmt, ast.Assign) else [fault.stmt.target]
        names += [ast.unparse(t) for t in targets]
    context = " ".join(names)
    doc = (ast.get_docstring(fault.function) or "") if fault.function else ""
    identity = bool(_IDENTITY.search(divisor)) or bool(re.search(r"adjust|apply|scale|convert|normali", context, re.I))
    zero = bool(_ZERO.search(context)) or divisor.startswith("len(") or bool(re.search(r"count|total|num|n_", divisor))
    if _IDENTITY.search(divisor):
        zero = bool(_ZERO.search(context)) and not re.search(r"adjust|apply|scale|convert", context, re.I)
    # The docstring often says what a zero means ("0.0 ... must leave the price unchanged").
    if re.search(r"unchanged|as it is|as is\b|no (?:discount|adjustment|scaling)", doc, re.I):
        identity, zero = True, False
    elif not identity and not zero:
        identity = bool(_IDENTITY.search(doc))
        zero = bool(_ZERO.search(doc))
    return identity, zero


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    node = _division(fault)
    if node is None:
        return []
    src = fault.source
    if isinstance(node, ast.AugAssign):
        return finish(ctx, _augmented(ctx, fault, node))
    divisor_node, numerator_node = node.right, node.left
    divisor, numerator = src.segment(divisor_node), src.segment(numerator_node)
    identity_like, zero_like = _context_words(fault, divisor)
    zero = "0.0" if _is_float(fault, node) and not isinstance(node.op, ast.FloorDiv | ast.Mod) else "0"
    guard = divisor if isinstance(divisor_node, ast.Name | ast.Attribute | ast.Subscript | ast.Call) else f"({divisor})"
    fallbacks = [
        ("identity", numerator, 0.8 if identity_like else 0.45,
         f"a zero `{divisor}` means no adjustment, so `{numerator}` is returned unchanged"),
        ("zero", zero, 0.8 if zero_like and not identity_like else (0.55 if not identity_like else 0.35),
         f"dividing by a zero `{divisor}` means there is nothing to divide over, so the result is {zero}"),
    ]
    stmt = fault.stmt
    nested = src.in_nested_scope(node, stmt)
    value = stmt.value if isinstance(stmt, ast.Return | ast.Assign | ast.AnnAssign) else None
    # Every division by the same divisor in the statement must be guarded, not only the first.
    same = [n for n in fault.nodes(ast.BinOp) if isinstance(n, ast.BinOp) and isinstance(n.op, _DIVISIONS)
            and src.segment(n.right) == divisor]
    whole = node if len(same) <= 1 else value
    can_return = isinstance(stmt, ast.Return) and src.starts_its_line(stmt) and not nested
    out: list[Candidate | None] = []
    for name, fallback, score, why in fallbacks:
        partial = value is not node and whole is not node
        if name == "identity" and (not _numerator_is_value(numerator_node) or partial):
            continue
        base = (f"`{src.segment(node)}` at {fault.path}:{node.lineno} divides by `{divisor}`, which is zero for "
                f"this input. Guard the divisor where the division happens: {why}.")
        if can_return and (name != "identity" or value is node):
            upd = Edit(src).insert_before(stmt, [f"if not {guard}:", f"    return {fallback}"]).apply()
            out.append(candidate(f"guard-zero-divisor-{name}", src, upd, base, score))
        if whole is not None and not (whole is not node and src.in_nested_scope(whole, stmt)):
            upd = Edit(src).replace(whole, conditional(src, whole, guard, fallback)).apply()
            out.append(candidate(f"conditional-zero-divisor-{name}", src, upd, base, score - 0.05))
    return finish(ctx, out)


def _numerator_is_value(node: ast.AST) -> bool:
    """A numerator worth passing through unchanged: not a bare literal like ``1``."""
    return not isinstance(node, ast.Constant)


def _augmented(ctx: TemplateContext, fault: Fault, node: ast.AugAssign) -> list[Candidate | None]:
    src = fault.source
    if not src.starts_its_line(node) or (node.end_lineno or node.lineno) != node.lineno:
        return []
    divisor = src.segment(node.value)
    target = src.segment(node.target)
    guard = divisor if isinstance(node.value, ast.Name | ast.Attribute | ast.Subscript | ast.Call) else f"({divisor})"
    identity_like, zero_like = _context_words(fault, divisor)
    line = src.lines[node.lineno - 1]
    indent = src.indent_of(node)
    nl = src.newline
    wrapped = f"{indent}if {guard}:{nl}    {line.rstrip(chr(13) + chr(10))}{nl}"
    l_end = len(line)
    upd_identity = Edit(src).replace_span(node.lineno, 0, node.lineno, l_end, wrapped).apply()
    zero = "0.0" if isinstance(node.op, ast.Div) else "0"
    op = {ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%"}[type(node.op)]
    upd_zero = Edit(src).replace(node, f"{target} = {target} {op} {guard} if {guard} else {zero}").apply()
    why = f"`{target} {op}= {divisor}` at {fault.path}:{node.lineno} divides by a zero `{divisor}`."
    return [
        candidate("guard-zero-divisor-identity", src, upd_identity,
                  why + f" Skip the adjustment when `{divisor}` is zero, leaving `{target}` unchanged.",
                  0.75 if identity_like or not zero_like else 0.45),
        candidate("conditional-zero-divisor-zero", src, upd_zero,
                  why + f" Set `{target}` to {zero} when there is nothing to divide over.",
                  0.75 if zero_like and not identity_like else 0.4),
    ]
