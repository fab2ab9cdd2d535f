"""Cut the code around a fault line: the enclosing function, with the fault line marked.

Reviewers and the repair stage both need the whole function, not a fixed window, because
the cause (a missing guard, a renamed key) is usually a few lines above the crash.
"""

from __future__ import annotations

import ast

from crew.handoffs import CodeContext

MAX_FUNCTION_LINES = 80
WINDOW = 12


def enclosing_function(tree: ast.AST, line: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The innermost function whose body spans ``line``."""
    best: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            if start <= line <= end and (best is None or node.lineno >= best.lineno):
                best = node
    return best


def code_context(path: str, source: str, line: int) -> CodeContext:
    """The enclosing function of ``line`` (or a window when there is none or it is huge)."""
    lines = source.splitlines()
    line = max(1, min(line, len(lines) or 1))
    func_name: str | None = None
    start, end = max(1, line - WINDOW), min(len(lines), line + WINDOW)
    try:
        func = enclosing_function(ast.parse(source), line)
    except (SyntaxError, ValueError):
        func = None
    if func is not None:
        func_name = func.name
        f_start = min([func.lineno, *(d.lineno for d in func.decorator_list)])
        f_end = func.end_lineno or func.lineno
        if f_end - f_start <= MAX_FUNCTION_LINES:
            start, end = f_start, f_end
        else:
            start, end = max(f_start, line - WINDOW), min(f_end, line + WINDOW)
    return CodeContext(
        path=path, function=func_name, start_line=start, end_line=end, fault_line=line,
        lines=lines[start - 1 : end],
    )
