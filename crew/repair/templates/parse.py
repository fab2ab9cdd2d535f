"""Value parse errors: make the parse at the call site accept the input the producer now sends.

Covered: ``int()`` / ``float()`` on ``''`` or on a decimal string, ``datetime.strptime`` given an
ISO timestamp where a date was expected, and ``json.loads`` of an empty body. When the exception
was raised inside a library (``_strptime``, ``json.decoder``), the fix still goes at the repo
frame that called it. Input that is simply garbage (``int('abc')``) is left alone: a default
there would hide bad data.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import Edit, Fault, candidate, finish, is_simple, locate, module_names

HANDLES: tuple[RootCause, ...] = (RootCause.VALUE_PARSE_ERROR,)

_INT_LITERAL = re.compile(r"invalid literal for int\(\) with base 10: (.*)$", re.DOTALL)
_FLOAT_LITERAL = re.compile(r"could not convert string to float: (.*)$", re.DOTALL)
_DATE = re.compile(r"unconverted data remains: [T ]\d|time data '\d{4}-\d{2}-\d{2}[T ].* does not match format ")
_EMPTY_JSON = re.compile(r"Expecting value: line 1 column 1 \(char 0\)")
_DECIMALISH = re.compile(r"^\s*[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?\s*$")


def _literal(raw: str) -> str | None:
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _calls(fault: Fault, name: str) -> list[ast.Call]:
    return [
        n for n in fault.nodes(ast.Call)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
        and len(n.args) == 1 and not n.keywords
    ]


def _helper(kind: str, name: str) -> list[str]:
    if kind == "int":
        return [
            f"def {name}(value, default=0):",
            '    """int() that also accepts blank values and decimal strings such as "3.0"."""',
            "    if value is None or str(value).strip() == \"\":",
            "        return default",
            "    text = str(value).strip()",
            "    return int(text) if text.lstrip(\"+-\").isdigit() else int(float(text))",
        ]
    return [
        f"def {name}(value, default=0.0):",
        '    """float() that also accepts blank values."""',
        "    if value is None or str(value).strip() == \"\":",
        "        return default",
        "    return float(value)",
    ]


def _number(ctx: TemplateContext, fault: Fault, kind: str, bad: str) -> list[Candidate | None]:
    src = fault.source
    blank = bad.strip() == ""
    decimal = bool(_DECIMALISH.match(bad)) and kind == "int"
    if not blank and not decimal:
        return []  # garbage input: a default would hide it
    calls = _calls(fault, kind)
    if not calls:
        return []
    call = calls[0]
    arg = src.segment(call.args[0])
    helper = f"_to_{kind}"
    if helper in module_names(src.tree):
        return []
    default = "0" if kind == "int" else "0.0"
    what = "an empty value" if blank else f"a decimal string ({bad!r})"
    why = (f"`{src.segment(call)}` at {fault.path}:{call.lineno} receives {what}, which `{kind}()` rejects. ")
    tolerant = (f"blank values become {default}" + ("" if blank else " and decimal strings are read through float()"))
    out: list[Candidate | None] = [candidate(
        f"tolerant-{kind}-parse", src,
        Edit(src).replace(call, f"{helper}({arg})").insert_top_level(_helper(kind, helper)).apply(),
        why + f"Parse it with a small helper `{helper}` at the call site: {tolerant}; anything else still raises.",
        0.8,
    )]
    if is_simple(call.args[0]):
        inner = f"int(float({arg}))" if kind == "int" and decimal else f"{kind}({arg})"
        cond = f"str({arg}).strip()" if blank else "True"
        text = f"{inner} if {cond} else {default}" if blank else inner
        paren = not isinstance(src.parent(call), ast.Assign | ast.Return | ast.AnnAssign) and blank
        out.append(candidate(
            f"inline-{kind}-parse", src, Edit(src).replace(call, f"({text})" if paren else text).apply(),
            why + f"Parse it inline: {tolerant}.", 0.6,
        ))
    return out


def _strptime(ctx: TemplateContext, fault: Fault) -> list[Candidate | None]:
    src = fault.source
    for node in fault.nodes(ast.Call):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "strptime"
                and len(node.args) == 2 and not node.keywords):
            continue
        value, fmt = node.args
        owner = src.segment(node.func.value)
        text = src.segment(value)
        fmt_value = fmt.value if isinstance(fmt, ast.Constant) and isinstance(fmt.value, str) else None
        why = (f"`{src.segment(node)}` at {fault.path}:{node.lineno} is given a full ISO timestamp where "
               f"the format expects {fmt_value or 'a different shape'}.")
        out: list[Candidate | None] = []
        if fmt_value == "%Y-%m-%d" and is_simple(value):
            out.append(candidate(
                "parse-date-prefix", src,
                Edit(src).replace(value, f"{text}[:10]").apply(),
                why + " Parse only its date part (the first 10 characters), so both plain dates and "
                "timestamps are read, and the result stays a naive date-time as before.", 0.8,
            ))
        iso = f"{text}.replace(\"Z\", \"+00:00\")" if is_simple(value) else f"({text}).replace(\"Z\", \"+00:00\")"
        out.append(candidate(
            "parse-isoformat", src, Edit(src).replace(node, f"{owner}.fromisoformat({iso})").apply(),
            why + " Parse it with `fromisoformat`, which reads both plain dates and ISO timestamps "
            "(a timestamp with an offset gives an aware date-time).", 0.7 if fmt_value == "%Y-%m-%d" else 0.75,
        ))
        return out
    return []


def _json(ctx: TemplateContext, fault: Fault) -> list[Candidate | None]:
    src = fault.source
    for node in fault.nodes(ast.Call):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "loads"
                and len(node.args) == 1 and is_simple(node.args[0])):
            arg = src.segment(node.args[0])
            parent = src.parent(node)
            text = f"{src.segment(node)} if {arg} and {arg}.strip() else None"
            bare = isinstance(parent, ast.Assign | ast.Return | ast.AnnAssign)
            return [candidate(
                "guard-empty-json", src, Edit(src).replace(node, text if bare else f"({text})").apply(),
                f"`{src.segment(node)}` at {fault.path}:{node.lineno} is given an empty body. "
                "Treat an empty body as no document (None) instead of parsing it.", 0.55,
            )]
    return []


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    message = ctx.diagnosis.exc_message
    out: list[Candidate | None] = []
    if m := _INT_LITERAL.search(message):
        bad = _literal(m.group(1))
        out = _number(ctx, fault, "int", bad) if bad is not None else []
    elif m := _FLOAT_LITERAL.search(message):
        bad = _literal(m.group(1))
        out = _number(ctx, fault, "float", bad) if bad is not None else []
    elif _DATE.search(message):
        out = _strptime(ctx, fault)
    elif _EMPTY_JSON.search(message):
        out = _json(ctx, fault)
    return finish(ctx, out)
