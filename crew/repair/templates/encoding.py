"""Encoding errors: decode and encode text as UTF-8, explicitly, where the bytes are turned into text.

``.decode("ascii")`` of UTF-8 data becomes ``.decode("utf-8")``; ``open(path)`` without an encoding
(the locale's, ASCII in many slim containers) gets ``encoding="utf-8"``. Replacing undecodable
bytes is offered only as a lower-ranked variant, since it changes the data.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import Edit, Fault, Source, candidate, finish, locate, string_literal

HANDLES: tuple[RootCause, ...] = (RootCause.ENCODING_ERROR,)

_CODEC = re.compile(r"'([\w-]+)' codec can't (decode|encode)")
_TEXT_READERS = ("open", "read_text", "write_text")


def _method_calls(nodes: list[ast.AST], name: str) -> list[ast.Call]:
    return [n for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == name]


def _encoding_arg(call: ast.Call) -> ast.expr | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0]
    for kw in call.keywords:
        if kw.arg == "encoding":
            return kw.value
    return None


def _add_keyword(src: Source, call: ast.Call, text: str) -> Edit | None:
    """An edit adding ``text`` (``name=value``) as the call's last argument."""
    last: ast.AST | None = None
    for node in [*call.args, *(k.value for k in call.keywords)]:
        if last is None or (node.end_lineno or 0, node.end_col_offset or 0) > (
            last.end_lineno or 0, last.end_col_offset or 0  # type: ignore[attr-defined]
        ):
            last = node
    if last is None:
        _l1, _c1, l2, c2 = src.span(call)
        line = src.lines[l2 - 1]
        close = line.rfind(")", 0, c2)
        if close == -1:
            return None
        return Edit(src).insert_at(l2, close, text)
    _l1, _c1, l2, c2 = src.span(last)
    return Edit(src).insert_at(l2, c2, f", {text}")


def _is_text_open(call: ast.Call) -> bool:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if name not in _TEXT_READERS or any(k.arg == "encoding" for k in call.keywords):
        return False
    if name == "open":
        is_path_method = isinstance(func, ast.Attribute)
        mode_pos = 0 if is_path_method else 1
        mode = call.args[mode_pos] if len(call.args) > mode_pos else next(
            (k.value for k in call.keywords if k.arg == "mode"), None)
        if mode is not None and not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)):
            return False
        if mode is not None and isinstance(mode, ast.Constant) and "b" in str(mode.value):
            return False
        if not is_path_method and len(call.args) > 3:
            return False  # positional buffering/encoding: leave it to a human
        return is_path_method or bool(call.args)
    return True


def _codec_calls(fault: Fault, verb: str, codec: str) -> list[Candidate | None]:
    src = fault.source
    out: list[Candidate | None] = []
    for call in _method_calls(fault.nodes(ast.Call), verb):
        arg = _encoding_arg(call)
        if arg is None and codec in ("utf-8", "utf8"):
            edit = _add_keyword(src, call, 'errors="replace"')
            if edit is not None:
                out.append(candidate(
                    f"{verb}-replace-invalid", src, edit.apply(),
                    f"`{src.segment(call)}` at {fault.path}:{call.lineno} meets bytes that are not valid UTF-8. "
                    "Replace the invalid bytes instead of failing (the text keeps a visible marker).", 0.45,
                ))
            continue
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            continue
        used = arg.value.lower().replace("_", "-")
        if used in ("utf-8", "utf8"):
            edit = _add_keyword(src, call, 'errors="replace"') if not any(k.arg == "errors" for k in call.keywords) \
                else None
            if edit is not None:
                out.append(candidate(
                    f"{verb}-replace-invalid", src, edit.apply(),
                    f"`{src.segment(call)}` at {fault.path}:{call.lineno} meets bytes that are not valid UTF-8. "
                    "Replace the invalid bytes instead of failing.", 0.45,
                ))
            continue
        if used != codec.lower().replace("_", "-") and codec.lower() not in ("ascii", "charmap"):
            continue
        utf8 = string_literal("utf-8", arg, src)
        why = (f"`{src.segment(call)}` at {fault.path}:{call.lineno} uses the {arg.value!r} codec, which cannot "
               f"{verb} the non-ASCII text this service now handles. Use UTF-8, which covers it and is "
               "identical for ASCII.")
        out.append(candidate(f"{verb}-utf8", src, Edit(src).replace(arg, utf8).apply(), why, 0.85))
        if verb == "decode":
            edit = Edit(src).replace(arg, utf8)
            if not any(k.arg == "errors" for k in call.keywords):
                _l1, _c1, l2, c2 = src.span(arg)
                edit.insert_at(l2, c2, ', errors="replace"')
                out.append(candidate("decode-utf8-replace", src, edit.apply(),
                                     why + " Undecodable bytes are replaced rather than failing.", 0.45))
    return out


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    m = _CODEC.search(ctx.diagnosis.exc_message)
    if m is None:
        return []
    codec, verb = m.group(1).lower(), m.group(2)
    src = fault.source
    out = _codec_calls(fault, verb, codec)
    if not any(c is not None and c.score >= 0.8 for c in out) and codec not in ("utf-8", "utf8"):
        # The implicit codec of a text-mode file: the open is on the fault line or earlier in the function.
        scope_nodes = list(fault.nodes(ast.Call))
        if fault.function is not None:
            scope_nodes += [n for n in ast.walk(fault.function) if isinstance(n, ast.Call)
                            and n.lineno <= fault.line and n not in scope_nodes]
        for call in scope_nodes:
            if isinstance(call, ast.Call) and _is_text_open(call):
                edit = _add_keyword(src, call, 'encoding="utf-8"')
                if edit is None:
                    continue
                out.append(candidate(
                    "open-utf8", src, edit.apply(),
                    f"`{src.segment(call)}` at {fault.path}:{call.lineno} opens text without an encoding, so "
                    f"Python uses the container's locale codec ({codec}), which cannot {verb} this data. "
                    "Name UTF-8 explicitly.", 0.8,
                ))
                break
    return finish(ctx, out, broad=("decode-utf8-replace", "decode-replace-invalid", "encode-replace-invalid"))
