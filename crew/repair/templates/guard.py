"""Guard: check the failing sub-expression's value where it is used, with the value the code's contract implies.

Covers a value that is None, zero, too short, without a key or without an attribute at the
expression that failed, in any syntactic position (an augmented assignment, a call such as
``len()`` or ``int()``, a loop or comprehension, an attribute chain, an f-string, a return, a
condition). The failing expression is the one the PEP 657 carets underline when the log has
them, else the one the message names. It is safe because the guard only changes what happens on
the crashing value: every other value takes the original path, unchanged. The guarded value is
read from the code, never invented: the type a builtin call returns, the identity of the
arithmetic it feeds, an empty iterable for a loop, an empty string in an f-string, a falsy
value for a condition, a skipped item in a comprehension or loop, and at a return the
function's contract (its annotation, docstring, other returns, and how its callers use it).
A value whose evaluation may have effects (a call) is never evaluated twice: nothing is offered.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    FunctionNode,
    Source,
    candidate,
    finish,
    is_simple,
    locate,
    message_string,
    repo_sources,
)

HANDLES: tuple[RootCause, ...] = (
    RootCause.NONE_DEREFERENCE, RootCause.DIVISION_BY_ZERO, RootCause.INDEX_OUT_OF_RANGE,
    RootCause.MISSING_KEY, RootCause.TYPE_MISMATCH, RootCause.MISSING_ATTRIBUTE,
)
# A missing attribute on a real object is more often a rename or a missing initialisation than an
# optional field: tolerating it ranks below the generators that name that cause.
_ATTR_PENALTY = 0.25

MAX_CALLER_FILES = 300
_ATTR = re.compile(r"'(\w+)' object has no attribute '([^']+)'")
_OPERAND = re.compile(r"unsupported operand type\(s\) for (\S+): '(\w+)' and '(\w+)'")
_ARGUMENT = re.compile(r"^(\w+)\(\) argument.* not '\w+'")
_BAD_TYPE = re.compile(
    r"'(\w+)' object is not (?:iterable|subscriptable|callable)|object of type '(\w+)' has no len\(\)"
    r"|argument of type '(\w+)' is not iterable|\(\) argument.* not '(\w+)'"
)
# A wrong type is checked with isinstance only for builtins: their name is always bound.
_BUILTIN_TYPES = frozenset({"int", "float", "str", "bytes", "bool", "list", "dict", "tuple", "set", "frozenset",
                            "complex", "bytearray", "range"})
# What a builtin returns, as the empty value of that type: a guarded call of it yields this.
_RETURNS = {"len": "0", "sum": "0", "int": "0", "float": "0.0", "str": '""', "bool": "False", "abs": "0",
            "round": "0", "list": "[]", "sorted": "[]", "dict": "{}", "set": "set()", "tuple": "()",
            "frozenset": "frozenset()", "any": "False", "all": "True", "repr": '""', "ord": "0"}
_ITERATING = {"list", "tuple", "set", "sorted", "sum", "enumerate", "zip", "dict", "frozenset", "any", "all",
              "reversed", "map", "filter", "iter", "len"}
_TYPE_EMPTY = (("str", '""'), ("int", "0"), ("float", "0.0"), ("bool", "False"), ("list", "[]"),
               ("dict", "{}"), ("set", "set()"), ("tuple", "()"), ("Sequence", "[]"), ("Iterable", "[]"),
               ("Mapping", "{}"), ("Iterator", "iter(())"))
_DOC_RETURNS = re.compile(
    r"returns?\s+(?:an?\s+)?(?P<v>None|0\.0|0|zero|False|True|an?\s+empty\s+(?:list|string|str|dict|set|tuple)|"
    r"empty\s+(?:list|string|str|dict|set|tuple)|\"\"|''|\[\]|\{\})", re.IGNORECASE,
)
_DOC_OR = re.compile(
    r"\bor\s+(?:an?\s+)?(?P<v>None|0\.0|0|zero|False|empty\s+(?:list|string|str|dict|set|tuple))\b"
    r"[^.]*\b(?:if|when|for)\b", re.IGNORECASE,
)
_DOC_VALUES = {"none": "None", "0": "0", "zero": "0", "0.0": "0.0", "false": "False", "true": "True",
               "list": "[]", "string": '""', "str": '""', "dict": "{}", "set": "set()", "tuple": "()",
               '""': '""', "''": '""', "[]": "[]", "{}": "{}"}


@dataclass(frozen=True)
class Failing:
    """The value that was bad (``value``), the expression it failed in (``use``), the check that makes it good."""

    kind: str  # none, zero, short, key, attr
    value: ast.expr
    use: ast.AST
    cond: str


# ------------------------------------------------------------------ the failing expression


def _caret_span(fault: Fault) -> tuple[int, int, int, int] | None:
    """The source span the log's carets underline on the fault line, when the logged line is the source's."""
    mapped = fault.diagnosis.fault_frame
    frame = mapped.frame if mapped else None
    if frame is None or frame.carets is None or not frame.code or frame.line != fault.line:
        return None
    line = fault.source.lines[fault.line - 1]
    stripped = line.strip()
    if stripped != frame.code.strip():
        return None
    indent = len(line) - len(line.lstrip())
    return fault.line, indent + frame.carets.start, fault.line, indent + frame.carets.end


def _index_cond(seq: str, node: ast.Subscript) -> str | None:
    sl = node.slice
    value: int | None = None
    if isinstance(sl, ast.Constant) and isinstance(sl.value, int) and not isinstance(sl.value, bool):
        value = sl.value
    elif isinstance(sl, ast.UnaryOp) and isinstance(sl.op, ast.USub) and isinstance(sl.operand, ast.Constant):
        raw = sl.operand.value
        value = -raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if value is not None:
        if value in (0, -1):
            return seq
        return f"len({seq}) > {value}" if value >= 0 else f"len({seq}) >= {-value}"
    if isinstance(sl, ast.Slice) or not is_simple(sl):
        return None
    return f"-len({seq}) <= {ast.unparse(sl)} < len({seq})"


def options(fault: Fault, ctx: TemplateContext) -> list[Failing]:
    """Every (value, use) the message allows in the fault statement, those on the fault line first."""
    d = ctx.diagnosis
    msg = d.exc_message
    src = fault.source
    out: list[Failing] = []

    def add(kind: str, value: ast.AST, use: ast.AST, cond: str | None = None) -> None:
        if isinstance(value, ast.expr) and not isinstance(value, ast.Constant):
            text = src.segment(value)
            out.append(Failing(kind, value, use, cond or f"{text} is not None"))

    none = "'NoneType'" in msg or "NoneType" in msg
    attr = _ATTR.search(msg)
    if d.exc_type == "ZeroDivisionError":
        for n in fault.nodes((ast.BinOp, ast.AugAssign)):
            if isinstance(n, ast.BinOp | ast.AugAssign) and isinstance(n.op, ast.Div | ast.FloorDiv | ast.Mod):
                right = n.right if isinstance(n, ast.BinOp) else n.value
                add("zero", right, n, src.segment(right) if is_simple(right) else f"({src.segment(right)})")
        return out
    if d.exc_type == "IndexError":
        for n in fault.nodes(ast.Subscript):
            if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load):
                cond = _index_cond(src.segment(n.value), n)
                if cond:
                    add("short", n.value, n, cond)
        return out
    if d.exc_type == "KeyError":
        key = message_string(msg)
        for n in fault.nodes(ast.Subscript):
            if (isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load) and isinstance(n.slice, ast.Constant)
                    and n.slice.value == key):
                add("key", n.value, n, f"{src.segment(n.slice)} in {src.segment(n.value)}")
        return out
    if attr and attr.group(1) != "NoneType":
        for n in fault.nodes(ast.Attribute):
            if isinstance(n, ast.Attribute) and n.attr == attr.group(2) and isinstance(n.ctx, ast.Load):
                add("attr", n.value, n, f"hasattr({src.segment(n.value)}, {attr.group(2)!r})")
        return out
    typed = _BAD_TYPE.search(msg)
    bad = next((g for g in typed.groups() if g), None) if typed else ("NoneType" if none else None)
    if bad is None or (bad != "NoneType" and bad not in _BUILTIN_TYPES):
        return out
    kind = "none" if bad == "NoneType" else "type"

    def check(value: ast.AST) -> str:
        text = src.segment(value)
        return f"{text} is not None" if kind == "none" else f"not isinstance({text}, {bad})"

    def put(value: ast.AST, use: ast.AST) -> None:
        if isinstance(value, ast.expr) and not isinstance(value, ast.Constant):
            add(kind, value, use, check(value))

    for n in fault.nodes(ast.AST):
        attribute = attr and isinstance(n, ast.Attribute) and n.attr == attr.group(2)
        subscript = "subscriptable" in msg and isinstance(n, ast.Subscript)
        if (attribute or subscript) and isinstance(n, ast.Attribute | ast.Subscript) and isinstance(n.ctx, ast.Load):
            put(n.value, n)
        elif "not callable" in msg and isinstance(n, ast.Call):
            put(n.func, n)
        elif "iterable" in msg and isinstance(n, ast.For | ast.comprehension):
            put(n.iter, n.iter)
        elif "iterable" in msg and isinstance(n, ast.Compare) and isinstance(n.ops[0], ast.In | ast.NotIn):
            put(n.comparators[0], n)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and len(n.args) == 1 and not n.keywords and (
            ("has no len()" in msg and n.func.id == "len") or ("iterable" in msg and n.func.id in _ITERATING)
            or ((m := _ARGUMENT.search(msg)) and m.group(1) == n.func.id)
        ):
            put(n.args[0], n)
        elif kind == "none" and (op := _OPERAND.search(msg)) and isinstance(n, ast.BinOp | ast.AugAssign):
            # Which operand is None the message says; for two other types it does not (either may be wrong).
            left = n.left if isinstance(n, ast.BinOp) else n.target
            right = n.right if isinstance(n, ast.BinOp) else n.value
            side = left if op.group(2) == "NoneType" else right if op.group(3) == "NoneType" else None
            if side is not None and op.group(1).rstrip("=") == _OP_SYMBOL.get(type(n.op), ""):
                put(side, n)
    return out
    for n in fault.nodes(ast.AST):
        attribute = attr and isinstance(n, ast.Attribute) and n.attr == attr.group(2)
        subscript = "subscriptable" in msg and isinstance(n, ast.Subscript)
        if (attribute or subscript) and isinstance(n, ast.Attribute | ast.Subscript) and isinstance(n.ctx, ast.Load):
            add("none", n.value, n)
        elif "not callable" in msg and isinstance(n, ast.Call):
            add("none", n.func, n)
        elif "iterable" in msg and isinstance(n, ast.For | ast.comprehension):
            add("none", n.iter, n.iter)
        elif "iterable" in msg and isinstance(n, ast.Compare) and isinstance(n.ops[0], ast.In | ast.NotIn):
            add("none", n.comparators[0], n)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and len(n.args) == 1 and not n.keywords and (
            ("has no len()" in msg and n.func.id == "len") or ("iterable" in msg and n.func.id in _ITERATING)
            or ((m := _ARGUMENT.search(msg)) and m.group(1) == n.func.id)
        ):
            add("none", n.args[0], n)
        elif (op := _OPERAND.search(msg)) and isinstance(n, ast.BinOp | ast.AugAssign):
            left = n.left if isinstance(n, ast.BinOp) else n.target
            right = n.right if isinstance(n, ast.BinOp) else n.value
            side = left if op.group(2) == "NoneType" else right if op.group(3) == "NoneType" else None
            if side is not None and op.group(1).rstrip("=") == _OP_SYMBOL.get(type(n.op), ""):
                add("none", side, n)
    return out


_OP_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
              ast.Pow: "**"}


def failing(ctx: TemplateContext, fault: Fault) -> Failing | None:
    """The one failing (value, use): the carets decide, else it must be the only value that can fail."""
    found = [o for o in options(fault, ctx) if is_simple(o.value)]
    if not found:
        return None
    span = _caret_span(fault)
    src = fault.source
    if span is not None:
        exact = [o for o in found if src.span(o.use) == span or src.span(o.value) == span]
        if exact:
            return exact[0]
        inside = [o for o in found if _within(src.span(o.use), span)]
        if inside:
            return inside[0]
    # Without carets the diagnosis' culprit is the first candidate on the line, a guess: not used.
    distinct = {src.segment(o.value) for o in found}
    return found[0] if len(distinct) == 1 else None


def _within(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return (outer[0], outer[1]) <= (inner[0], inner[1]) and (inner[2], inner[3]) <= (outer[2], outer[3])


# ------------------------------------------------------------------ the guarded value


def _chain_top(src: Source, node: ast.AST) -> ast.AST:
    """The whole attribute chain a use starts: ``a.b`` in ``a.b.c().d`` guards all of it."""
    current = node
    while True:
        parent = src.parent(current)
        if (isinstance(parent, ast.Attribute | ast.Subscript) and parent.value is current) or (
            isinstance(parent, ast.Call) and parent.func is current
        ):
            current = parent
        else:
            return current


def annotation_empty(ann: ast.expr | None) -> str | None:
    """The empty value of an annotation's type; None for an Optional (None is in the contract)."""
    if ann is None:
        return None
    text = ast.unparse(ann)
    if re.search(r"\bNone\b|Optional", text):
        return "None"
    head = re.sub(r"^(?:typing|collections\.abc|builtins)\.", "", text.split("[", 1)[0]).strip()
    for name, empty in _TYPE_EMPTY:
        if head.lower() == name.lower():
            return empty
    return None


def _use_needs(src: Source, call: ast.AST) -> str | None:
    """What the expression's consumer needs of it when it is missing: iterated, added, tested, formatted."""
    parent = src.parent(call)
    if isinstance(parent, ast.For | ast.comprehension) and parent.iter is call:
        return "[]"
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in _ITERATING:
        return "[]"
    if isinstance(parent, ast.BinOp | ast.AugAssign) and isinstance(parent.op, ast.Add | ast.Sub):
        return "0"
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
        return "1"
    if isinstance(parent, ast.FormattedValue):
        return '""'
    if isinstance(parent, ast.If | ast.While | ast.IfExp | ast.BoolOp | ast.Assert) or (
        isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)
    ):
        return "None"
    return None


def caller_needs(ctx: TemplateContext, name: str) -> str | None:
    """The value every caller of ``name`` in the repo can take: they agree, or nothing is said."""
    needs: set[str] = set()
    for source in repo_sources(ctx, f"{name}(", MAX_CALLER_FILES):
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Name) and node.func.id == name)
                or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
            ):
                need = _use_needs(source, node)
                if need is not None:
                    needs.add(need)
    return needs.pop() if len(needs) == 1 else None


def contract(
    ctx: TemplateContext, src: Source, func: FunctionNode | None, skip: ast.AST | None,
) -> tuple[str, str] | None:
    """(the value the function returns when it has nothing to return, where the code says so)."""
    if func is None:
        return None
    from_ann = annotation_empty(func.returns)
    if from_ann is not None:
        return from_ann, f"its return annotation `{ast.unparse(func.returns)}`" if func.returns else ""
    doc = ast.get_docstring(func) or ""
    if m := (_DOC_RETURNS.search(doc) or _DOC_OR.search(doc)):
        key = m.group("v").lower().split()[-1]
        if key in _DOC_VALUES:
            return _DOC_VALUES[key], "its docstring"
    for node in ast.walk(func):
        if (isinstance(node, ast.Return) and node is not skip and node.value is not None
                and src.function_of(node) is func):
            value = node.value
            if isinstance(value, ast.Constant) and (value.value is None or value.value in ("", 0, False)):
                return ast.unparse(value), f"its other return on line {node.lineno}"
            if isinstance(value, ast.List | ast.Dict | ast.Tuple | ast.Set) and not ast.unparse(value).strip("[](){}"):
                return ast.unparse(value), f"its other return on line {node.lineno}"
    need = caller_needs(ctx, func.name)
    if need is not None:
        return need, "how its callers use the result"
    return None


def _position_value(ctx: TemplateContext, fault: Fault, g: ast.AST) -> tuple[str, str] | None:
    """The value ``g`` takes when guarded, from the type it has or the place it is used in."""
    src = fault.source
    if isinstance(g, ast.Call) and isinstance(g.func, ast.Name) and g.func.id in _RETURNS:
        return _RETURNS[g.func.id], f"what `{g.func.id}()` returns for nothing"
    parent = src.parent(g)
    if isinstance(parent, ast.Return) and parent is fault.stmt:
        return contract(ctx, src, fault.function, parent)
    if isinstance(parent, ast.AugAssign) and parent.value is g:
        ident = {ast.Add: "0", ast.Sub: "0", ast.Mult: "1", ast.Div: "1", ast.FloorDiv: "1", ast.BitOr: "0"}
        value = ident.get(type(parent.op))  # type: ignore[call-overload]
        return (value, f"the identity of `{_OP_SYMBOL.get(type(parent.op), '|')}=`") if value else None
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add | ast.Sub):
        other = parent.right if parent.left is g else parent.left
        text_like = isinstance(other, ast.JoinedStr) or (
            isinstance(other, ast.Constant) and isinstance(other.value, str))
        return ('""', "the empty string it is joined to") if text_like else ("0", "the identity of the sum")
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Mult):
        return "1", "the identity of the product"
    need = _use_needs(src, g)
    if need is not None:
        where = {"[]": "it is iterated", '""': "it is formatted into a string", "None": "only its truth is tested",
                 "0": "it is added"}.get(need, "its use")
        return need, where
    if isinstance(parent, ast.Compare) and all(isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot)
                                               for op in parent.ops):
        return "None", "it is only compared for equality"
    if isinstance(parent, ast.Assign | ast.AnnAssign) and parent is fault.stmt:
        ann = annotation_empty(parent.annotation) if isinstance(parent, ast.AnnAssign) else None
        if ann is not None:
            return ann, "the annotation of the name it is assigned to"
        return _later_needs(fault, parent)
    return None


def _later_needs(fault: Fault, stmt: ast.Assign | ast.AnnAssign) -> tuple[str, str] | None:
    """The value the assigned names can take, from their later uses in the function.

    A name that is later dereferenced (``x.a``, ``x[i]``, ``x()``) has no safe stand-in: a None there
    only moves the crash down, so nothing is offered.
    """
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if fault.function is None or not names:
        return None
    src = fault.source
    end = stmt.end_lineno or stmt.lineno
    needs: set[str] = set()
    for node in ast.walk(fault.function):
        if not (isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load)
                and node.lineno > end):
            continue
        parent = src.parent(node)
        if isinstance(parent, ast.Attribute | ast.Subscript) and parent.value is node or (
            isinstance(parent, ast.Call) and parent.func is node
        ):
            return None
        need = _use_needs(src, node)
        needs.add(need if need is not None else "None")
    if len(needs) > 1:
        needs.discard("None")
    if len(needs) == 1:
        return needs.pop(), "how the function uses the name it is assigned to"
    return ("None", "the name is not used again") if not needs else None


# ------------------------------------------------------------------ candidates


def _conditional(src: Source, g: ast.AST, cond: str, value: str) -> str:
    text = f"{src.segment(g)} if {cond} else {value}"
    parent = src.parent(g)
    bare = isinstance(parent, ast.Return | ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Expr | ast.keyword
                      | ast.FormattedValue) or (isinstance(parent, ast.Call) and g in parent.args
                                                and len(parent.args) == 1 and not parent.keywords) or (
        isinstance(parent, ast.For | ast.AsyncFor) and parent.iter is g)
    if isinstance(parent, ast.FormattedValue):
        outer = next((a for a in src.ancestors(parent) if isinstance(a, ast.JoinedStr)), None)
        quote = src.segment(outer).lstrip("rRbBuUfF")[:1] if outer is not None else "'"
        if value in ('""', "''"):  # before 3.12 an f-string cannot hold its own quote
            text = f"{src.segment(g)} if {cond} else {chr(39) * 2 if quote == chr(34) else chr(34) * 2}"
    return text if bare else f"({text})"


def _comprehension_filter(src: Source, f: Failing) -> ast.comprehension | None:
    """The comprehension whose loop binds the failing value and whose element or filter uses it."""
    names = {n.id for n in ast.walk(f.value) if isinstance(n, ast.Name)}
    for anc in src.ancestors(f.use):
        if isinstance(anc, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            for gen in anc.generators:
                bound = {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
                if names & bound and not _within(src.span(f.use), src.span(gen.iter)):
                    return gen
    return None


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    f = failing(ctx, fault)
    if f is None:
        return []
    src = fault.source
    stmt = fault.stmt
    kind = f.kind
    value_text = src.segment(f.value)
    what = {"none": "None", "zero": "zero", "short": "too short", "key": "missing the key",
            "attr": "missing the attribute", "type": "of the wrong type"}[kind]
    why = (f"`{value_text}` is {what} for this input, and `{src.segment(f.use)}` at {fault.path}:{fault.line} "
           "fails on it.")
    out: list[Candidate | None] = []
    gen = _comprehension_filter(src, f)
    if gen is not None:
        l1, c1, l2, c2 = src.span(gen.iter)
        upd = Edit(src).insert_at(l2, c2, f" if {f.cond}").apply()
        out.append(candidate(f"guard-{kind}-comprehension-skip", src, upd,
                             why + f" Skip the items where `{value_text}` is {what} in the comprehension.", 0.8))
    g = f.use if isinstance(f.use, ast.AugAssign | ast.Compare) else _chain_top(src, f.use)
    if isinstance(g, ast.AugAssign):
        found: tuple[str, str] | None = None
        if f.value is g.value:  # the added value is missing: the identity of the operation
            found = _position_value(ctx, fault, g.value)
            g = g.value
    elif isinstance(g, ast.expr):
        found = _position_value(ctx, fault, g)
    else:
        found = None
    if gen is None and found is not None and isinstance(g, ast.expr):
        fallback, reason = found
        upd = Edit(src).replace(g, _conditional(src, g, f.cond, fallback)).apply()
        is_return = isinstance(src.parent(g), ast.Return) and src.parent(g) is stmt
        out.append(candidate(
            f"guard-{kind}-expression", src, upd,
            why + f" Evaluate `{src.segment(g)}` only when `{f.cond}`, else {fallback} ({reason}).",
            0.75, expected_result=fallback if is_return and fallback != "None" else None,
        ))
    can_insert = (fault.function is not None and src.starts_its_line(stmt) and not src.in_nested_scope(f.use, stmt)
                  and not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))
    if can_insert and gen is None:
        negated = f"not ({f.cond})" if " " in f.cond else f"not {f.cond}"
        if src.in_loop(stmt):
            upd = Edit(src).insert_before(stmt, [f"if {negated}:", "    continue"]).apply()
            skip = why + f" Skip this item when `{value_text}` is {what}."
            out.append(candidate(f"guard-{kind}-skip", src, upd, skip, 0.7))
        ret = contract(ctx, src, fault.function, stmt if isinstance(stmt, ast.Return) else None)
        if ret is not None:
            fallback, reason = ret
            out.append(candidate(
                f"guard-{kind}-return", src,
                Edit(src).insert_before(stmt, [f"if {negated}:", f"    return {fallback}"]).apply(),
                why + f" Return {fallback} before the use ({reason}).",
                0.72 if isinstance(stmt, ast.Return) else 0.6,
                expected_result=fallback if isinstance(stmt, ast.Return) and fallback != "None" else None,
            ))
    if kind == "attr":
        out = [dataclasses.replace(c, score=round(c.score - _ATTR_PENALTY, 3)) if c else None for c in out]
    return finish(ctx, out)


def explain(ctx: TemplateContext) -> str | None:
    """Why no guard: the failing value is a call's result (guarding it would call it twice)."""
    fault = locate(ctx)
    if fault is None:
        return None
    opts = options(fault, ctx)
    if opts and not any(is_simple(o.value) for o in opts):
        return f"`{fault.source.segment(opts[0].value)}` is a call's result; a guard would evaluate it twice"
    return None
