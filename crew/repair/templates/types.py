"""Type mismatch: convert the operand of the wrong type, the one the message names.

``"INV-" + number`` needs ``str(number)``; ``count + "3"`` needs ``int("3")``; a comparison of a
``str`` with an ``int`` needs the text parsed. Which operand is wrong comes from the message (the
order of the types it names) checked against the AST (a string literal is never the one to change).
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
    dispatch,
)

HANDLES: tuple[RootCause, ...] = (RootCause.TYPE_MISMATCH,)

_CONCAT = re.compile(r'can only concatenate str \(not "(\w+)"\) to str')
_OPERAND = re.compile(r"unsupported operand type\(s\) for ([^:]+): '(\w+)' and '(\w+)'")
_COMPARE = re.compile(r"'([<>=!]+)' not supported between instances of '(\w+)' and '(\w+)'")
_JOIN = re.compile(r"sequence item \d+: expected str instance, (\w+) found")
_PERCENT = re.compile(r"%(\w) format: an? (real number|integer) is required, not (\w+)|must be real number, not (\w+)")
_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?([diouxXeEfFgGcrsa%])")
_OPS: dict[str, type[ast.operator]] = {
    "+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod, "**": ast.Pow,
}
_CMPS: dict[str, type[ast.cmpop]] = {"<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE}
_NUMERIC = {"int": "int", "float": "float", "Decimal": "Decimal"}


def _stringy(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "repr", "format"):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
        "format", "join", "upper", "lower", "strip", "replace", "zfill",
    ):
        return True
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)):
        return False
    return _stringy(node.left) or _stringy(node.right)


def _wrap(src: Source, node: ast.AST, func: str) -> str:
    return f"{func}({src.segment(node)})"


def _concat_chain(node: ast.AST) -> list[ast.expr] | None:
    """The operands of a left-nested ``a + b + c`` chain."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _concat_chain(node.left)
        if left is None:
            return None
        return [*left, node.right]
    return [node] if isinstance(node, ast.expr) else None


def _outermost_add(src: Source, node: ast.BinOp) -> ast.BinOp:
    top = node
    parent = src.parent(top)
    while isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add) and parent.left is top:
        top = parent
        parent = src.parent(top)
    return top


def _concat(ctx: TemplateContext, fault: Fault, other: str) -> list[Candidate | None]:
    src = fault.source
    adds = [n for n in fault.nodes(ast.BinOp) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add)]
    target = next((n for n in adds if _stringy(n.left) and not _stringy(n.right)), None)
    if target is None and len(adds) == 1 and not _stringy(adds[0].right):
        target = adds[0]
    if target is None:
        return []
    top = _outermost_add(src, target)
    parts = _concat_chain(top)
    # Which operand of a chain is the non-text one is only known at run time; str() of text is a no-op,
    # so every operand that is not visibly text is converted.
    wrap = [p for p in (parts or [target.right]) if not _stringy(p)] or [target.right]
    operands = ", ".join(f"`{src.segment(p)}`" for p in wrap)
    article = "an" if other[:1] in "aeiou" else "a"
    why = (f"`{src.segment(top)}` at {fault.path}:{top.lineno} adds {article} {other} ({operands}) to text, and "
           f"Python does not convert it implicitly.")
    edit = Edit(src)
    for part in wrap:
        edit.replace(part, _wrap(src, part, "str"))
    out: list[Candidate | None] = [candidate(
        "str-convert-operand", src, edit.apply(),
        why + f" Convert {operands} with `str()` where the text is built.", 0.8,
    )]
    if parts and all(not isinstance(p, ast.JoinedStr) for p in parts) and any(
        isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts
    ):
        pieces: list[str] = []
        for part in parts:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                pieces.append(part.value.replace("{", "{{").replace("}", "}}").replace("\\", "\\\\")
                              .replace('"', '\\"').replace("\n", "\\n"))
            else:
                inner = src.segment(part)
                if "\n" in inner or '"' in inner or "\\" in inner:
                    pieces = []
                    break
                pieces.append("{" + inner + "}")
        if pieces:
            out.append(candidate(
                "fstring-format", src, Edit(src).replace(top, 'f"' + "".join(pieces) + '"').apply(),
                why + " Build the text with an f-string, which formats every part.", 0.65,
            ))
    return out


def _text_and_number(left_t: str, right_t: str) -> str | None:
    """The numeric type's parser (``int``/``float``) when exactly one operand is text and the other a number."""
    if "str" not in (left_t, right_t) or (left_t == "str") == (right_t == "str"):
        return None
    return _NUMERIC.get(right_t if left_t == "str" else left_t)


def _operand(ctx: TemplateContext, fault: Fault, op: str, left_t: str, right_t: str) -> list[Candidate | None]:
    src = fault.source
    numeric = _text_and_number(left_t, right_t)
    if numeric is None:
        return []
    aug = op.endswith("=") and op != "=="
    op_type = _OPS.get(op.rstrip("=") if aug else op)
    if op_type is None:
        return []
    target: ast.AST | None = None
    for node in fault.nodes((ast.BinOp, ast.AugAssign)):
        if aug and isinstance(node, ast.AugAssign) and isinstance(node.op, op_type):
            target = node.value if right_t == "str" else None
        elif not aug and isinstance(node, ast.BinOp) and isinstance(node.op, op_type):
            target = node.left if left_t == "str" else node.right
        if target is not None:
            break
    if target is None or (isinstance(target, ast.Constant) and not isinstance(target.value, str)):
        return []
    text = src.segment(target)
    why = (f"`{text}` at {fault.path}:{fault.line} is text where a {numeric} is expected for `{op}`. "
           f"Parse it with `{numeric}()` at the point of use, like the other operand.")
    out: list[Candidate | None] = [
        candidate(f"{numeric.lower()}-convert-operand", src, Edit(src).replace(target, f"{numeric}({text})").apply(),
                  why, 0.75),
    ]
    if numeric == "int":
        out.append(candidate("float-convert-operand", src, Edit(src).replace(target, f"float({text})").apply(),
                             why.replace("int()", "float()") + " (float also accepts decimals).", 0.5))
    return out


def _compare(ctx: TemplateContext, fault: Fault, op: str, left_t: str, right_t: str) -> list[Candidate | None]:
    src = fault.source
    numeric = _text_and_number(left_t, right_t)
    cmp_type = _CMPS.get(op)
    if numeric is None or cmp_type is None:
        return []
    for node in fault.nodes(ast.Compare):
        if not isinstance(node, ast.Compare) or len(node.ops) != 1 or not isinstance(node.ops[0], cmp_type):
            continue
        target = node.left if left_t == "str" else node.comparators[0]
        if isinstance(target, ast.Constant) and not isinstance(target.value, str):
            return []
        text = src.segment(target)
        return [candidate(
            f"{numeric.lower()}-convert-compared", src, Edit(src).replace(target, f"{numeric}({text})").apply(),
            f"`{src.segment(node)}` at {fault.path}:{node.lineno} compares text with a number. "
            f"Parse `{text}` with `{numeric}()` so the comparison is numeric.", 0.75,
        )]
    return []


def _join(ctx: TemplateContext, fault: Fault) -> list[Candidate | None]:
    src = fault.source
    for node in fault.nodes(ast.Call):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
                and len(node.args) == 1 and not node.keywords):
            arg = node.args[0]
            return [candidate(
                "str-join-items", src, Edit(src).replace(arg, f"map(str, {src.segment(arg)})").apply(),
                f"`{src.segment(node)}` at {fault.path}:{node.lineno} joins items that are not all text. "
                "Convert each item with `str` as it is joined.", 0.75,
            )]
    return []


def _percent(ctx: TemplateContext, fault: Fault, conv: str | None, got: str) -> list[Candidate | None]:
    """``"%d units" % (name, count)`` with ``count`` a str: convert that one operand, as the format says."""
    if got != "str":
        return []
    src = fault.source
    for node in fault.nodes(ast.BinOp):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str)):
            continue
        specs = [c for c in _SPEC.findall(node.left.value) if c != "%"]
        numeric = [i for i, c in enumerate(specs) if (c == conv if conv else c in "eEfFgG")]
        if len(numeric) != 1:
            return []  # which operand failed is ambiguous
        index = numeric[0]
        values = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
        if len(values) != len(specs) or isinstance(values[index], ast.Constant | ast.Starred):
            return []
        value = values[index]
        func = "float" if specs[index] in "eEfFgG" else "int"
        text = src.segment(value)
        return [candidate(
            "convert-format-operand", src, Edit(src).replace(value, f"{func}({text})").apply(),
            f"The format at {fault.path}:{node.lineno} renders `{text}` with `%{specs[index]}`, which needs a "
            f"number, but `{text}` arrives as text. Convert it with `{func}()` where it is formatted; text that is "
            "not a number still raises.", 0.8,
        )]
    return []


def generate(ctx: TemplateContext) -> list[Candidate]:
    return dispatch(ctx, [
        (_CONCAT, lambda c, f, m: _concat(c, f, m.group(1))),
        (_OPERAND, lambda c, f, m: _operand(c, f, m.group(1).strip(), m.group(2), m.group(3))),
        (_COMPARE, lambda c, f, m: _compare(c, f, m.group(1), m.group(2), m.group(3))),
        (_JOIN, lambda c, f, m: _join(c, f)),
        (_PERCENT, lambda c, f, m: _percent(c, f, m.group(1), m.group(3) or m.group(4))),
    ])
