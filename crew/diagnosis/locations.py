"""Rank the places a fix may belong by following the bad value back through the repo frames.

The raising line is where the crash shows, not always where it was made: the value that failed
may be a parameter the caller filled (an argument in the wrong position, a ``None`` made
upstream), a local assigned a few lines up, or an attribute ``__init__`` sets only on some
paths. Each step is a plain static analysis of the AST at the deployed commit (parameter to
argument, name to its last assignment, ``self.x`` to its assignments in the class); nothing is
executed. The raising line always leads; the rest follow by score.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from crew.code_context import code_context, enclosing_function
from crew.handoffs import Diagnosis, FaultLocation, Frame, MappedFrame, RootCause

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
#: callers followed up the traceback from the raising frame.
MAX_HOPS = 4
#: repo files read when looking for a class the message names.
MAX_CLASS_FILES = 400
_OBJ_ATTR = re.compile(r"^'(\w+)' object has no attribute '(\w+)'")
_BRANCHES = (ast.If, ast.Try, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Match)
_TRY_STAR = getattr(ast, "TryStar", ast.Try)


@dataclass(frozen=True)
class _Site:
    """One repo file, parsed once."""

    path: str
    source: str
    tree: ast.Module

    def statement_at(self, line: int) -> ast.stmt | None:
        """The innermost statement whose span holds ``line``."""
        best: ast.stmt | None = None
        for node in ast.walk(self.tree):
            spans = isinstance(node, ast.stmt) and node.lineno <= line <= (node.end_lineno or node.lineno)
            if spans and isinstance(node, ast.stmt) and (best is None or node.lineno >= best.lineno):
                best = node
        return best

    def class_of(self, func: ast.AST) -> ast.ClassDef | None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ClassDef) and func in node.body:
                return node
        return None


def _parse(path: str, read: Callable[[str], str | None]) -> _Site | None:
    source = read(path)
    if not source:
        return None
    try:
        return _Site(path, source, ast.parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _params(func: FunctionNode) -> list[str]:
    args = func.args
    return [a.arg for a in (*args.posonlyargs, *args.args)]


def _all_params(func: FunctionNode) -> set[str]:
    args = func.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    return names


def _root(expr: ast.expr) -> tuple[str, str | None] | None:
    """(the name an expression starts from, the attribute read off ``self``), e.g. ``self.x[0]``."""
    node = expr
    attr: str | None = None
    while isinstance(node, ast.Attribute | ast.Subscript):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            attr = node.attr
        node = node.value
    if isinstance(node, ast.Name):
        return node.id, attr
    return None


def _bad_values(node: ast.expr, root_cause: RootCause) -> list[ast.expr]:
    """The operands of the failing expression that may hold the bad value."""
    if root_cause is RootCause.DIVISION_BY_ZERO:
        return [node.right] if isinstance(node, ast.BinOp) else [node]
    if isinstance(node, ast.Subscript):
        return [node.value, node.slice]
    if isinstance(node, ast.Attribute):
        return [node.value]
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.Call):
        return [*node.args, *(k.value for k in node.keywords), node.func]
    return [node]


def _culprit_node(stmt: ast.stmt, line: int, culprit: str) -> ast.expr | None:
    for node in ast.walk(stmt):
        spans = isinstance(node, ast.expr) and node.lineno <= line <= (node.end_lineno or node.lineno)
        if spans and isinstance(node, ast.expr) and ast.unparse(node) == culprit:
            return node
    return None


def _calls_to(stmt: ast.stmt, func: FunctionNode, cls: ast.ClassDef | None) -> Iterator[tuple[ast.Call, bool]]:
    """Calls in ``stmt`` that can reach ``func``, with whether a bound first argument is implied."""
    for node in ast.walk(stmt):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func
        name = callee.id if isinstance(callee, ast.Name) else callee.attr if isinstance(callee, ast.Attribute) else None
        if name == func.name:
            yield node, cls is not None and isinstance(callee, ast.Attribute)
        elif cls is not None and func.name == "__init__" and name == cls.name:
            yield node, True


def _argument(call: ast.Call, func: FunctionNode, param: str, bound: bool) -> tuple[ast.expr | None, int | None]:
    """The argument expression the call passes as ``param`` (None: the default), and its position."""
    positional = _params(func)[1 if bound else 0 :]
    for kw in call.keywords:
        if kw.arg == param:
            return kw.value, None
    if param in positional:
        index = positional.index(param)
        args = call.args
        if any(isinstance(a, ast.Starred) for a in args[: index + 1]):
            return None, None
        if index < len(args):
            return args[index], index
    return None, None


def _last_assignment(func: ast.AST, name: str, before: int) -> ast.stmt | None:
    """The last statement of ``func`` before line ``before`` that binds ``name``."""
    best: ast.stmt | None = None
    for node in ast.walk(func):
        if not isinstance(node, ast.stmt) or node.lineno >= before or node is func:
            continue
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif (isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None) or isinstance(
            node, ast.For | ast.AsyncFor
        ):
            targets = [node.target]
        elif isinstance(node, ast.With | ast.AsyncWith):
            targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
        binds = any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t))
        if binds and (best is None or node.lineno >= best.lineno):
            best = node
    return best


def _assigned_value(stmt: ast.stmt) -> str:
    value = getattr(stmt, "value", None) or getattr(stmt, "iter", None)
    return ast.unparse(value) if isinstance(value, ast.expr) else ast.unparse(stmt).splitlines()[0]


class _Ranker:
    """Collects locations for one diagnosis; the first one for a line wins."""

    def __init__(self, read: Callable[[str], str | None], tracked: Sequence[str]) -> None:
        self.read = read
        self.tracked = tracked
        self.sites: dict[str, _Site | None] = {}
        self.found: list[FaultLocation] = []

    def site(self, path: str) -> _Site | None:
        if path not in self.sites:
            self.sites[path] = _parse(path, self.read)
        return self.sites[path]

    def add(self, loc: FaultLocation) -> None:
        if all((f.path, f.line) != (loc.path, loc.line) for f in self.found):
            self.found.append(loc)

    def follow(self, frames: Sequence[MappedFrame], at: int, expr: ast.expr, func: FunctionNode, site: _Site,
               line: int, score: float, hops: int) -> None:
        """Trace ``expr`` (evaluated in ``func`` at ``line``) to where its value was made."""
        root = _root(expr)
        if root is None:
            return
        name, self_attr = root
        if name == "self" and self_attr is not None:
            cls = site.class_of(func)
            if cls is not None:
                self.self_assignments(site, cls, self_attr, score * 0.75)
            return
        local = _last_assignment(func, name, line)
        if local is not None:
            value = _assigned_value(local)
            made_by_call = isinstance(getattr(local, "value", None), ast.Call)
            self.add(FaultLocation(
                path=site.path, line=local.lineno, function=func.name, expression=value, kind="assignment",
                reason=f"`{name}` is assigned from `{value}` here" + (
                    ", a call whose result reaches the failing line unchecked" if made_by_call else ""),
                score=round(score * (0.75 if made_by_call else 0.65), 3),
            ))
            return
        if name not in _all_params(func) or hops >= MAX_HOPS:
            return
        self.caller(frames, at, name, func, site, score, hops)

    def caller(self, frames: Sequence[MappedFrame], at: int, param: str, func: FunctionNode, site: _Site,
               score: float, hops: int) -> None:
        """The argument the calling frame passes as ``param`` of ``func``."""
        if at == 0 or frames[at - 1].repo_path is None or frames[at - 1].is_library:
            return
        up = frames[at - 1]
        assert up.repo_path is not None
        caller_site = self.site(up.repo_path)
        if caller_site is None:
            return
        stmt = caller_site.statement_at(up.frame.line)
        caller_func = enclosing_function(caller_site.tree, up.frame.line)
        if stmt is None:
            return
        cls = site.class_of(func)
        for call, bound in _calls_to(stmt, func, cls):
            arg, position = _argument(call, func, param, bound)
            where = f"{func.name}()"
            if arg is None:
                self.add(FaultLocation(
                    path=up.repo_path, line=up.frame.line, function=caller_func.name if caller_func else None,
                    expression=ast.unparse(call), kind="caller_argument",
                    reason=f"the caller does not pass `{param}` to `{where}`, so its default is used",
                    score=round(score * 0.7, 3),
                ))
                return
            text = ast.unparse(arg)
            others = set(_params(func)) - {param}
            swapped = isinstance(arg, ast.Name) and arg.id in others and position is not None
            reason = (
                f"the caller passes `{text}` in the position of `{param}` of `{where}`: an argument in the wrong "
                "position" if swapped else
                f"`{param}` of `{where}` is `{text}`, passed here by the caller"
            )
            self.add(FaultLocation(
                path=up.repo_path, line=up.frame.line, function=caller_func.name if caller_func else None,
                expression=text, kind="caller_argument", reason=reason,
                score=round(score * (0.95 if swapped else 0.8), 3),
            ))
            if caller_func is not None and not swapped:
                self.follow(frames, at - 1, arg, caller_func, caller_site, up.frame.line, score * 0.8, hops + 1)
            return

    def self_assignments(self, site: _Site, cls: ast.ClassDef, attr: str, score: float) -> None:
        """Where instances of ``cls`` get ``self.<attr>``: flagged when ``__init__`` sets it on some paths only."""
        init = next((s for s in cls.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)
                     and s.name == "__init__"), None)
        stores = [
            (method, node) for method in cls.body if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef)
            for node in ast.walk(method)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr == attr
            and isinstance(node.value, ast.Name) and node.value.id == "self"
        ]
        in_init = [node for method, node in stores if method is init]
        if init is not None and in_init:
            guard = _conditional_path(init, in_init[0].lineno)
            if guard is not None:
                self.add(FaultLocation(
                    path=site.path, line=in_init[0].lineno, function="__init__", expression=f"self.{attr}",
                    kind="init_assignment",
                    reason=f"`self.{attr}` is assigned only on some paths of `{cls.name}.__init__` ({guard})",
                    score=round(min(0.95, score * 1.15), 3),
                ))
                return
            self.add(FaultLocation(
                path=site.path, line=in_init[0].lineno, function="__init__", expression=f"self.{attr}",
                kind="init_assignment", reason=f"`self.{attr}` is assigned in `{cls.name}.__init__` here",
                score=round(score * 0.8, 3),
            ))
            return
        others = sorted({method.name for method, _ in stores})
        target = init or cls
        self.add(FaultLocation(
            path=site.path, line=target.body[0].lineno if init is not None else cls.lineno,
            function="__init__" if init is not None else None, expression=f"self.{attr}", kind="init_assignment",
            reason=(f"`self.{attr}` is set only in {', '.join(f'`{cls.name}.{m}`' for m in others)}, "
                    f"never in `{cls.name}.__init__`") if others else
                   f"`{cls.name}` never assigns `self.{attr}`",
            score=round(score * (1.0 if others else 0.6), 3),
        ))

    def classes_named(self, name: str, first: Sequence[str]) -> Iterator[tuple[_Site, ast.ClassDef]]:
        seen: set[str] = set()
        paths = [*first, *[p for p in self.tracked if p.endswith(".py")][:MAX_CLASS_FILES]]
        for path in paths:
            if path in seen:
                continue
            seen.add(path)
            cached = self.sites.get(path)
            source = cached.source if cached is not None else self.read(path)
            if not source or f"class {name}" not in source:
                continue
            site = self.site(path)
            if site is None:
                continue
            for node in ast.walk(site.tree):
                if isinstance(node, ast.ClassDef) and node.name == name:
                    yield site, node


def _conditional_path(init: FunctionNode, line: int) -> str | None:
    """Why the statement at ``line`` of ``__init__`` may not run: a branch around it or a return before it."""
    for stmt in init.body:
        end = stmt.end_lineno or stmt.lineno
        if stmt.lineno <= line <= end:
            if isinstance(stmt, (*_BRANCHES, _TRY_STAR)):
                head = ast.unparse(stmt).splitlines()[0].rstrip(":")
                return f"under `{head}` at line {stmt.lineno}"
            return None
        if stmt.lineno < line and any(isinstance(n, ast.Return | ast.Raise) for n in ast.walk(stmt)):
            return f"`__init__` can return before it, at line {stmt.lineno}"
    return None


def rank_locations(
    frames: Sequence[MappedFrame], fault: MappedFrame, culprit: str | None, root_cause: RootCause, message: str,
    read: Callable[[str], str | None], tracked: Sequence[str] = (),
) -> list[FaultLocation]:
    """The raising line, then the places its bad value came from, best first."""
    assert fault.repo_path is not None
    ranker = _Ranker(read, tracked)
    site = ranker.site(fault.repo_path)
    line = fault.frame.line
    func = enclosing_function(site.tree, line) if site is not None else None
    ranker.add(FaultLocation(
        path=fault.repo_path, line=line, function=func.name if func else fault.frame.function,
        expression=culprit or (fault.frame.code or "").strip(), kind="raised",
        reason=f"the line that raised, on `{culprit}`" if culprit else "the line that raised", score=1.0,
    ))
    if site is None or func is None:
        return ranker.found
    at = next((i for i, m in enumerate(frames) if m is fault or m == fault), len(frames) - 1)
    owner_attr = _OBJ_ATTR.match(message)
    if root_cause is RootCause.MISSING_ATTRIBUTE and owner_attr and owner_attr.group(1) != "NoneType":
        first = [m.repo_path for m in reversed(frames) if m.repo_path]
        for cls_site, cls in ranker.classes_named(owner_attr.group(1), first):
            ranker.self_assignments(cls_site, cls, owner_attr.group(2), 0.9)
            break
    stmt = site.statement_at(line)
    node = _culprit_node(stmt, line, culprit) if stmt is not None and culprit else None
    if node is not None:
        values = _bad_values(node, root_cause)
        if root_cause is RootCause.MISSING_ATTRIBUTE and isinstance(node, ast.Attribute):
            values = [] if _root(node.value) == ("self", None) else values
        for value in values:
            ranker.follow(frames, at, value, func, site, line, 0.9, 0)
    head, rest = ranker.found[0], ranker.found[1:]
    return [head, *sorted(rest, key=lambda loc: -loc.score)]


def diagnosis_at(diagnosis: Diagnosis, location: FaultLocation, read: Callable[[str], str | None]) -> Diagnosis | None:
    """The diagnosis retargeted at another location, so the repair templates can work there."""
    source = read(location.path)
    if not source:
        return None
    lines = source.splitlines()
    if not 1 <= location.line <= len(lines):
        return None
    frame = Frame(file=location.path, line=location.line, function=location.function or "<module>",
                  code=lines[location.line - 1].strip())
    mapped = MappedFrame(frame=frame, repo_path=location.path, note=f"fault location: {location.reason}")
    return diagnosis.model_copy(update={
        "fault_frame": mapped, "library_frame": None,
        "code_context": code_context(location.path, source, location.line),
        "culprit": location.expression or None,
    })
