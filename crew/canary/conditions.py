"""Argo Rollouts' analysis conditions (``successCondition``, ``failureCondition``) evaluated in Python.

Argo evaluates them with the expr language over ``result``, the provider's answer (for
Prometheus a vector becomes a list of floats, a scalar a float). The subset our templates and
Argo's documented examples use: literals, ``result``, indexing, ``len``, ``isNaN``, ``isInf``,
``default``, ``asInt``, ``asFloat``, arithmetic, comparisons, ``&&`` ``||`` ``!`` (and the words
``and`` ``or`` ``not``). The text is rewritten to Python syntax, parsed with ``ast`` and walked
over a whitelist: nothing is ever ``eval``-ed. Like Argo, an error while evaluating (an index
into an empty result, a call of something unknown) is an error of the measurement, not a
``False``; NaN compares false, as in Go.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from crew.errors import BadInputError


class ConditionError(Exception):
    """The condition could not be evaluated on this result (Argo marks the measurement Error)."""


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None or (isinstance(value, list) and not value) else value


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "isNaN": lambda x: isinstance(x, float) and math.isnan(x),
    "isInf": lambda x: isinstance(x, float) and math.isinf(x), "default": _default,
    "asInt": lambda x: int(float(x)), "asFloat": float,
}
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\|\||&&|!=|!|[^"\'|&!]+|.', re.S)


def to_python(condition: str) -> str:
    """The condition in Python syntax: ``||`` ``&&`` ``!`` become ``or`` ``and`` ``not`` outside strings."""
    parts = []
    for token in _TOKEN.findall(condition):
        parts.append({"||": " or ", "&&": " and ", "!": " not "}.get(token, token))
    return "".join(parts).replace("\n", " ").strip()


def parse(condition: str) -> ast.Expression:
    """The parsed condition; a ``BadInputError`` naming the problem when it is not one."""
    try:
        tree = ast.parse(to_python(condition), mode="eval")
    except SyntaxError as exc:
        raise BadInputError(f"analysis condition {condition!r} does not parse: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
            raise BadInputError(f"analysis condition {condition!r} calls something Argo's expr does not offer")
    return tree


def evaluate(condition: str, result: Any) -> bool:
    """Whether ``condition`` holds for ``result``; ``ConditionError`` when evaluating fails."""
    value = _eval(parse(condition).body, result)
    if not isinstance(value, bool):
        raise ConditionError(f"condition {condition!r} gave {value!r}, not true or false")
    return value


def _eval(node: ast.AST, result: Any) -> Any:  # noqa: C901 - one case per node type
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
        return node.value
    if isinstance(node, ast.List):
        return [_eval(item, result) for item in node.elts]
    if isinstance(node, ast.Name):
        if node.id == "result":
            return result
        if node.id in ("true", "false", "nil"):
            return {"true": True, "false": False, "nil": None}[node.id]
        raise ConditionError(f"unknown name {node.id!r}")
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And)
        for operand in node.values:  # short-circuit, as expr does
            value = _eval(operand, result)
            if not isinstance(value, bool):
                raise ConditionError("&& and || need true or false on both sides")
            if value != is_and:
                return value
        return is_and
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, result)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub):
            return -value
        raise ConditionError("unsupported unary operator")
    if isinstance(node, ast.Compare):
        left = _eval(node.left, result)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _eval(right_node, result)
            fn = _COMPARE.get(type(op))
            if fn is None:
                raise ConditionError("unsupported comparison")
            try:
                if not fn(left, right):
                    return False
            except TypeError as exc:
                raise ConditionError(f"cannot compare: {exc}") from None
            left = right
        return True
    if isinstance(node, ast.BinOp):
        fn2 = _ARITH.get(type(node.op))
        if fn2 is None:
            raise ConditionError("unsupported arithmetic")
        try:
            return fn2(_eval(node.left, result), _eval(node.right, result))
        except (TypeError, ZeroDivisionError) as exc:
            raise ConditionError(f"arithmetic failed: {exc}") from None
    if isinstance(node, ast.Subscript):
        container, index = _eval(node.value, result), _eval(node.slice, result)
        try:
            return container[index]
        except (IndexError, KeyError, TypeError) as exc:
            raise ConditionError(f"index {index!r} out of range of {container!r}: {exc}") from None
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)  # parse() allows only the known functions
        args = [_eval(a, result) for a in node.args]
        try:
            return _FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise ConditionError(f"{node.func.id}() failed: {exc}") from None
    raise ConditionError(f"unsupported expression {type(node).__name__}")
