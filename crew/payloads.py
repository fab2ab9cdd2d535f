"""Structured payloads (request bodies, event records) printed in log lines.

Reproduction binds the crashing call's arguments to their values and the key template looks
for renamed fields in them; both read them through here.
"""

from __future__ import annotations

import ast
import json
from typing import Any

MAX_PER_LINE = 5


def parse_payload(chunk: str) -> Any:
    """A ``{...}`` chunk as JSON or as a Python literal (``repr`` of a dict); None if neither."""
    try:
        return json.loads(chunk)
    except ValueError:
        try:
            return ast.literal_eval(chunk)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None


def dicts_in(text: str) -> list[dict[str, Any]]:
    """JSON objects or Python dict literals embedded in a log line (at most ``MAX_PER_LINE``)."""
    found: list[dict[str, Any]] = []
    start = text.find("{")
    while start != -1 and len(found) < MAX_PER_LINE:
        end = text.rfind("}")
        while end > start:
            value = parse_payload(text[start : end + 1])
            if isinstance(value, dict):
                # a JSON log record often carries the payload inside its message string
                for inner in value.values():
                    if isinstance(inner, str) and "{" in inner and len(found) < MAX_PER_LINE:
                        found.extend(dicts_in(inner))
                found.append(value)
                break
            end = text.rfind("}", start, end)
        start = text.find("{", start + 1) if not found else -1
    return found
