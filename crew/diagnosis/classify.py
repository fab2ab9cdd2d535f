"""Classify a crash into the root-cause taxonomy and find the failing expression.

The class is decided by the exception first and refined by its message and the code at the
fault line: a ``KeyError`` on ``os.environ[...]`` is missing configuration, not a schema
mismatch; an ``AttributeError`` on ``'NoneType'`` is a None dereference, not a rename. The
taxonomy is documented in the README.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import Carets, RootCause

_BY_TYPE: dict[str, RootCause] = {
    "ZeroDivisionError": RootCause.DIVISION_BY_ZERO,
    "DivisionByZero": RootCause.DIVISION_BY_ZERO,
    "KeyError": RootCause.MISSING_KEY,
    "IndexError": RootCause.INDEX_OUT_OF_RANGE,
    "TypeError": RootCause.TYPE_MISMATCH,
    "ValueError": RootCause.VALUE_PARSE_ERROR,
    "JSONDecodeError": RootCause.VALUE_PARSE_ERROR,
    "InvalidOperation": RootCause.VALUE_PARSE_ERROR,
    "StatisticsError": RootCause.VALUE_PARSE_ERROR,  # a ValueError: no data to summarise
    "ParserError": RootCause.VALUE_PARSE_ERROR,
    "UnicodeDecodeError": RootCause.ENCODING_ERROR,
    "UnicodeEncodeError": RootCause.ENCODING_ERROR,
    "UnicodeError": RootCause.ENCODING_ERROR,
    "AttributeError": RootCause.MISSING_ATTRIBUTE,
    "NameError": RootCause.MISSING_ATTRIBUTE,
    "UnboundLocalError": RootCause.MISSING_ATTRIBUTE,
    "ImportError": RootCause.IMPORT_ERROR,
    "ModuleNotFoundError": RootCause.IMPORT_ERROR,
    "MemoryError": RootCause.OUT_OF_MEMORY,
    "ImproperlyConfigured": RootCause.MISSING_CONFIG,
}
_NONE_MESSAGE = re.compile(r"'NoneType' object|NoneType|unsupported operand type\(s\) .*'NoneType'")
_ENV_KEY = re.compile(r"^'?[A-Z][A-Z0-9_]{2,}'?$")
_CONFIG_MESSAGE = re.compile(
    r"environment variable|env var|is not set|not configured|missing (?:required )?setting"
    r"|Field required|settings",
    re.IGNORECASE,
)


def classify(exc_type: str, message: str, fault_code: str | None) -> RootCause:
    """The taxonomy class for an exception, refined by message and fault-line code."""
    short = exc_type.rsplit(".", 1)[-1]
    code = fault_code or ""
    if short in ("KeyError",) and (
        "environ" in code or "getenv" in code or (_ENV_KEY.match(message.strip()) and "config" in code.lower())
    ):
        return RootCause.MISSING_CONFIG
    if short in ("AttributeError", "TypeError") and _NONE_MESSAGE.search(message):
        return RootCause.NONE_DEREFERENCE
    if short == "ValidationError" and _CONFIG_MESSAGE.search(message):
        return RootCause.MISSING_CONFIG
    if short == "ValidationError":
        return RootCause.MISSING_KEY
    if short in ("RuntimeError", "Exception") and _CONFIG_MESSAGE.search(message):
        return RootCause.MISSING_CONFIG
    if short == "TypeError" and "division" in message:
        return RootCause.TYPE_MISMATCH
    return _BY_TYPE.get(short, RootCause.UNKNOWN)


def _char_col(line: str, byte_col: int) -> int:
    """A character column from an AST column (which counts UTF-8 bytes)."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _statement_tree(code: str) -> ast.Module | None:
    """The fault line as a statement; a compound header (``if x:``) gets a body to parse."""
    for text in (code, code + " pass"):
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return None


def caret_node(code: str | None, carets: Carets | None) -> ast.expr | None:
    """The expression of ``code`` that the PEP 657 carets underline, or None.

    When the line parses, the carets must cover exactly one of its nodes (so ``b / c`` in
    ``a / b / c``, which is no node, is refused); a line that is only part of a statement (one
    line of a multi-line call) is trusted to the underlined text parsing as one expression.
    """
    if not code or carets is None or not 0 <= carets.start < carets.end <= len(code):
        return None
    tree = _statement_tree(code)
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.expr) and node.end_col_offset is not None and node.lineno == node.end_lineno == 1:
                span = (_char_col(code, node.col_offset), _char_col(code, node.end_col_offset))
                if span == (carets.start, carets.end):
                    return node
        return None
    try:
        return ast.parse(code[carets.start : carets.end], mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _culprit_in(tree: ast.AST, root_cause: RootCause, message: str) -> str | None:
    """The first node under ``tree`` (itself included) that the class says failed."""
    for node in ast.walk(tree):
        if root_cause is RootCause.DIVISION_BY_ZERO and isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.Div | ast.FloorDiv | ast.Mod
        ):
            return ast.unparse(node.right)
        subscripted = (RootCause.MISSING_KEY, RootCause.INDEX_OUT_OF_RANGE, RootCause.MISSING_CONFIG)
        if root_cause in subscripted and isinstance(node, ast.Subscript):
            return ast.unparse(node)
        if root_cause in (RootCause.NONE_DEREFERENCE, RootCause.MISSING_ATTRIBUTE) and isinstance(
            node, ast.Attribute
        ):
            attr = re.search(r"attribute '([^']+)'", message)
            if attr is None or node.attr == attr.group(1):
                return ast.unparse(node)
    return None


def failing_expression(
    code: str | None, root_cause: RootCause, message: str, carets: Carets | None = None
) -> str | None:
    """The sub-expression of the fault line that failed: the divisor, the subscript, the base.

    With carets (Python 3.11+ logs) the search stays inside the underlined expression, and that
    expression itself answers when the class names no part of it; without, the first candidate
    on the line is a guess.
    """
    if not code:
        return None
    marked = caret_node(code.strip(), carets) if code == code.strip() else None
    if marked is not None:
        return _culprit_in(marked, root_cause, message) or ast.unparse(marked)
    try:
        tree = ast.parse(code.strip().rstrip(":") if code.strip().endswith(":") else code.strip())
    except SyntaxError:
        return None
    return _culprit_in(tree, root_cause, message)
