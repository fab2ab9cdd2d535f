"""Missing key: the payload's key was renamed; read it under both names where it is read.

The new name is looked for in what the crash left behind (payloads in the log lines and the
traceback) and in the repo's own string literals (a producer, a schema), matched by spelling
(``customer_id`` ~ ``customerId``). The read site then accepts both names and still raises
``KeyError`` when neither is there, so a truly bad payload is not silently turned into ``None``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from crew.handoffs import RootCause
from crew.payloads import parse_payload
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    Source,
    candidate,
    closest,
    finish,
    is_simple,
    locate,
    message_string,
    normalise_name,
    string_literal,
)

HANDLES: tuple[RootCause, ...] = (RootCause.MISSING_KEY,)

MAX_REPO_FILES = 400
MAX_FILE_CHARS = 200_000
_KEY_IN_TEXT = re.compile(r"""["']([A-Za-z_][A-Za-z0-9_\-]{0,63})["']\s*:""")


def _braced(text: str) -> Iterator[str]:
    """Balanced ``{...}`` substrings of a line."""
    depth, start = 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                yield text[start : i + 1]


def _keys_of(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(key, str):
                yield key
            yield from _keys_of(sub)
    elif isinstance(value, list):
        for sub in value:
            yield from _keys_of(sub)


def log_keys(ctx: TemplateContext) -> set[str]:
    """Keys of the JSON or dict payloads printed in the log lines and the tracebacks.

    Monitoring already kept the log lines that carry data (``context_lines``), whatever the
    source (file, Loki, Kubernetes); the log is not read again here.
    """
    texts: list[str] = []
    if ctx.evidence is not None:
        texts += ctx.evidence.context_lines
        texts += ctx.evidence.log_excerpt
        texts += [tb.raw for tb in ctx.evidence.tracebacks]
        texts += [tb.exc_message for tb in ctx.evidence.tracebacks]
    keys: set[str] = set()
    for text in texts:
        for chunk in _braced(text):
            parsed = parse_payload(chunk)
            if parsed is not None:
                keys |= set(_keys_of(parsed))
            else:
                keys |= set(_KEY_IN_TEXT.findall(chunk))
    return keys


def repo_keys(ctx: TemplateContext, skip: str) -> set[str]:
    """Identifier-like string literals of the repo's Python files and JSON keys of its JSON files."""
    keys: set[str] = set()
    files = [p for p in ctx.repo.tracked_files if p.endswith((".py", ".json"))][:MAX_REPO_FILES]
    for path in files:
        text = ctx.repo.read(path)
        if not text or len(text) > MAX_FILE_CHARS:
            continue
        if path.endswith(".json"):
            keys |= set(_KEY_IN_TEXT.findall(text))
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}", node.value) and node.value != skip:
                    keys.add(node.value)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                keys.add(node.target.id)  # TypedDict / dataclass / pydantic schema fields
    return keys


def _reads(fault: Fault, key: str) -> list[ast.Subscript]:
    """Reads of ``key`` on the fault line, and the same reads (same base) elsewhere in the function."""
    src = fault.source
    first = [
        n for n in fault.nodes(ast.Subscript)
        if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load)
        and isinstance(n.slice, ast.Constant) and n.slice.value == key
    ]
    if not first:
        return []
    base = src.segment(first[0].value)
    scope: ast.AST = fault.function or src.tree
    same = [
        n for n in ast.walk(scope)
        if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Load) and isinstance(n.slice, ast.Constant)
        and n.slice.value == key and src.segment(n.value) == base
    ]
    return sorted({id(n): n for n in [first[0], *same]}.values(), key=lambda n: (n.lineno, n.col_offset))


def _default_for(src: Source, node: ast.AST) -> str:
    parent = src.parent(node)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name):
        return {"int": "0", "float": "0", "str": '""', "len": "()", "sum": "()", "list": "()",
                "sorted": "()"}.get(parent.func.id, "None")
    if isinstance(parent, ast.For | ast.comprehension) and getattr(parent, "iter", None) is node:
        return "()"
    if isinstance(parent, ast.BinOp):
        return "0"
    return "None"


def generate(ctx: TemplateContext) -> list[Candidate]:
    key = message_string(ctx.diagnosis.exc_message)
    fault = locate(ctx)
    if key is None or fault is None:
        return []
    reads = _reads(fault, key)
    if not reads:
        return []
    src = fault.source
    base_node = reads[0].value
    from_logs = log_keys(ctx)
    from_repo = repo_keys(ctx, key)
    ranked: list[tuple[float, str, str]] = []
    for sim, name in closest(key, from_logs | from_repo, cutoff=0.75):
        in_logs = name in from_logs
        exact = normalise_name(name) == normalise_name(key)
        score = (0.9 if exact else 0.55 + 0.25 * sim) if in_logs else (0.75 if exact else 0.4 + 0.25 * sim)
        where = "the crashing payload in the logs" if in_logs else "the repository's own code"
        ranked.append((score, name, where))
    ranked.sort(key=lambda item: -item[0])
    out: list[Candidate | None] = []
    where_line = f"{fault.path}:{reads[0].lineno}"
    base = src.segment(base_node)
    for score, name, where in ranked[:2]:
        edit = Edit(src)
        old_lit = string_literal(key, reads[0].slice, src)
        new_lit = string_literal(name, reads[0].slice, src)
        for read in reads:
            b = src.segment(read.value)
            text = f"{b}[{old_lit}] if {old_lit} in {b} else {b}[{new_lit}]"
            parent = src.parent(read)
            bare = isinstance(parent, ast.Assign | ast.Return | ast.AnnAssign | ast.keyword) or (
                isinstance(parent, ast.Call) and parent.args == [read] and not parent.keywords
            )
            edit.replace(read, text if bare else f"({text})")
        if not is_simple(base_node):
            continue
        rationale = (
            f"`{base}` has no key {key!r} at {where_line}; {where} carries {name!r} instead, the same field "
            f"under a new spelling. Read the field under both names where the payload is read; a payload "
            f"with neither still fails loudly."
        )
        out.append(candidate(f"accept-renamed-key-{normalise_name(name)}", src, edit.apply(), rationale, score))
    default = _default_for(src, reads[0])
    edit = Edit(src)
    lit = string_literal(key, reads[0].slice, src)
    for read in reads:
        suffix = "" if default == "None" else f", {default}"
        edit.replace(read, f"{src.segment(read.value)}.get({lit}{suffix})")
    out.append(candidate(
        "default-missing-key", src, edit.apply(),
        f"`{base}` may come without {key!r} ({where_line}); read it with `.get` and a default of {default}. "
        "This tolerates the missing field rather than finding where it went, so it ranks below a rename.",
        0.3,
    ))
    return finish(ctx, out, broad=("default-missing-key",))
