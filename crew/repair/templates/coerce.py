"""Type coercion: adapt the value of the wrong type to the type the operation expects (PyTER's idea).

Covers a ``TypeError`` whose message names the operand types, in every position it names them:
both sides of a binary operation or comparison, a sequence repeated by text, a subscript index
(``list indices must be integers``), an argument that must be an integer (``range``), a ``str``
or path argument, and a format spec (``Unknown format code 'd' for object of type 'str'``).
Which operand is wrong is decided from what is known about each one: its observed type in the
failing run (the frame's locals, when the log has them), its annotation, a literal's own type,
or its other uses; the expected type is the other operand's, or the one the message says the
operation needs. The conversion is guarded, ``x if isinstance(x, int) else int(x)``, so a value
that is already of the target type is passed through untouched; a value that cannot be converted
still raises, so bad data is not hidden.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    Source,
    candidate,
    conditional,
    dispatch,
    is_simple,
    message_string,
    module_names,
)
from crew.repair.templates._names import literal_type, parameters

HANDLES: tuple[RootCause, ...] = (RootCause.TYPE_MISMATCH,)

_OPERAND = re.compile(r"unsupported operand type\(s\) for ([^:]+): '([\w.]+)' and '([\w.]+)'")
_CONCAT = re.compile(r'can only concatenate (\w+) \(not "(\w+)"\) to (\w+)')
_COMPARE = re.compile(r"'([<>=!]+)' not supported between instances of '([\w.]+)' and '([\w.]+)'")
_REPEAT = re.compile(r"can't multiply sequence by non-int of type '(\w+)'")
_INDICES = re.compile(r"(?:list|tuple) indices must be integers(?: or slices)?, not (\w+)")
_INTEGER = re.compile(r"'(\w+)' object cannot be interpreted as an integer")
_FORMAT = re.compile(r"Unknown format code '(\w)' for object of type '(\w+)'")
_MUST_BE = re.compile(r"(?:must be|expected) (str|int|float)(?:, bytes or os\.PathLike object)?(?: or [\w ]+)?, "
                      r"not (\w+)")
_OPS: dict[str, type[ast.operator]] = {
    "+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod, "**": ast.Pow,
}
_CMPS: dict[str, type[ast.cmpop]] = {"<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE}
_CONVERTIBLE = {"int", "float", "str", "Decimal"}
_INT_CODES = set("bcdoxXn")
_FLOAT_CODES = set("eEfFgG%")


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _known_type(ctx: TemplateContext, fault: Fault, node: ast.AST) -> str | None:
    """What is known of a value's type: a literal's, the failing run's local, or the parameter's annotation."""
    found = literal_type(node)
    if found is not None:
        return found
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONVERTIBLE:
        return node.func.id
    if not isinstance(node, ast.Name):
        return None
    frame = ctx.diagnosis.fault_frame.frame if ctx.diagnosis.fault_frame else None
    if frame is not None and node.id in frame.locals:
        observed = frame.locals[node.id]
        text = message_string(observed)
        if text is not None:
            return "str"
        if re.fullmatch(r"-?\d+", observed.strip()):
            return "int"
        if re.fullmatch(r"-?\d+\.\d*(?:[eE][-+]?\d+)?", observed.strip()):
            return "float"
    if fault.function is not None:
        for arg in parameters(fault.function):
            if arg.arg == node.id and arg.annotation is not None:
                ann = ast.unparse(arg.annotation)
                return _short(ann) if re.fullmatch(r"[\w.]+", ann) else None
    return None


def _observed(ctx: TemplateContext, node: ast.AST) -> str | None:
    """The failing run's value of a name, as the log's frame locals show it (a repr), else None."""
    frame = ctx.diagnosis.fault_frame.frame if ctx.diagnosis.fault_frame else None
    if frame is None or not isinstance(node, ast.Name):
        return None
    return frame.locals.get(node.id)


def _convertible(ctx: TemplateContext, node: ast.AST, target: str) -> bool:
    """False when the failing run shows text that the target type cannot read (``int('abc')``)."""
    observed = _observed(ctx, node)
    text = message_string(observed) if observed is not None else None
    if text is None or target not in ("int", "float", "Decimal"):
        return True
    try:
        float(text.strip())
    except ValueError:
        return False
    return target != "int" or text.strip().lstrip("+-").isdigit()


def _guard(target: str, got: str) -> str:
    """The types passed through untouched: any real number for a numeric target unless the bad type is one."""
    if target in ("int", "float") and got not in ("int", "float", "bool"):
        return "(int, float)"
    return target


def _convert(src: Source, node: ast.AST, target: str, got: str) -> str | None:
    """``x if isinstance(x, T) else T(x)`` (plain ``T(x)`` for an expression not safe to evaluate twice)."""
    seg = src.segment(node)
    if target == "Decimal":
        if "Decimal" not in module_names(src.tree):
            return None
        call = f"Decimal(str({seg}))"
    else:
        call = f"{target}({seg})"
    if not is_simple(node):
        return call
    return conditional(src, node, f"isinstance({seg}, {_guard(target, got)})", call)


def _offer(ctx: TemplateContext, fault: Fault, node: ast.AST, target: str, got: str, why: str, score: float,
           kind: str) -> Candidate | None:
    src = fault.source
    text = _convert(src, node, target, got)
    if text is None or not _convertible(ctx, node, target):
        return None
    seg = src.segment(node)
    return candidate(
        f"coerce-{kind}-{target.lower()}", src, Edit(src).replace(node, text).apply(),
        why + f" Convert `{seg}` to {target} where it is used, only when it is not one already; a value "
        "that cannot be converted still raises.", score,
    )


def _pick(ctx: TemplateContext, fault: Fault, pair: tuple[ast.AST, ast.AST], types: tuple[str, str],
          text: bool = False) -> list[tuple[ast.AST, str, str, float]]:
    """Which operand to convert, to what, from what: the one whose known type is the wrong one, else either.

    ``text``: whether the operation also exists on text (``+``); otherwise a number is never made text.
    """
    out: list[tuple[ast.AST, str, str, float]] = []
    for i in (0, 1):
        node, other = pair[i], pair[1 - i]
        have, want = _short(types[i]), _short(types[1 - i])
        if want not in _CONVERTIBLE or have == want or isinstance(node, ast.Constant) or (want == "str" and not text):
            continue
        known_other = _known_type(ctx, fault, other)
        known = _known_type(ctx, fault, node)
        if known == want:
            continue  # its annotation or the failing run says it is already of the other type
        score = 0.6
        if known_other == want or isinstance(other, ast.Constant):
            score += 0.15  # the other side is known to have the type the operation expects
        out.append((node, want, have, score))
    return out


def _binary(ctx: TemplateContext, fault: Fault, op: str, left_t: str, right_t: str) -> list[Candidate | None]:
    aug = op.endswith("=") and op.rstrip("=") in _OPS
    op_type = _OPS.get(op.rstrip("=") if aug else op)
    if op_type is None or "NoneType" in (left_t, right_t):
        return []
    for node in fault.nodes((ast.BinOp, ast.AugAssign)):
        if aug and isinstance(node, ast.AugAssign) and isinstance(node.op, op_type):
            pair: tuple[ast.AST, ast.AST] = (node.target, node.value)
            picks = [p for p in _pick(ctx, fault, pair, (left_t, right_t), op_type is ast.Add) if p[0] is node.value]
        elif not aug and isinstance(node, ast.BinOp) and isinstance(node.op, op_type):
            pair = (node.left, node.right)
            picks = _pick(ctx, fault, pair, (left_t, right_t), op_type is ast.Add)
        else:
            continue
        why = (f"`{fault.source.segment(node)}` at {fault.path}:{node.lineno} applies `{op}` to a {_short(left_t)} "
               f"and a {_short(right_t)}.")
        return [_offer(ctx, fault, n, want, have, why, score, "operand") for n, want, have, score in picks]
    return []


def _concat(ctx: TemplateContext, fault: Fault, target: str, got: str) -> list[Candidate | None]:
    """``a + b`` with ``a`` text and ``b`` a number: ``b`` made text, or ``a`` parsed when ``b`` is known a number.

    In a chain ``"a" + b + c`` the innermost addition is the one Python evaluates first.
    """
    if target != "str" or got not in _CONVERTIBLE:
        return []
    adds = [n for n in fault.nodes(ast.BinOp) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add)]
    for node in sorted(adds, key=lambda n: fault.source.span(n)[2:]):
        if _known_type(ctx, fault, node.right) == target:
            continue
        why = (f"`{fault.source.segment(node)}` at {fault.path}:{node.lineno} adds a {got} to a {target}, and "
               "Python does not convert it implicitly.")
        picks = _pick(ctx, fault, (node.left, node.right), (target, got), text=True)
        return [_offer(ctx, fault, n, want, have, why, score, "operand") for n, want, have, score in picks]
    return []


def _compare(ctx: TemplateContext, fault: Fault, op: str, left_t: str, right_t: str) -> list[Candidate | None]:
    cmp_type = _CMPS.get(op)
    if cmp_type is None or "NoneType" in (left_t, right_t):
        return []
    for node in fault.nodes(ast.Compare):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for i, cmp in enumerate(node.ops):
            if not isinstance(cmp, cmp_type):
                continue
            why = (f"`{fault.source.segment(node)}` at {fault.path}:{node.lineno} orders a {_short(left_t)} "
                   f"against a {_short(right_t)}.")
            picks = _pick(ctx, fault, (operands[i], operands[i + 1]), (left_t, right_t))
            return [_offer(ctx, fault, n, want, have, why, score, "compared") for n, want, have, score in picks]
    return []


def _repeat(ctx: TemplateContext, fault: Fault, got: str) -> list[Candidate | None]:
    """``"-" * width`` with ``width`` text: the side that is not the sequence is the count."""
    for node in fault.nodes(ast.BinOp):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult)):
            continue
        sides = [node.left, node.right]
        known = [_known_type(ctx, fault, s) for s in sides]
        counts = [s for s, k in zip(sides, known, strict=True)
                  if k not in ("str", "list", "tuple", "bytes") and not isinstance(s, ast.Constant)]
        if len(counts) != 1 and "int" in known:
            counts = [s for s, k in zip(sides, known, strict=True) if k == "int" and not isinstance(s, ast.Constant)]
        if len(counts) != 1:
            return []  # which side is the count is not known
        why = (f"`{fault.source.segment(node)}` at {fault.path}:{node.lineno} repeats a sequence by a {got}, "
               "but a repeat count must be an int.")
        return [_offer(ctx, fault, counts[0], "int", got, why, 0.7, "count")]
    return []


def _index(ctx: TemplateContext, fault: Fault, got: str) -> list[Candidate | None]:
    if got not in ("str", "float"):
        return []
    out: list[Candidate | None] = []
    for node in fault.nodes(ast.Subscript):
        if not isinstance(node, ast.Subscript) or isinstance(node.slice, ast.Slice | ast.Constant | ast.Tuple):
            continue
        if _known_type(ctx, fault, node.slice) == "int":
            continue
        why = (f"`{fault.source.segment(node)}` at {fault.path}:{node.lineno} indexes a sequence with a {got}, "
               "and sequence indices must be integers.")
        out.append(_offer(ctx, fault, node.slice, "int", got, why, 0.65 if got == "str" else 0.5, "index"))
    return out


def _call_args(ctx: TemplateContext, fault: Fault, target: str, got: str, kind: str, why: str) -> list[
        Candidate | None]:
    """The one argument at the fault line that is not already known to have the type the call needs."""
    calls = [n for n in fault.nodes(ast.Call) if isinstance(n, ast.Call)]
    for node in sorted(calls, key=lambda n: len(fault.source.segment(n))):  # the innermost call raised
        values = [*node.args, *(k.value for k in node.keywords)]
        suspects = [v for v in values if not isinstance(v, ast.Constant | ast.Starred)
                    and _known_type(ctx, fault, v) != target]
        observed = [v for v in suspects if _known_type(ctx, fault, v) == got]
        pick = observed if len(observed) == 1 else suspects
        if len(pick) != 1:
            continue
        text = why.format(call=f"`{fault.source.segment(node)}` at {fault.path}:{node.lineno}")
        return [_offer(ctx, fault, pick[0], target, got, text, 0.65 if got == "str" else 0.5, kind)]
    return []


def _format(ctx: TemplateContext, fault: Fault, code: str, got: str) -> list[Candidate | None]:
    target = "int" if code in _INT_CODES else "float" if code in _FLOAT_CODES else None
    if target is None or got != "str":
        return []
    out: list[Candidate | None] = []
    for node in fault.nodes(ast.FormattedValue):
        if not isinstance(node, ast.FormattedValue) or node.format_spec is None:
            continue
        spec = ast.unparse(node.format_spec)
        if not spec.rstrip("'\"").endswith(code) or _known_type(ctx, fault, node.value) == target:
            continue
        why = (f"The f-string at {fault.path}:{node.lineno} formats `{fault.source.segment(node.value)}` with "
               f"`:{code}`, which needs a {target}, but it arrives as text.")
        out.append(_offer(ctx, fault, node.value, target, got, why, 0.7, "format"))
    if out:
        return out
    return _call_args(ctx, fault, target, got, "format",
                      "{call} formats a value with `:" + code + f"`, which needs a {target}, but it arrives as text.")


def generate(ctx: TemplateContext) -> list[Candidate]:
    return dispatch(ctx, [
        (_OPERAND, lambda c, f, m: _binary(c, f, m.group(1).strip(), m.group(2), m.group(3))),
        (_CONCAT, lambda c, f, m: _concat(c, f, m.group(1), m.group(2))),
        (_COMPARE, lambda c, f, m: _compare(c, f, m.group(1), m.group(2), m.group(3))),
        (_REPEAT, lambda c, f, m: _repeat(c, f, m.group(1))),
        (_INDICES, lambda c, f, m: _index(c, f, m.group(1))),
        (_INTEGER, lambda c, f, m: _call_args(
            c, f, "int", m.group(1), "argument", "{call} is given a " + m.group(1) + " where an integer is needed.")),
        (_FORMAT, lambda c, f, m: _format(c, f, m.group(1), m.group(2))),
        (_MUST_BE, lambda c, f, m: _call_args(
            c, f, m.group(1), m.group(2), "argument",
            "{call} is given a " + m.group(2) + " where a " + m.group(1) + " is needed.")),
    ])
