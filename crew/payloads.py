"""Structured payloads (request bodies, event records) printed in log lines.

Reproduction binds the crashing call's arguments to their values and the key template looks
for renamed fields in them; both read them through here. Log text is untrusted: a payload
nested deeper than ``MAX_DEPTH`` is not data but an attack on every recursive reader after
us (``json.loads`` itself raises ``RecursionError`` near Python's recursion limit), so it is
refused here and the line stays plain text.
"""

from __future__ import annotations

import ast
import json
from typing import Any

MAX_PER_LINE = 5
MAX_DEPTH = 64
"""Deepest JSON / literal nesting accepted; real log records and request bodies stay far below it."""
MAX_ATTEMPTS = 64
"""Parse attempts per line when looking for embedded ``{...}`` chunks (each attempt is linear)."""
MAX_CHUNK_CHARS = 100_000
"""Longest embedded chunk ``dicts_in`` tries to parse."""


_CONTAINERS = (dict, list, tuple, set, frozenset)


class TooDeepError(ValueError):
    """A JSON document or literal nested deeper than ``MAX_DEPTH``: treated as text, not data."""


def depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Is ``value`` (parsed JSON or a literal) nested at most ``limit`` deep? Iterative: never recurses."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, _CONTAINERS):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, _CONTAINERS))
    return True


def loads(text: str | bytes) -> Any:
    """``json.loads`` for untrusted text: ``ValueError`` (never ``RecursionError``) when too deep or invalid."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeepError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if not depth_ok(value):
        raise TooDeepError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def parse_payload(chunk: str) -> Any:
    """A ``{...}`` chunk as JSON or as a Python literal (``repr`` of a dict); None if neither (or too deep)."""
    try:
        return loads(chunk)
    except TooDeepError:
        return None
    except ValueError:
        try:
            value = ast.literal_eval(chunk)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
        return value if depth_ok(value) else None


def dicts_in(text: str) -> list[dict[str, Any]]:
    """JSON objects or Python dict literals embedded in a log line (at most ``MAX_PER_LINE``).

    The number of parse attempts is bounded, so a line of many braces stays linear.
    """
    return _dicts_in(text, [MAX_ATTEMPTS], 0)


def _dicts_in(text: str, budget: list[int], depth: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    start = text.find("{")
    while start != -1 and len(found) < MAX_PER_LINE and budget[0] > 0:
        end = text.rfind("}")
        while end > start and budget[0] > 0:
            if end - start < MAX_CHUNK_CHARS:
                budget[0] -= 1
                value = parse_payload(text[start : end + 1])
                if isinstance(value, dict):
                    # a JSON log record often carries the payload inside its message string
                    for inner in value.values():
                        if isinstance(inner, str) and "{" in inner and len(found) < MAX_PER_LINE and depth < 2:
                            found.extend(_dicts_in(inner, budget, depth + 1))
                    found.append(value)
                    break
            end = text.rfind("}", start, end)
        start = text.find("{", start + 1) if not found else -1
    return found
