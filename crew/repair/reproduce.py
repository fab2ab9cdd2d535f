"""Crash reproduction: find the crashing call and write it down as a pytest regression test.

The input comes, in order of preference, from the logs (the caller's argument expressions bound
to values of a logged request body), from the exception message (``KeyError: 'discount'``,
``invalid literal for int() with base 10: ''``), or from a search over small typed inputs built
from the signature, annotations, defaults and call sites. Every candidate input is tried in the
sandbox by ``probe_script.py``; the first that raises the diagnosed exception in the fault frame
wins (EvoCrash's fitness: same exception type, same frame). Healcrew itself never runs repo code.

Nothing the sandbox prints is trusted. The probe's results count only when their HMAC tag
verifies under the run's key (see ``probe_script.py`` for what repo code can and cannot reach),
and even then they are untrusted data: an entry names an input by its index in healcrew's own
list, and the test is written from that list, re-checked with ``ast`` (literals of known types,
or constructors of classes healcrew imports, with literal arguments). Exception names and
messages from the sandbox are capped and only compared, never written as code. Values taken from
a log are passed through :mod:`crew.repair.synthetic` first, so a secret in them never becomes a
literal in the test.
"""

from __future__ import annotations

import ast
import base64
import binascii
import hashlib
import hmac
import itertools
import keyword
import math
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from crew.errors import HealcrewError
from crew.handoffs import CrashEvidence, Diagnosis, MappedFrame, Mismatch
from crew.payloads import dicts_in
from crew.repair.fidelity import Observed, Verdict, fault_file_frame, judge, message_score
from crew.repair.http_repro import Route, route_inputs
from crew.repair.synthetic import scrub
from crew.repo import GitRepo

PROBE_SCRIPT = Path(__file__).with_name("probe_script.py")
PROBE_BEGIN, PROBE_END = "<<<HEALCREW-PROBE", "HEALCREW-PROBE>>>"
MAX_INPUTS = 240
MAX_PROBE_ENTRIES = 1000
MAX_LITERAL = 2000


class UnsafeInputError(HealcrewError):
    """An input or expected value is not something healcrew can write into a test as a literal."""

_GENERIC = ["0", "1", "0.0", "2.5", "-1", "''", "'a'", "None", "[]", "{}", "'0'", "True"]
_BY_ANNOTATION = {
    "int": ["0", "1", "-1", "2"],
    "float": ["0.0", "1.0", "-1.0", "2.5"],
    "str": ["''", "'a'", "'0'", "'3.0'", "'café'", "'2026-11-05T10:00:00Z'", "'2026-11-05'"],
    "bytes": ["b''", "b'abc'", "b'caf\\xc3\\xa9'"],
    "bool": ["True", "False"],
    "list": ["[]", "[1]", "['a']"],
    "dict": ["{}", "{'a': 1}"],
    "None": ["None"],
    "date": ["date(2026, 11, 5)"],
    "datetime": ["datetime(2026, 11, 5, 10, 0)"],
    "Decimal": ["Decimal('0')", "Decimal('12.50')"],
}
STDLIB_NAMES = {"date": "datetime", "datetime": "datetime", "Decimal": "decimal", "SimpleNamespace": "types"}
MAX_OBJECT_DEPTH = 2


@dataclass
class Param:
    """One parameter of the target function."""

    name: str
    annotation: str | None = None
    default: str | None = None


@dataclass
class Target:
    """What the regression test calls."""

    module: str
    function: str | None  # None: the crash happens at import time; the test imports the module
    path: str
    import_root: str
    params: list[Param] = field(default_factory=list)
    assigned_name: str | None = None  # for import-time crashes: the name the fault line assigns
    imports: dict[str, str] = field(default_factory=dict)  # names input expressions use → their module
    returns: str | None = None  # the return annotation, a fallback for the sanity assert
    is_async: bool = False  # a coroutine function: the probe and the test run it to completion
    route: Route | None = None  # set when the crash is replayed as a request to a web route
    depth: int = 0  # repo frames between this entry and the fault frame (0: the fault function itself)


@dataclass
class CandidateInput:
    """One argument tuple healcrew sends to the probe, as Python expressions it built itself."""

    args: list[str]
    source: str  # log | message | search
    synthetic: bool = False  # a secret in the logged value was replaced by a same-shape stand-in


@dataclass
class Reproduction:
    """The crashing input the probe confirmed, and what ordinary inputs return.

    ``args`` and ``normal_inputs`` are healcrew's own inputs, looked up by the probe's index;
    ``normal_results`` and ``normal_types`` are sandbox text (capped), for comparison only.
    """

    args: list[str] | None
    source: str
    normal_types: list[str]
    normal_inputs: list[list[str]]
    normal_results: list[str]
    probe_results: list[ProbeResult]
    imports: dict[str, str] = field(default_factory=dict)
    synthetic: bool = False
    closest: Mismatch | None = None  # no input reproduced: the near miss that matched the most parts
    refused: int = 0  # inputs with the right type, frame and line whose message is another crash's


# ----------------------------------------------------------------------------- the probe's answer


def _capped(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda v: v[:limit] if isinstance(v, str) else v)


_Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")]
_TypeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,199}$")]


class ProbeFrame(BaseModel):
    """The frame that raised, as the sandbox reported it (untrusted; compared, never rendered)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    file: Annotated[str, _capped(500)] = ""
    line: int = Field(default=0, ge=0)
    function: Annotated[str, _capped(200)] = ""


class ProbeResult(BaseModel):
    """One entry of the probe's answer: what happened to healcrew's input number ``index``.

    ``index`` is None for a failure before any input ran (the import). Text fields are capped;
    an entry with a field the protocol does not have, or a name that is not an identifier, is
    dropped rather than trusted.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    index: int | None = Field(ge=0)
    error: _Name | None = None
    message: Annotated[str, _capped(300)] | None = None
    frame: ProbeFrame | None = None
    result: Annotated[str, _capped(300)] | None = None
    type: _TypeName | None = None
    skipped: Annotated[str, _capped(200)] | None = None


def new_probe_key() -> str:
    """A fresh secret for one probe run (hex); the probe deletes its copy before repo code runs."""
    return secrets.token_hex(32)


def parse_probe_output(stdout: str, key: str) -> list[ProbeResult] | None:
    """The probe's results from the first block whose tag verifies under ``key``; None if there is none.

    Blocks without a valid tag (printed by repo code, or by anything else) are ignored.
    """
    secret = bytes.fromhex(key)
    pos = 0
    for _ in range(10_000):
        start = stdout.find(PROBE_BEGIN, pos)
        if start == -1:
            return None
        end = stdout.find(PROBE_END, start)
        if end == -1:
            return None
        pos = start + len(PROBE_BEGIN)
        tag, _, encoded = stdout[pos:end].strip().partition(" ")
        try:
            payload = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(tag.encode(), hmac.new(secret, payload, hashlib.sha256).hexdigest().encode()):
            return _entries(payload)
    return None


def _entries(payload: bytes) -> list[ProbeResult]:
    out = []
    for line in payload.decode("utf-8", "replace").splitlines()[:MAX_PROBE_ENTRIES]:
        try:
            out.append(ProbeResult.model_validate_json(line))
        except ValidationError:
            continue  # not an entry of the protocol: dropped, never guessed at
    return out


# ----------------------------------------------------------------------------- safe literals


def _safe_node(node: ast.expr, constructors: Collection[str], depth: int = 0) -> bool:
    if depth > 20:
        return False
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, float):
            return math.isfinite(value)
        return value is None or isinstance(value, str | bytes | int | bool)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return (isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)
                and _safe_node(node.operand, constructors, depth + 1))
    if isinstance(node, ast.List | ast.Tuple):
        return all(_safe_node(e, constructors, depth + 1) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _safe_node(k, constructors, depth + 1) for k in node.keys) and all(
            _safe_node(v, constructors, depth + 1) for v in node.values)
    if isinstance(node, ast.Call):
        func = node.func
        # a constructor of a named class, or a public method called on one (an object built in steps)
        callee = (isinstance(func, ast.Name) and func.id in constructors) or (
            isinstance(func, ast.Attribute) and not func.attr.startswith("_") and isinstance(func.value, ast.Call)
            and _safe_node(func.value, constructors, depth + 1))
        return (callee and all(_safe_node(a, constructors, depth + 1) for a in node.args)
                and all(k.arg is not None and _safe_node(k.value, constructors, depth + 1) for k in node.keywords))
    return False


def safe_expression(source: str, constructors: Collection[str] = ()) -> str | None:
    """``source`` re-rendered from its syntax tree if it is only literals (str, bytes, int, float,
    bool, None, and lists, tuples, dicts of those) and calls of the named classes with such
    arguments, optionally followed by a chain of public method calls with such arguments
    (``Basket('a').add(Item('x', 1.0))``: an object built in several steps); None otherwise."""
    if len(source) > MAX_LITERAL:
        return None
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return ast.unparse(tree.body) if _safe_node(tree.body, constructors) else None


def is_dotted_name(name: str) -> bool:
    return bool(name) and all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))


def safe_imports(imports: dict[str, str]) -> dict[str, str]:
    """The ``name -> module`` pairs that are plain identifiers (repo paths can hold anything)."""
    return {n: m for n, m in imports.items() if is_dotted_name(n) and "." not in n and is_dotted_name(m)}


def module_for(path: str, tracked: set[str]) -> tuple[str, str]:
    """(import root, dotted module) for a repo file, following ``__init__.py`` upwards."""
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    depth = len(parts) - 1
    while depth > 0 and "/".join(parts[:depth]) + "/__init__.py" in tracked:
        depth -= 1
    root = "/".join(parts[:depth])
    return root, ".".join(parts[depth:])


def _function_node(tree: ast.Module, name: str, line: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name == name
            and node.lineno <= line <= (node.end_lineno or node.lineno)
        ):
            return node
    return None


def _is_top_level(tree: ast.Module, node: ast.AST) -> bool:
    return any(child is node for child in tree.body)


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Param]:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = []
    for arg, default in zip(positional, defaults, strict=True):
        if arg.arg in ("self", "cls"):
            continue
        params.append(Param(
            name=arg.arg,
            annotation=ast.unparse(arg.annotation) if arg.annotation else None,
            default=ast.unparse(default) if default is not None else None,
        ))
    return params


def find_target(diagnosis: Diagnosis, repo: GitRepo) -> Target | None:
    """The fault function if it is callable from a test, else the nearest top-level caller."""
    from crew.repair.entry_points import find_targets

    found = find_targets(diagnosis, repo, limit=1)
    return found[0] if found else None


def target_at_frame(mapped: MappedFrame, repo: GitRepo, tracked: set[str]) -> Target | None:
    """What a test can call to run this repo frame: its function, its method on a built instance,
    or, for a module-level frame, the import of the module. None: a closure, a dunder, unparsable."""
    path = mapped.repo_path or ""
    source = repo.read(path)
    if source is None:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    root, module = module_for(path, tracked)
    if mapped.frame.function == "<module>":
        assigned = None
        for stmt in tree.body:
            if stmt.lineno <= mapped.frame.line <= (stmt.end_lineno or stmt.lineno) and isinstance(
                stmt, ast.Assign | ast.AnnAssign
            ):
                target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
                assigned = target.id if isinstance(target, ast.Name) else None
        return Target(module=module, function=None, path=path, import_root=root, assigned_name=assigned)
    node = _function_node(tree, mapped.frame.function, mapped.frame.line)
    if node is None:
        return None
    returns = ast.unparse(node.returns) if node.returns else None
    is_async = isinstance(node, ast.AsyncFunctionDef)
    if _is_top_level(tree, node):
        return Target(module=module, function=node.name, path=path, import_root=root, params=_params(node),
                      returns=returns, is_async=is_async)
    owner = _owning_class(tree, node)
    if owner is not None and not node.name.startswith("__"):
        decorators = {ast.unparse(d) for d in node.decorator_list}
        params = _params(node)
        if not decorators & {"staticmethod", "classmethod"}:
            params.insert(0, Param("self", annotation=owner.name))  # an instance built from its fields
        return Target(module=module, function=f"{owner.name}.{node.name}", path=path, import_root=root,
                      params=params, returns=returns, is_async=is_async)
    return None


def _owning_class(tree: ast.Module, node: ast.AST) -> ast.ClassDef | None:
    """The top-level class that defines ``node`` directly."""
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef) and any(child is node for child in stmt.body):
            return stmt
    return None


# ----------------------------------------------------------------------------- inputs


def _literal(value: Any) -> str | None:
    text = repr(value)
    return text if safe_expression(text) is not None else None


def _log_literal(value: Any, key: str | None = None) -> tuple[str | None, bool]:
    """A value taken from a log as a literal, with any secret in it made synthetic."""
    clean, changed = scrub(value, key)
    return _literal(clean), changed


def _records(value: Any, out: list[dict[str, Any]], depth: int = 0) -> None:
    """Every dict nested in ``value``, innermost last."""
    if depth > 6:
        return
    if isinstance(value, dict):
        out.append(value)
        for v in value.values():
            _records(v, out, depth + 1)
    elif isinstance(value, list):
        for v in value[:50]:
            _records(v, out, depth + 1)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _leaf(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant) and isinstance(expr.slice.value, str):
        return expr.slice.value
    return None


def _call_site_names(diagnosis: Diagnosis, function: str) -> list[str] | None:
    """Leaf names of the arguments the caller passed to ``function`` (``item.discount`` → discount)."""
    mapped = [m for m in diagnosis.frames if m.repo_path]
    for caller, callee in itertools.pairwise(mapped):
        if callee.frame.function != function or not caller.frame.code:
            continue
        try:
            tree = ast.parse(caller.frame.code.strip().removesuffix(":") or "pass")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _leaf(node.func) == function:
                names = [_leaf(a) for a in node.args]
                if all(names):
                    return [n for n in names if n]
    return None


def log_inputs(target: Target, diagnosis: Diagnosis, evidence: CrashEvidence | None) -> list[CandidateInput]:
    """Argument tuples bound from values in logged payloads (the most faithful inputs).

    Secrets in the values are replaced by synthetic ones of the same shape (``synthetic`` says so).
    """
    if evidence is None or target.function is None or not target.params:
        return []
    records: list[dict[str, Any]] = []
    # newest lines first: the request logged just before the crash is the likeliest culprit
    for line in reversed([*evidence.context_lines, *evidence.log_excerpt]):
        for found in dicts_in(line):
            _records(found, records)
    if not records:
        return []
    names_sets = [[p.name for p in target.params if p.default is None]]
    site = _call_site_names(diagnosis, target.function.rsplit(".", 1)[-1])
    if site:
        names_sets.insert(0, site)
    out: list[tuple[tuple[str, ...], bool]] = []
    for names in names_sets:
        wanted = [_norm(n) for n in names]
        for record in records:
            keys = {_norm(str(k)): (str(k), v) for k, v in record.items()}
            if wanted and all(w in keys for w in wanted):
                bound = [_log_literal(keys[w][1], keys[w][0]) for w in wanted]
                args = [a for a, _ in bound if a is not None]
                if len(args) == len(bound):
                    out.append((tuple(args), any(changed for _, changed in bound)))
        # a single dict parameter: pass whole logged records
        if len(target.params) == 1 and not out:
            for record in records[:10]:
                lit, changed = _log_literal(record)
                if lit is not None:
                    out.append(((lit,), changed))
    unique = list(dict.fromkeys(out))
    # boundary values (0, empty, None) are what crashes code: try those first, keep recency otherwise
    unique.sort(key=lambda item: not any(_is_boundary(a) for a in item[0]))
    return [CandidateInput(list(args), "log", synthetic) for args, synthetic in unique[:40]]


def _is_boundary(literal: str) -> bool:
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return False
    return value is None or (not isinstance(value, bool) and value in (0, "", b"")) or value in ([], {})


def message_values(message: str) -> list[str]:
    """Quoted values in the exception message, as string literals (secrets made synthetic)."""
    return [lit for lit, _ in message_literals(message)]


def message_literals(message: str) -> list[tuple[str, bool]]:
    """Quoted values in the exception message as string literals, and whether a secret was replaced."""
    values = []
    for match in re.finditer(r"'([^'\n]{0,80})'|\"([^\"\n]{0,80})\"", message):
        text = match.group(1) if match.group(1) is not None else match.group(2)
        clean, changed = scrub(text)
        values.append((repr(clean), changed))
    return values[:4]


def _call_site_literals(repo: GitRepo, function: str, limit_files: int = 200) -> list[list[str]]:
    """Literal argument tuples at call sites of ``function`` in the repo (tests included)."""
    tuples: list[list[str]] = []
    files = [p for p in repo.tracked_files if p.endswith(".py")][:limit_files]
    for path in files:
        source = repo.read(path) or ""
        if function not in source:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _leaf(node.func) == function and not node.keywords:
                lits = []
                for arg in node.args:
                    try:
                        lits.append(repr(ast.literal_eval(arg)))
                    except (ValueError, SyntaxError, TypeError):
                        break
                else:
                    tuples.append(lits)
    return tuples[:20]


@dataclass
class ClassInfo:
    """A class of the repo that an input may need to construct."""

    module: str
    fields: list[Param]


def class_index(repo: GitRepo) -> dict[str, ClassInfo]:
    """Constructor fields of every top-level class: dataclass-style annotations or ``__init__``."""
    tracked = set(repo.tracked_files)
    index: dict[str, ClassInfo] = {}
    for path in sorted(p for p in tracked if p.endswith(".py") and "test" not in p.split("/")[0])[:400]:
        source = repo.read(path) or ""
        if "class " not in source:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        module = module_for(path, tracked)[1]
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or node.name in index:
                continue
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            if init is not None:
                fields = _params(init)
            else:
                fields = [
                    Param(item.target.id, ast.unparse(item.annotation),
                          ast.unparse(item.value) if item.value is not None else None)
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                    and "ClassVar" not in ast.unparse(item.annotation)
                ]
            index[node.name] = ClassInfo(module, fields)
    return index


class InputBuilder:
    """Small typed inputs for each parameter: literals, and repo objects built from their fields."""

    def __init__(self, repo: GitRepo, message_vals: list[str], dict_records: list[str]) -> None:
        self.classes = class_index(repo)
        self.message_vals = message_vals
        self.dict_records = dict_records
        self.imports: dict[str, str] = {}

    def _class_names(self, annotation: str) -> list[str]:
        names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", annotation.replace("'", "").replace('"', ""))
        return [n for n in names if n in self.classes]

    def construct(self, name: str, depth: int = 0) -> list[str]:
        """``Cls(...)`` with ordinary field values, then one variant per boundary field value."""
        info = self.classes[name]
        self.imports[name] = info.module
        base: list[str] = []
        options: list[list[str]] = []
        for f in info.fields:
            values = self.values(f, depth + 1, for_object=True)
            ordinary = [v for v in values if not _is_boundary(v)] or values or ["None"]
            base.append(ordinary[0])
            options.append([v for v in values if _is_boundary(v)][:2])
        exprs = [f"{name}({', '.join(base)})"]
        for i, boundary in enumerate(options):
            for value in boundary:
                args = list(base)
                args[i] = value
                exprs.append(f"{name}({', '.join(args)})")
        return exprs[:12]

    def values(self, param: Param, depth: int = 0, for_object: bool = False) -> list[str]:
        values: list[str] = []
        ann = (param.annotation or "").replace("typing.", "")
        classes = self._class_names(ann) if depth <= MAX_OBJECT_DEPTH else []
        for cls in classes:
            values.extend(self.construct(cls, depth))
        if classes and ("None" in ann or "Optional" in ann):
            values.append("None")
        matched = bool(classes)
        for key, vals in _BY_ANNOTATION.items():
            if re.search(rf"\b{key}\b", ann) or (key == "None" and "Optional" in ann):
                values.extend(vals)
                matched = True
                if key in STDLIB_NAMES:
                    self.imports[key] = STDLIB_NAMES[key]
        if not for_object:
            if param.default is not None and safe_expression(param.default, self.imports) is not None:
                values.insert(0, param.default)  # a repo default that is code is not an input
            if "str" in ann or not ann:
                values.extend(self.message_vals)
            if "dict" in ann.lower() or "mapping" in ann.lower() or not ann:
                values.extend(self.dict_records)
        if not matched:
            values.extend(["1", "'a'", "None", "0", "''"] if for_object else _GENERIC)
        return list(dict.fromkeys(values))


def candidate_inputs(
    target: Target, diagnosis: Diagnosis, evidence: CrashEvidence | None, repo: GitRepo
) -> list[CandidateInput]:
    """Inputs to probe, each with where it came from; frame locals, log, repo tests, message, then search.

    Every input is a safe expression (see :func:`safe_expression`); secrets from the log are
    already synthetic here, so the real ones never reach the sandbox either.
    """
    if target.route is not None:
        return [CandidateInput(args, source, synthetic) for args, source, synthetic in
                route_inputs(target.route, evidence)]
    if target.function is None:
        return []
    from crew.repair.inputs_from_locals import locals_inputs  # they build on this module's helpers
    from crew.repair.inputs_from_tests import test_inputs

    out = [*locals_inputs(target, diagnosis), *log_inputs(target, diagnosis, evidence),
           *test_inputs(target, diagnosis, repo)]
    msg_lits = message_literals(diagnosis.exc_message)
    msg_vals = [lit for lit, _ in msg_lits]
    synthetic_vals = {lit for lit, changed in msg_lits if changed}
    records: list[str] = []
    if evidence is not None:
        for line in evidence.context_lines[-20:]:
            for found in dicts_in(line):
                lit, changed = _log_literal(found)
                if lit is not None:
                    records.append(lit)
                    if changed:
                        synthetic_vals.add(lit)
    records = records[:3]
    n = len(target.params)
    if n == 1 and msg_vals:
        out.extend(CandidateInput([v], "message", v in synthetic_vals) for v in msg_vals)
    out.extend(CandidateInput(args, "search") for args in _call_site_literals(repo, target.function)
               if len(args) == n and "." not in target.function)
    builder = InputBuilder(repo, msg_vals, records)
    pools = [builder.values(p) for p in target.params]
    target.imports = safe_imports({**target.imports, **builder.imports})
    for combo in itertools.islice(itertools.product(*pools), MAX_INPUTS):
        out.append(CandidateInput(list(combo), "search", any(v in synthetic_vals for v in combo)))
    seen: set[tuple[str, ...]] = set()
    unique = []
    for cand in out:
        if tuple(cand.args) in seen or any(safe_expression(a, target.imports) is None for a in cand.args):
            continue
        seen.add(tuple(cand.args))
        unique.append(cand)
    return unique[:MAX_INPUTS]


def probe_spec(target: Target, inputs: list[list[str]], diagnosis: Diagnosis) -> dict[str, Any]:
    """The JSON spec ``probe_script.py`` reads."""
    return {
        "module": target.module,
        "function": target.function or "",
        "sys_path": [target.import_root or "."],
        "inputs": inputs,
        "fault_path": diagnosis.fault_frame.repo_path if diagnosis.fault_frame else "",
        "fault_function": diagnosis.code_context.function if diagnosis.code_context else "",
        "exc_type": diagnosis.exc_type.rsplit(".", 1)[-1],
        "imports": target.imports,
        "is_async": target.is_async,
        "mode": "http" if target.route else "call",
        "route": target.route.__dict__ if target.route else None,
        "per_call_timeout": 2,
    }


def observed(entry: ProbeResult) -> Observed:
    """A probe entry as the matcher reads it."""
    frame = entry.frame or ProbeFrame()
    return Observed(exc_type=entry.error, message=entry.message, file=frame.file or None,
                    line=frame.line or None, function=frame.function or None)


def judge_entry(entry: ProbeResult, diagnosis: Diagnosis) -> Verdict:
    """The probe's answer for one input against production: type, fault frame and line, message."""
    return judge(observed(entry), diagnosis, fault_file_frame(diagnosis))


def matches_fault(entry: ProbeResult, diagnosis: Diagnosis) -> bool:
    """The production crash: same type, fault frame and line, and a matching message."""
    return judge_entry(entry, diagnosis).matched


def message_fitness(entry: ProbeResult, diagnosis: Diagnosis) -> int:
    """2: the same message; 1: the same modulo per-request values; 0: another message."""
    return message_score(diagnosis.exc_message, entry.message)


def pick_reproduction(
    results: list[ProbeResult], inputs: list[CandidateInput], diagnosis: Diagnosis
) -> Reproduction:
    """The best input that reproduces the crash, plus the ordinary inputs for the differential check.

    Only an input the matcher accepts (:mod:`crew.repair.fidelity`) counts; among those, the exact
    message wins. Otherwise ``closest`` keeps the near miss that matched the most parts, for the
    report. An entry counts only through its index into ``inputs`` (healcrew's own list, in the
    order sent); an index out of range, or one already answered, is ignored.
    """
    crash: CandidateInput | None = None
    best = -1
    closest: Verdict | None = None
    refused = 0
    normal_inputs: list[list[str]] = []
    normal_results: list[str] = []
    types: list[str] = []
    answered: set[int] = set()
    for entry in results:
        if entry.index is None or entry.index >= len(inputs) or entry.index in answered:
            continue
        answered.add(entry.index)
        sent = inputs[entry.index]
        if entry.error is not None:
            verdict = judge_entry(entry, diagnosis)
            if verdict.matched:
                fitness = 2 if verdict.exact_message else 1
                if fitness > best:
                    crash, best = sent, fitness
                continue
            if verdict.parts_matched >= 3:
                refused += 1  # type, frame and line were right: only the message tells it apart
            if closest is None or verdict.parts_matched > closest.parts_matched:
                closest = verdict
        elif entry.result is not None and entry.type is not None and len(normal_inputs) < 25:
            normal_inputs.append(list(sent.args))
            normal_results.append(entry.result)
            types.append(entry.type)
    source = crash.source if crash is not None else "search"
    if crash is not None and source == "search" and any(
            v in crash.args for v in message_values(diagnosis.exc_message)):
        source = "message"
    return Reproduction(list(crash.args) if crash else None, source, sorted(set(types)), normal_inputs,
                        normal_results, results, synthetic=crash.synthetic if crash else False,
                        closest=closest.mismatch if closest is not None and crash is None else None,
                        refused=refused)
