"""Mutations at the fault line and its loop: bounds, loop conditions, base cases, argument order.

Covers four fault classes a one-token slip makes: an off-by-one bound (``IndexError`` at ``x[i]``
inside ``for i in range(... + 1)`` or ``while i <= len(x)``, or ``x[len(x)]``), a loop that pops
from a container that can become empty (``while True: x.pop()``), a recursion whose base case is
missing or never met (``RecursionError``: ``if n == 0`` stepping by two, or no base case at all),
and two arguments passed in each other's position (a ``TypeError`` in the callee, when the
callee's annotations accept the caller's values only the other way round). Each mutation changes
one operator, bound, condition or argument order; every value the code computed before for the
inputs that did not crash is kept unless the mutated bound was what let the crash through, and
the differential check on ordinary inputs is what proves it.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    FunctionNode,
    Source,
    candidate,
    finish,
    locate,
    neutral_default,
)
from crew.repair.templates._names import annotation_accepts, parameters, repo_functions, value_type

# A RecursionError is classified UNKNOWN, which no template handles: the base-case mutation answers
# ``generate`` directly until the taxonomy gives recursion a class of its own.
HANDLES: tuple[RootCause, ...] = (RootCause.INDEX_OUT_OF_RANGE, RootCause.TYPE_MISMATCH)

_INDEX = re.compile(r"index out of range|pop from (?:an )?empty|pop index out of range")
_EMPTY_POP = re.compile(r"pop from (?:an )?empty|empty (?:list|deque)|index out of range")
_RECURSION = re.compile(r"maximum recursion depth exceeded")
_STRICT = {ast.LtE: "<", ast.GtE: ">"}


def _same(src: Source, a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a) == ast.dump(b)


def _loop_of(src: Source, node: ast.AST) -> list[ast.For | ast.While]:
    """The loops around a node inside its function, innermost first."""
    out: list[ast.For | ast.While] = []
    for anc in src.ancestors(node):
        if isinstance(anc, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            break
        if isinstance(anc, ast.For | ast.While):
            out.append(anc)
    return out


def _range_stop(loop: ast.For) -> ast.expr | None:
    it = loop.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and 1 <= len(it.args) <= 2:
        return it.args[-1]
    return None


def _lowered(src: Source, stop: ast.expr) -> str:
    """``A + 1`` becomes ``A``; anything else ``S - 1``."""
    if isinstance(stop, ast.BinOp) and isinstance(stop.op, ast.Add) and isinstance(stop.right, ast.Constant) and (
            stop.right.value == 1):
        return src.segment(stop.left)
    text = src.segment(stop)
    return f"{text} - 1" if isinstance(stop, ast.Name | ast.Call | ast.Attribute | ast.Subscript) else f"({text}) - 1"


def _off_by_one(fault: Fault) -> list[Candidate | None]:
    src = fault.source
    out: list[Candidate | None] = []
    where = f"{fault.path}:{fault.line}"
    for sub in fault.nodes(ast.Subscript):
        if not isinstance(sub, ast.Subscript) or isinstance(sub.slice, ast.Slice):
            continue
        index = sub.slice
        # x[len(x)]: the last element is at len(x) - 1.
        if (isinstance(index, ast.Call) and isinstance(index.func, ast.Name) and index.func.id == "len"
                and len(index.args) == 1 and _same(src, index.args[0], sub.value)):
            out.append(candidate(
                "mutate-index-last", src, Edit(src).replace(index, f"{src.segment(index)} - 1").apply(),
                f"`{src.segment(sub)}` at {where} reads one past the end: the last element is at "
                f"`{src.segment(index)} - 1`.", 0.7,
            ))
        names = {n.id for n in ast.walk(index) if isinstance(n, ast.Name)}
        for loop in _loop_of(src, sub):
            if isinstance(loop, ast.For) and isinstance(loop.target, ast.Name) and loop.target.id in names:
                stop = _range_stop(loop)
                if stop is None:
                    continue
                out.append(candidate(
                    "mutate-range-bound", src, Edit(src).replace(stop, _lowered(src, stop)).apply(),
                    f"`{src.segment(sub)}` at {where} runs past the end on the loop's last turn: "
                    f"`range(... {src.segment(stop)})` goes one step too far. Stop the loop one earlier.", 0.65,
                ))
            elif isinstance(loop, ast.While):
                out += _strict_compares(src, loop.test, names, f"`{src.segment(sub)}` at {where}", "loop condition")
        for anc in src.ancestors(sub):
            if isinstance(anc, ast.FunctionDef | ast.AsyncFunctionDef):
                break
            if isinstance(anc, ast.If) and any(sub is n for n in ast.walk(ast.Module(body=anc.body, type_ignores=[]))):
                out += _strict_compares(src, anc.test, names, f"`{src.segment(sub)}` at {where}", "guard")
    return out


def _strict_compares(src: Source, test: ast.expr, names: set[str], what: str, role: str) -> list[Candidate | None]:
    """``i <= len(x)`` → ``i < len(x)`` for the comparisons of a condition on the index's names."""
    out: list[Candidate | None] = []
    for cmp in ast.walk(test):
        if not isinstance(cmp, ast.Compare) or len(cmp.ops) != 1 or type(cmp.ops[0]) not in _STRICT:
            continue
        if not names & {n.id for n in ast.walk(cmp) if isinstance(n, ast.Name)}:
            continue
        _a, _b, le, lc = src.span(cmp.left)
        ra, rc, _x, _y = src.span(cmp.comparators[0])
        gap = src.between(le, lc, ra, rc)
        new_gap = gap.replace("<=", "<", 1) if isinstance(cmp.ops[0], ast.LtE) else gap.replace(">=", ">", 1)
        out.append(candidate(
            f"mutate-strict-{role.replace(' ', '-')}", src,
            Edit(src).replace_span(le, lc, ra, rc, new_gap).apply(),
            f"{what} runs one past the end: the {role} `{src.segment(cmp)}` admits the index equal to the bound. "
            f"Make it strict (`{_STRICT[type(cmp.ops[0])]}`).", 0.65,
        ))
    return out


def _container_of(fault: Fault) -> list[ast.expr]:
    """The containers the fault line pops from or indexes."""
    found: list[ast.expr] = []
    for node in fault.nodes((ast.Call, ast.Subscript)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "pop", "popleft"):
            found.append(node.func.value)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            found.append(node.value)
    return found


def _empty_loop(fault: Fault) -> list[Candidate | None]:
    """``while <cond>: ... x.pop()``: the loop also stops when ``x`` is empty."""
    src = fault.source
    out: list[Candidate | None] = []
    for container in _container_of(fault):
        text = src.segment(container)
        for loop in _loop_of(src, container):
            if not isinstance(loop, ast.While):
                continue
            if any(_same(src, n, container) for n in ast.walk(loop.test)):
                break  # the condition already looks at the container
            test = loop.test
            always = isinstance(test, ast.Constant) and bool(test.value)
            new = text if always else (f"{src.segment(test)} and {text}" if not isinstance(test, ast.BoolOp | ast.IfExp
                                       | ast.NamedExpr | ast.Lambda) else f"({src.segment(test)}) and {text}")
            out.append(candidate(
                "mutate-loop-nonempty", src, Edit(src).replace(test, new).apply(),
                f"The loop at {fault.path}:{loop.lineno} takes from `{text}` (line {fault.line}) until "
                f"`{src.segment(test)}` says stop, but `{text}` can run empty first. Keep looping only while "
                f"`{text}` has items.", 0.6,
            ))
            break
    return out


def _recursive_calls(func: FunctionNode) -> list[ast.Call]:
    return [n for n in ast.walk(func) if isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Name) and n.func.id == func.name)
        or (isinstance(n.func, ast.Attribute) and n.func.attr == func.name
            and isinstance(n.func.value, ast.Name) and n.func.value.id in ("self", "cls")))]


def _identity(src: Source, func: FunctionNode, call: ast.Call) -> str:
    """What the base case returns: the identity of the operation that combines the recursive result."""
    parent = src.parent(call)
    if isinstance(parent, ast.BinOp):
        other = parent.left if parent.right is call else parent.right
        if isinstance(parent.op, ast.Mult):
            return "1"
        if isinstance(parent.op, ast.Add):
            if isinstance(other, ast.List | ast.ListComp) or (
                    isinstance(other, ast.Subscript) and isinstance(other.slice, ast.Slice)):
                return "[]"
            if isinstance(other, ast.JoinedStr) or (isinstance(other, ast.Constant) and isinstance(other.value, str)):
                return '""'
            return "0"
    return neutral_default(src, func)


def _recursion(fault: Fault) -> list[Candidate | None]:
    src = fault.source
    func = fault.function
    if func is None:
        return []
    calls = _recursive_calls(func)
    if not calls:
        return []
    params = [a.arg for a in parameters(func)]
    offset = 1 if params[:1] in (["self"], ["cls"]) else 0
    out: list[Candidate | None] = []
    for call in calls:
        for pos, arg in enumerate(call.args):
            if pos + offset >= len(params):
                break
            name = params[pos + offset]
            shrink: str | None = None
            if (isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Sub | ast.FloorDiv) and isinstance(
                    arg.left, ast.Name) and arg.left.id == name):
                shrink = "number"
            elif (isinstance(arg, ast.Subscript) and isinstance(arg.slice, ast.Slice) and isinstance(
                    arg.value, ast.Name) and arg.value.id == name):
                shrink = "sequence"
            if shrink is None:
                continue
            out += _base_case(src, func, call, name, shrink, fault)
            if out:
                return out
    return out


def _base_case(src: Source, func: FunctionNode, call: ast.Call, name: str, shrink: str, fault: Fault) -> list[
        Candidate | None]:
    where = f"`{func.name}` ({fault.path}:{func.lineno})"
    # A base case that exists but is never met (``n == 0`` when ``n`` steps past 0): make it a bound.
    for stmt in func.body:
        if not (isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare) and len(stmt.test.ops) == 1
                and isinstance(stmt.test.left, ast.Name) and stmt.test.left.id == name
                and any(isinstance(s, ast.Return) for s in stmt.body)):
            continue
        op = stmt.test.ops[0]
        if shrink == "number" and isinstance(op, ast.Eq | ast.Lt):
            _a, _b, le, lc = src.span(stmt.test.left)
            ra, rc, _x, _y = src.span(stmt.test.comparators[0])
            gap = src.between(le, lc, ra, rc)
            new_gap = gap.replace("==", "<=", 1) if isinstance(op, ast.Eq) else gap.replace("<", "<=", 1)
            return [candidate(
                "mutate-base-case-bound", src, Edit(src).replace_span(le, lc, ra, rc, new_gap).apply(),
                f"{where} recurses without end: its base case `{src.segment(stmt.test)}` is stepped over when "
                f"`{name}` skips past it. Stop at the bound, not only on equality.", 0.7,
            )]
        return []
    value = _identity(src, func, call)
    first = func.body[0]
    doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    anchor = func.body[1] if doc and len(func.body) > 1 else first
    test = f"{name} <= 0" if shrink == "number" else f"not {name}"
    unit = src.indent_unit()
    return [candidate(
        "mutate-base-case", src, Edit(src).insert_before(anchor, [f"if {test}:", f"{unit}return {value}"]).apply(),
        f"{where} calls itself on a smaller `{name}` but has no base case, so it never stops. Return "
        f"{value} (the identity of how the results combine) once `{name}` is used up.", 0.6,
    )]


def _caller_site(ctx: TemplateContext, fault: Fault) -> tuple[Source, int] | None:
    """The repo frame that called the fault function: its file and line."""
    frames = ctx.diagnosis.frames
    target = ctx.diagnosis.fault_frame
    for i, mapped in enumerate(frames):
        if target is not None and mapped == target and i > 0:
            caller = frames[i - 1]
            if caller.repo_path and not caller.is_library:
                src = Source.load(ctx, caller.repo_path)
                return (src, caller.frame.line) if src is not None else None
    return None


def _swap(ctx: TemplateContext, fault: Fault) -> list[Candidate | None]:
    """Two positional arguments whose types fit the callee's annotations only the other way round."""
    sites: list[tuple[Source, int, dict[str, str]]] = []
    frame = ctx.diagnosis.fault_frame.frame if ctx.diagnosis.fault_frame else None
    sites.append((fault.source, fault.line, dict(frame.locals) if frame else {}))
    caller = _caller_site(ctx, fault)
    if caller is not None:
        sites.append((caller[0], caller[1], {}))
    out: list[Candidate | None] = []
    for src, line, observed in sites:
        stmt = src.statement_at(line)
        if stmt is None:
            continue
        func_here = src.function_of(stmt)
        for call in [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]:
            name = call.func.id if isinstance(call.func, ast.Name) else (
                call.func.attr if isinstance(call.func, ast.Attribute) else None)
            if name is None or len(call.args) < 2 or any(isinstance(a, ast.Starred) for a in call.args):
                continue
            callee = next(iter(repo_functions(ctx, name, src)), None)
            if callee is None:
                continue
            params = parameters(callee[1])
            if params and params[0].arg in ("self", "cls") and isinstance(call.func, ast.Attribute):
                params = params[1:]
            types = [value_type(a, func_here, observed) for a in call.args]
            for i in range(min(len(call.args), len(params))):
                for j in range(i + 1, min(len(call.args), len(params))):
                    pi, pj = params[i].annotation, params[j].annotation
                    if pi is None or pj is None or types[i] is None or types[j] is None:
                        continue  # the types do not say
                    ai, aj = ast.unparse(pi), ast.unparse(pj)
                    now = annotation_accepts(ai, types[i]) and annotation_accepts(aj, types[j])
                    swapped = annotation_accepts(ai, types[j]) and annotation_accepts(aj, types[i])
                    if now or not swapped or types[i] == types[j]:
                        continue
                    a, b = call.args[i], call.args[j]
                    edit = Edit(src).replace(a, src.segment(b)).replace(b, src.segment(a))
                    out.append(candidate(
                        f"mutate-swap-arguments-{params[i].arg}-{params[j].arg}", src, edit.apply(),
                        f"`{src.segment(call)}` at {src.path}:{call.lineno} passes a {types[i]} as `{params[i].arg}: "
                        f"{ai}` and a {types[j]} as `{params[j].arg}: {aj}`; the values fit the parameters of "
                        f"`{name}` ({callee[0].path}) the other way round. Pass them in the callee's order.", 0.7,
                    ))
    return out


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    message = ctx.diagnosis.exc_message
    short = ctx.diagnosis.exc_type.rsplit(".", 1)[-1]
    out: list[Candidate | None] = []
    if short == "IndexError" and _INDEX.search(message):
        out += _off_by_one(fault)
        if _EMPTY_POP.search(message):
            out += _empty_loop(fault)
    elif short == "RecursionError" or _RECURSION.search(message):
        out += _recursion(fault)
    elif short == "TypeError":
        out += _swap(ctx, fault)
    return finish(ctx, out)
