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
from collections.abc import Callable

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    Handler,
    candidate,
    conditional,
    dispatch,
    is_simple,
    message_string,
    module_names,
)

HANDLES: tuple[RootCause, ...] = (RootCause.VALUE_PARSE_ERROR,)

_INT_LITERAL = re.compile(r"invalid literal for int\(\) with base 10: (.*)$", re.DOTALL)
_FLOAT_LITERAL = re.compile(r"could not convert string to float: (.*)$", re.DOTALL)
_DATE = re.compile(r"unconverted data remains: (?:[T ]\d|\.\d+Z?$|Z$|[+-]\d{2}:?\d{2}$)|"
                   r"time data '\d{4}-\d{2}-\d{2}[T ].* does not match format ")
_FRACTION_OR_UTC = re.compile(r"unconverted data remains: (?:\.\d+Z?|Z)$")
_WIDTHS = {"%Y": 4, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2}
_EMPTY_JSON = re.compile(r"Expecting value: line 1 column 1 \(char 0\)")
_ISOFORMAT = re.compile(r"Invalid isoformat string: (.*)$", re.DOTALL)
_EMPTY_STATS = re.compile(r"requires at least one data point|no (?:median|mode) for empty data|"
                          r"(?:requires|needs) at least two data points")
_STAT_FUNCS = {"mean", "fmean", "geometric_mean", "harmonic_mean", "median", "median_low", "median_high",
               "median_grouped", "mode", "stdev", "pstdev", "variance", "pvariance"}
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d*,\d+\s*$")
_DECIMALISH = re.compile(r"^\s*[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?\s*$")


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
    calls = _calls(fault, kind)
    if kind == "float" and _DECIMAL_COMMA.match(bad) and calls and is_simple(calls[0].args[0]):
        arg = src.segment(calls[0].args[0])
        return [candidate(
            "parse-decimal-comma", src, Edit(src).replace(calls[0].args[0], f'{arg}.replace(",", ".")').apply(),
            f"`{src.segment(calls[0])}` at {fault.path}:{calls[0].lineno} receives {bad!r}, a number written "
            "with a decimal comma, which `float()` rejects. Read the comma as the decimal point; anything "
            "else that is not a number still raises.", 0.8,
        )]
    if not blank and not decimal:
        return _shaped_number(fault, kind, bad, calls)  # garbage input is left alone: a default would hide it
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


_THOUSANDS = re.compile(r"^\s*[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*$")
_UNIT = re.compile(r"^\s*[-+]?\d+(?:\.\d+)?\s*[A-Za-z]{1,12}\s*$")
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+$", re.IGNORECASE)
_TIME_WORDS = re.compile(r"timeout|interval|delay|ttl|duration|second|secs|period|wait|retry|backoff|expir|age|"
                         r"sleep|window|every|lifetime|grace", re.IGNORECASE)


def _number_part_helper(name: str) -> list[str]:
    return [
        f"def {name}(value):",
        '    """The number a value with a trailing unit holds ("30kg" -> "30"); any other value unchanged."""',
        "    import re",
        "",
        "    match = re.fullmatch(r\"\\s*([-+]?\\d+(?:\\.\\d+)?)\\s*[A-Za-z]{1,12}\\s*\", str(value))",
        "    return match.group(1) if match else value",
    ]


def _duration_helper(name: str) -> list[str]:
    return [
        f"def {name}(value):",
        '    """Seconds in a duration such as "90", "30s", "5m", "1h30m" or "250ms"; other text still raises."""',
        "    import re",
        "",
        "    text = str(value).strip().lower()",
        "    parts = re.findall(r\"(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)\", text)",
        "    if not parts or re.sub(r\"(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)|\\s+\", \"\", text):",
        "        return float(text)",
        "    scale = {\"ms\": 0.001, \"s\": 1, \"m\": 60, \"h\": 3600, \"d\": 86400}",
        "    return sum(float(number) * scale[unit] for number, unit in parts)",
    ]


def _time_named(fault: Fault, call: ast.Call) -> bool:
    """Whether the value parsed is named as a time span (``timeout``, ``retry_delay``, ...)."""
    words = " ".join(n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else
                     str(n.value) if isinstance(n, ast.Constant) else "" for n in ast.walk(fault.stmt))
    return bool(_TIME_WORDS.search(words))


def _shaped_number(fault: Fault, kind: str, bad: str, calls: list[ast.Call]) -> list[Candidate | None]:
    """A number the producer now writes with thousands separators, a trailing unit, or as a duration."""
    if not calls:
        return []
    src = fault.source
    call = calls[0]
    arg = src.segment(call.args[0])
    where = f"`{src.segment(call)}` at {fault.path}:{call.lineno} receives {bad!r}"
    defined = module_names(src.tree)
    out: list[Candidate | None] = []
    if _THOUSANDS.match(bad) and (kind == "float" or "." not in bad):
        out.append(candidate(
            "parse-thousands-separators", src,
            Edit(src).replace(call.args[0], f'str({arg}).replace(",", "")').apply(),
            f"{where}, a number written with thousands separators, which `{kind}()` rejects. Drop the "
            "separators before parsing; a value that is no number still raises.", 0.75,
        ))
    duration = bool(_DURATION.match(bad))
    timed = _time_named(fault, call)
    if duration and "_duration_seconds" not in defined:
        out.append(candidate(
            "parse-duration-seconds", src,
            Edit(src).replace(call.args[0], f"_duration_seconds({arg})")
            .insert_top_level(_duration_helper("_duration_seconds")).apply(),
            f"{where}, a duration with a unit, which `{kind}()` rejects. Read it as seconds with a small "
            "helper (`30s`, `5m`, `1h30m`, `250ms`; a plain number is seconds as before); other text still "
            "raises.", 0.75 if timed else 0.5,
        ))
    if _UNIT.match(bad) and "_number_part" not in defined and not (duration and timed):
        out.append(candidate(
            "parse-strip-unit", src,
            Edit(src).replace(call.args[0], f"_number_part({arg})")
            .insert_top_level(_number_part_helper("_number_part")).apply(),
            f"{where}, a number followed by a unit, which `{kind}()` rejects. Parse the number in front of "
            "the unit with a small helper; a value without a leading number still raises.", 0.6,
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
        width = _fixed_width(fmt_value)
        if width and is_simple(value) and _FRACTION_OR_UTC.search(ctx.diagnosis.exc_message):
            out.append(candidate(
                "parse-date-drop-fraction", src, Edit(src).replace(value, f"{text}[:{width}]").apply(),
                f"`{src.segment(node)}` at {fault.path}:{node.lineno} is given a timestamp with fractional "
                "seconds or a `Z` (UTC) suffix after the fields its format reads. Parse the part the format "
                f"describes (the first {width} characters), so the result stays the naive date-time it was.", 0.75,
            ))
        iso = f"{text}.replace(\"Z\", \"+00:00\")" if is_simple(value) else f"({text}).replace(\"Z\", \"+00:00\")"
        out.append(candidate(
            "parse-isoformat", src, Edit(src).replace(node, f"{owner}.fromisoformat({iso})").apply(),
            why + " Parse it with `fromisoformat`, which reads both plain dates and ISO timestamps "
            "(a timestamp with an offset gives an aware date-time).", 0.7 if fmt_value == "%Y-%m-%d" else 0.75,
        ))
        return out
    return []


def _fixed_width(fmt: str | None) -> int | None:
    """The length of text a format of fixed-width fields reads (``%Y-%m-%dT%H:%M:%S`` → 19), else None."""
    if not fmt:
        return None
    width, i = 0, 0
    while i < len(fmt):
        if fmt[i] == "%":
            size = _WIDTHS.get(fmt[i:i + 2])
            if size is None:
                return None
            width, i = width + size, i + 2
        else:
            width, i = width + 1, i + 1
    return width


def _json(ctx: TemplateContext, fault: Fault) -> list[Candidate | None]:
    src = fault.source
    for node in fault.nodes(ast.Call):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "loads"
                and len(node.args) == 1 and is_simple(node.args[0])):
            arg = src.segment(node.args[0])
            parent = src.parent(node)
            empty = _empty_document(fault, parent)
            text = f"{src.segment(node)} if {arg} and {arg}.strip() else {empty}"
            bare = isinstance(parent, ast.Assign | ast.Return | ast.AnnAssign)
            return [candidate(
                "guard-empty-json", src, Edit(src).replace(node, text if bare else f"({text})").apply(),
                f"`{src.segment(node)}` at {fault.path}:{node.lineno} is given an empty body. "
                f"Treat an empty body as no document ({empty}) instead of parsing it.", 0.55,
            )]
    return []


def _empty_document(fault: Fault, parent: ast.AST | None) -> str:
    """``{}`` when the parsed value is then read as a mapping (``event.get(...)``, ``event["k"]``), else None."""
    if not isinstance(parent, ast.Assign) or fault.function is None:
        return "None"
    names = {t.id for t in parent.targets if isinstance(t, ast.Name)}
    end = parent.end_lineno or parent.lineno
    for node in ast.walk(fault.function):
        if getattr(node, "lineno", 0) <= end:
            continue
        base = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "items"):
            base = node.func.value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(
                node.slice.value, str):
            base = node.value
        if isinstance(base, ast.Name) and base.id in names:
            return "{}"
    return "None"


def _isoformat(ctx: TemplateContext, fault: Fault, bad: str) -> list[Candidate | None]:
    """``date.fromisoformat`` given a timestamp; ``datetime.fromisoformat`` given a ``Z`` suffix (before 3.11)."""
    src = fault.source
    for node in fault.nodes(ast.Call):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "fromisoformat" and len(node.args) == 1 and is_simple(node.args[0])):
            continue
        owner = src.segment(node.func.value).rsplit(".", 1)[-1]
        arg = src.segment(node.args[0])
        where = f"`{src.segment(node)}` at {fault.path}:{node.lineno}"
        if owner == "date" and re.match(r"\d{4}-\d{2}-\d{2}[T ]", bad):
            return [candidate(
                "parse-date-prefix", src, Edit(src).replace(node.args[0], f"{arg}[:10]").apply(),
                f"{where} is given a full timestamp ({bad!r}) where a date was expected. Parse only its date "
                "part (the first 10 characters), so plain dates and timestamps are both read.", 0.8,
            )]
        if owner == "datetime" and bad.rstrip().endswith("Z"):
            return [candidate(
                "parse-isoformat-utc", src, Edit(src).replace(node.args[0], f'{arg}.replace("Z", "+00:00")').apply(),
                f"{where} is given a UTC timestamp with a `Z` suffix ({bad!r}), which `fromisoformat` reads "
                "only from Python 3.11. Spell the suffix as `+00:00`, the same instant.", 0.8,
            )]
    return []


def _empty_statistics(ctx: TemplateContext, fault: Fault) -> list[Candidate | None]:
    """``statistics.mean(samples)`` on no samples: the summary of nothing is the neutral number."""
    src = fault.source
    two = "two" in ctx.diagnosis.exc_message
    for node in fault.nodes(ast.Call):
        if not isinstance(node, ast.Call) or len(node.args) != 1 or not is_simple(node.args[0]):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else (
            node.func.id if isinstance(node.func, ast.Name) else "")
        if name not in _STAT_FUNCS:
            continue
        arg = src.segment(node.args[0])
        cond = f"len({arg}) > 1" if two else arg
        return [candidate(
            "guard-empty-statistics", src, Edit(src).replace(node, conditional(src, node, cond, "0.0")).apply(),
            f"`{src.segment(node)}` at {fault.path}:{node.lineno} is called with "
            f"{'fewer than two values' if two else 'no values'}, which `{name}` rejects. Compute it only when "
            f"there {'are enough values' if two else 'is data'} and report 0.0 otherwise, as an empty summary.",
            0.7,
        )]
    return []


def _quoted(handler: Callable[[TemplateContext, Fault, str], list[Candidate | None]]) -> Handler:
    """A handler of the bad value the message quotes (nothing when it is not a string literal)."""
    def run(ctx: TemplateContext, fault: Fault, m: re.Match[str]) -> list[Candidate | None]:
        bad = message_string(m.group(1))
        return handler(ctx, fault, bad) if bad is not None else []
    return run


def generate(ctx: TemplateContext) -> list[Candidate]:
    return dispatch(ctx, [
        (_INT_LITERAL, _quoted(lambda c, f, bad: _number(c, f, "int", bad))),
        (_FLOAT_LITERAL, _quoted(lambda c, f, bad: _number(c, f, "float", bad))),
        (_DATE, lambda c, f, m: _strptime(c, f)),
        (_EMPTY_JSON, lambda c, f, m: _json(c, f)),
        (_ISOFORMAT, _quoted(_isoformat)),
        (_EMPTY_STATS, lambda c, f, m: _empty_statistics(c, f)),
    ])
