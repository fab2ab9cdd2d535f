"""Encoding errors: decode and encode text as UTF-8, explicitly, where the bytes are turned into text.

``.decode("ascii")`` of UTF-8 data becomes ``.decode("utf-8")``; ``open(path)`` without an encoding
(the locale's, ASCII in many slim containers) gets ``encoding="utf-8"``. Data read as UTF-8 that
is not UTF-8 (a legacy latin-1 file) is decoded by a small helper that tries UTF-8 first and falls
back to latin-1 only for bytes that are not valid UTF-8, so UTF-8 data reads exactly as before.
Replacing undecodable bytes is offered only as a lower-ranked variant, since it changes the data.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    Source,
    candidate,
    finish,
    locate,
    module_names,
    string_literal,
)

HANDLES: tuple[RootCause, ...] = (RootCause.ENCODING_ERROR,)

_CODEC = re.compile(r"'([\w-]+)' codec can't (decode|encode)")
_TEXT_READERS = ("open", "read_text", "write_text")
_BAD_BYTE = re.compile(r"can't decode byte 0x([0-9a-f]{2}) in position (\d+)")
_UTF8 = ("utf-8", "utf8")
FALLBACK = "decode-utf8-then-latin1"


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


def _replace_invalid(fault: Fault, call: ast.Call, verb: str, note: str) -> Candidate | None:
    """The lower-ranked variant: ``errors="replace"`` on a UTF-8 call (it changes the data)."""
    src = fault.source
    edit = _add_keyword(src, call, 'errors="replace"')
    if edit is None:
        return None
    return candidate(
        f"{verb}-replace-invalid", src, edit.apply(),
        f"`{src.segment(call)}` at {fault.path}:{call.lineno} meets bytes that are not valid UTF-8. "
        f"Replace the invalid bytes instead of failing{note}.", 0.45,
    )


def _codec_calls(fault: Fault, verb: str, codec: str) -> list[Candidate | None]:
    src = fault.source
    out: list[Candidate | None] = []
    for call in _method_calls(fault.nodes(ast.Call), verb):
        arg = _encoding_arg(call)
        if arg is None and codec in ("utf-8", "utf8"):
            out.append(_replace_invalid(fault, call, verb, " (the text keeps a visible marker)"))
            continue
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            continue
        used = arg.value.lower().replace("_", "-")
        if used in ("utf-8", "utf8"):
            if not any(k.arg == "errors" for k in call.keywords):
                out.append(_replace_invalid(fault, call, verb, ""))
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


def _codec_name(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.lower().replace("_", "-")
    return None


def _not_text(message: str) -> bool:
    """The undecodable byte says the data is not 8-bit text: a UTF-16 byte-order mark, gzip."""
    m = _BAD_BYTE.search(message)
    if m is None:
        return False
    byte, position = int(m.group(1), 16), int(m.group(2))
    return (byte in (0xFF, 0xFE) and position <= 1) or (byte == 0x8B and position == 1)


def _strict_utf8(call: ast.Call, positional: int) -> bool:
    """True when the call's only arguments name UTF-8 (positional slot ``positional`` or ``encoding=``)."""
    if len(call.args) > positional + 1 or any(k.arg not in ("encoding",) for k in call.keywords):
        return False
    given = [*call.args[positional:], *(k.value for k in call.keywords)]
    if len(given) > 1:
        return False
    return not given or _codec_name(given[0]) in _UTF8


def _attr_start(src: Source, func: ast.Attribute) -> tuple[int, int]:
    """(line, char col) where the attribute name of ``x.name`` starts."""
    _l1, _c1, l2, c2 = src.span(func)
    return l2, c2 - len(func.attr)


def _drop_keyword(src: Source, edit: Edit, call: ast.Call, kw: ast.keyword) -> None:
    """Remove ``kw`` and the comma that separates it from its neighbour."""
    items: list[ast.expr | ast.keyword] = sorted([*call.args, *call.keywords], key=lambda n: (n.lineno, n.col_offset))
    at = items.index(kw)
    _a, _b, kl2, kc2 = src.span(kw)
    if at > 0:
        _p1, _pc1, pl2, pc2 = src.span(items[at - 1])
        edit.replace_span(pl2, pc2, kl2, kc2, "")
    elif at + 1 < len(items):
        kl1, kc1, _x, _y = src.span(kw)
        nl1, nc1, _n2, _nc2 = src.span(items[at + 1])
        edit.replace_span(kl1, kc1, nl1, nc1, "")
    else:
        edit.replace(kw, "")


def _binary_open(src: Source, edit: Edit, opener: ast.Call) -> bool:
    """Edit ``open(p, encoding="utf-8")`` (or ``path.open(...)``) into ``open(p, "rb")``; False if it cannot."""
    func = opener.func
    if isinstance(func, ast.Name) and func.id == "open":
        mode_at = 1
    elif isinstance(func, ast.Attribute) and func.attr == "open":
        mode_at = 0
    else:
        return False
    if len(opener.args) > mode_at + 1 or any(k.arg not in ("encoding", "mode") for k in opener.keywords):
        return False
    enc = next((k for k in opener.keywords if k.arg == "encoding"), None)
    if enc is None or _codec_name(enc.value) not in _UTF8:
        return False
    mode_kw = next((k for k in opener.keywords if k.arg == "mode"), None)
    mode = opener.args[mode_at] if len(opener.args) > mode_at else mode_kw.value if mode_kw else None
    if mode is not None and not (isinstance(mode, ast.Constant) and mode.value in ("r", "rt", "tr")):
        return False
    binary = string_literal("rb", enc.value, src)
    if mode is not None:
        edit.replace(mode, binary)
        _drop_keyword(src, edit, opener, enc)
    elif opener.keywords[0] is enc:
        edit.replace(enc, binary)
    else:
        edit.replace(enc, f"mode={binary}")
    return True


def _helper(name: str, src: Source, like: ast.AST | None, text_mode: bool) -> list[str]:
    """The fallback decoder, in the file's quotes and indentation.

    It tests the bytes instead of catching ``UnicodeDecodeError``: surrogateescape turns each byte
    that is not UTF-8 into one escape character, which surrogatepass encodes as three bytes, so the
    round trip gives the data back exactly when the data is valid UTF-8.
    """
    i = src.indent_unit()

    def q(value: str) -> str:
        return string_literal(value, like, src)

    rows = [
        f"def {name}(data: bytes) -> str:",
        f'{i}"""A text file\'s content: UTF-8, or latin-1 for a legacy file that is not valid UTF-8."""' if text_mode
        else f'{i}"""UTF-8 text, or latin-1 for legacy data that is not valid UTF-8."""',
        f"{i}text = data.decode({q('utf-8')}, errors={q('surrogateescape')})",
        f"{i}if text.encode({q('utf-8')}, errors={q('surrogatepass')}) != data:  # some bytes are not UTF-8",
        f"{i}{i}text = data.decode({q('latin-1')})",
    ]
    if text_mode:
        return [*rows, f"{i}return text.replace({q(chr(13) + chr(10))}, {q(chr(10))}).replace({q(chr(13))}, "
                       f"{q(chr(10))})  # newlines as text mode reads them"]
    return [*rows, f"{i}return text"]


def _add_helper(src: Source, edit: Edit, name: str, rows: list[str]) -> bool:
    """Insert the helper after the imports, once: an identical one already there is reused."""
    existing = [s for s in src.tree.body if isinstance(s, ast.FunctionDef) and s.name == name]
    if existing:
        wanted = ast.parse("\n".join(rows)).body[0]
        return ast.dump(existing[0]) == ast.dump(wanted)
    if name in module_names(src.tree):
        return False
    edit.insert_top_level(rows)
    return True


def _fallback_decode(fault: Fault, message: str) -> Candidate | None:
    """UTF-8 data that is not UTF-8: decode UTF-8 first, latin-1 only when that fails."""
    if _not_text(message):
        return None
    src = fault.source
    for call in fault.nodes(ast.Call):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
            continue
        func = call.func
        edit = Edit(src)
        like: ast.AST | None = None
        if func.attr == "decode" and _strict_utf8(call, 0):
            text_mode, name = False, "_decode_text"
            l1, c1, _l2, _c2 = src.span(call)
            value = src.between(l1, c1, *_attr_start(src, func)).rstrip(" \t\r\n\\")
            if not value.endswith("."):
                continue
            like = next(iter([*call.args, *(k.value for k in call.keywords)]), None)
            edit.replace(call, f"{name}({value[:-1].rstrip()})")
        elif func.attr == "read_text" and _strict_utf8(call, 0) and (call.args or call.keywords):
            text_mode, name = True, "_decode_file_text"
            like = [*call.args, *(k.value for k in call.keywords)][0]
            al, ac = _attr_start(src, func)
            _l1, _c1, l2, c2 = src.span(call)
            l1, c1, _x, _y = src.span(call)
            edit.insert_at(l1, c1, f"{name}(").replace_span(al, ac, l2, c2, "read_bytes()").insert_at(l2, c2, ")")
        elif (func.attr == "read" and not call.args and not call.keywords and isinstance(func.value, ast.Call)
              and _binary_open(src, edit, func.value)):
            text_mode, name = True, "_decode_file_text"
            like = next(k.value for k in func.value.keywords if k.arg == "encoding")
            l1, c1, l2, c2 = src.span(call)
            edit.insert_at(l1, c1, f"{name}(").insert_at(l2, c2, ")")
        else:
            continue
        if not _add_helper(src, edit, name, _helper(name, src, like, text_mode)):
            continue
        where = f"`{' '.join(src.segment(call).split())}` at {fault.path}:{call.lineno}"
        reads = "reads the bytes and decodes them" if text_mode else "decodes the bytes"
        return candidate(
            FALLBACK, src, edit.apply(),
            f"{where} decodes as UTF-8, but this data is not valid UTF-8 ({message}: most likely a legacy "
            "latin-1 file). "
            f"`{name}`, added once after the imports, {reads} as UTF-8 first and falls back to latin-1 only when "
            "they are not valid UTF-8, so UTF-8 data reads exactly as before and no byte is replaced or dropped.",
            0.8,
        )
    return None


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
    if verb == "decode" and codec in _UTF8:
        out.append(_fallback_decode(fault, ctx.diagnosis.exc_message))
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
