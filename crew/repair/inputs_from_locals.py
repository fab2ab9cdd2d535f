"""Crashing inputs from frame locals (a Sentry event's vars): the values the crashing call really had.

They are the most faithful inputs there are, so they are tried first. Each local is a repr
string from an untrusted event: it is parsed with :func:`ast.literal_eval` only, never
evaluated, and a value that is not a literal (``<Order object at 0x7f..>``, a call, a
truncated repr) or is a scrubber's placeholder (``'[Filtered]'``) is skipped. The fault
function's own locals are mapped onto its parameters by name; a parameter they do not hold is
taken from the caller's frame, by evaluating the argument expression of the call on the
caller's code line over the caller's locals (names, constants, constant subscripts: nothing
else). Secrets are replaced by same-shape values by :mod:`crew.repair.synthetic`, as for every
input taken from a log.
"""

from __future__ import annotations

import ast
from typing import Any

from crew.handoffs import Diagnosis, Frame, MappedFrame
from crew.payloads import depth_ok
from crew.repair.reproduce import MAX_LITERAL, CandidateInput, Target, _log_literal

SOURCE = "sentry locals"
_PLACEHOLDERS = frozenset({"[Filtered]", "[Scrubbed]", "[redacted]", "[REDACTED]", "[Redacted]", "***"})
_MISSING = object()


def parse_local(text: str) -> Any:
    """The value of a repr string, or ``_MISSING`` when it is not a plain literal."""
    if not isinstance(text, str) or len(text) > MAX_LITERAL:
        return _MISSING
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING
    if isinstance(value, str) and (value in _PLACEHOLDERS or value.startswith("[REDACTED")):
        return _MISSING
    return value if depth_ok(value) else _MISSING


def parsed_locals(frame: Frame) -> dict[str, Any]:
    """The frame's locals that are literals, by name."""
    out: dict[str, Any] = {}
    for name, text in frame.locals.items():
        value = parse_local(text)
        if value is not _MISSING:
            out[name] = value
    return out


def _leaf(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _evaluate(expr: ast.expr, env: dict[str, Any], depth: int = 0) -> Any:
    """``expr`` over literal locals: a constant, a name, or a constant subscript of one; else ``_MISSING``."""
    if depth > 8:
        return _MISSING
    if isinstance(expr, ast.Name):
        return env.get(expr.id, _MISSING)
    if isinstance(expr, ast.Subscript):
        base = _evaluate(expr.value, env, depth + 1)
        key = _evaluate(expr.slice, env, depth + 1)
        if base is _MISSING or key is _MISSING:
            return _MISSING
        try:
            return base[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    try:
        return ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING


def _call_in(code: str, function: str) -> ast.Call | None:
    try:
        tree = ast.parse(code.strip().removesuffix(":") or "pass")
    except SyntaxError:
        return None
    return next((node for node in ast.walk(tree)
                 if isinstance(node, ast.Call) and _leaf(node.func) == function), None)


def caller_arguments(caller: Frame, function: str, params: list[str]) -> dict[str, Any]:
    """The arguments the caller's line passes to ``function``, by parameter name, where they are literals."""
    if not caller.code or not caller.locals:
        return {}
    call = _call_in(caller.code, function)
    if call is None or any(isinstance(a, ast.Starred) for a in call.args):
        return {}
    env = parsed_locals(caller)
    out: dict[str, Any] = {}
    for name, arg in zip(params, call.args, strict=False):
        value = _evaluate(arg, env)
        if value is not _MISSING:
            out[name] = value
    for kw in call.keywords:
        if kw.arg in params:
            value = _evaluate(kw.value, env)
            if value is not _MISSING:
                out[kw.arg] = value
    return out


def _target_frame(diagnosis: Diagnosis, target: Target) -> int | None:
    """Index in ``diagnosis.frames`` of the deepest frame of the target function (at the fault, if it is)."""
    assert target.function is not None
    name = target.function.rsplit(".", 1)[-1]
    frames: list[MappedFrame] = diagnosis.frames
    hits = [i for i, m in enumerate(frames) if m.repo_path == target.path and m.frame.function == name]
    fault = diagnosis.fault_frame
    if fault is not None:
        at_fault = [i for i in hits if frames[i].frame == fault.frame]
        if at_fault:
            return at_fault[-1]
    return hits[-1] if hits else None


def _bind(target: Target, first: dict[str, Any], second: dict[str, Any]) -> list[tuple[str, Any]] | None:
    """Values for the parameters, in order, ``first`` preferred; trailing defaults may stay unbound."""
    bound: list[tuple[str, Any]] = []
    for i, param in enumerate(target.params):
        source = first if param.name in first else second if param.name in second else None
        if source is None:
            if param.default is not None and all(p.default is not None for p in target.params[i:]):
                break
            return None
        bound.append((param.name, source[param.name]))
    return bound


def locals_inputs(target: Target, diagnosis: Diagnosis) -> list[CandidateInput]:
    """Argument tuples bound from the frame locals of the fault function and its caller (first tried)."""
    if target.function is None or target.route is not None or not target.params:
        return []
    index = _target_frame(diagnosis, target)
    if index is None:
        return []
    own = parsed_locals(diagnosis.frames[index].frame)
    names = [p.name for p in target.params]
    from_caller: dict[str, Any] = {}
    if index > 0:
        from_caller = caller_arguments(diagnosis.frames[index - 1].frame, target.function.rsplit(".", 1)[-1],
                                       [n for n in names if n != "self"])
    out: list[CandidateInput] = []
    seen: set[tuple[str, ...]] = set()
    for first, second in ((own, from_caller), (from_caller, own)):
        bound = _bind(target, first, second)
        if not bound:
            continue
        rendered = [_log_literal(value, name) for name, value in bound]
        args = [lit for lit, _ in rendered]
        if any(a is None for a in args):
            continue
        key = tuple(a for a in args if a is not None)
        if key in seen:
            continue
        seen.add(key)
        out.append(CandidateInput(list(key), SOURCE, any(changed for _, changed in rendered)))
    return out
