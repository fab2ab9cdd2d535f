"""Crash reproduction: find the crashing call and write it down as a pytest regression test.

The input comes, in order of preference, from the logs (the caller's argument expressions bound
to values of a logged request body), from the exception message (``KeyError: 'discount'``,
``invalid literal for int() with base 10: ''``), or from a search over small typed inputs built
from the signature, annotations, defaults and call sites. Every candidate input is tried in the
sandbox by ``probe_script.py``; the first that raises the diagnosed exception in the fault frame
wins (EvoCrash's fitness: same exception type, same frame). Healcrew itself never runs repo code.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crew.handoffs import CrashEvidence, Diagnosis, RegressionTest
from crew.payloads import dicts_in
from crew.repair.http_repro import Route, render_route_test, route_inputs
from crew.repo import GitRepo

PROBE_SCRIPT = Path(__file__).with_name("probe_script.py")
PROBE_BEGIN, PROBE_END = "<<<HEALCREW-PROBE", "HEALCREW-PROBE>>>"
MAX_INPUTS = 240

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
_STDLIB_NAMES = {"date": "datetime", "datetime": "datetime", "Decimal": "decimal", "SimpleNamespace": "types"}
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


@dataclass
class Reproduction:
    """The crashing input the probe confirmed, and what ordinary inputs return."""

    args: list[str] | None
    source: str
    normal_types: list[str]
    normal_inputs: list[list[str]]
    normal_results: list[str]
    probe_results: list[dict[str, Any]]
    imports: dict[str, str] = field(default_factory=dict)


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
    tracked = set(repo.tracked_files)
    repo_frames = [m for m in diagnosis.frames if m.repo_path]
    if not repo_frames or diagnosis.fault_frame is None or diagnosis.fault_frame.repo_path is None:
        return None
    fault_index = max(i for i, m in enumerate(repo_frames) if m.frame == diagnosis.fault_frame.frame)
    for mapped in reversed(repo_frames[: fault_index + 1]):
        path = mapped.repo_path or ""
        source = repo.read(path)
        if source is None:
            continue
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
            continue
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
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return text if len(text) < 2000 else None


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


def log_inputs(target: Target, diagnosis: Diagnosis, evidence: CrashEvidence | None) -> list[list[str]]:
    """Argument tuples bound from values in logged payloads (the most faithful inputs)."""
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
    out: list[list[str]] = []
    for names in names_sets:
        wanted = [_norm(n) for n in names]
        for record in records:
            keys = {_norm(str(k)): v for k, v in record.items()}
            if wanted and all(w in keys for w in wanted):
                args = [_literal(keys[w]) for w in wanted]
                if all(a is not None for a in args):
                    out.append([a for a in args if a is not None])
        # a single dict parameter: pass whole logged records
        if len(target.params) == 1 and not out:
            out.extend([lit] for r in records[:10] if (lit := _literal(r)) is not None)
    unique = list(dict.fromkeys(tuple(args) for args in out))
    # boundary values (0, empty, None) are what crashes code: try those first, keep recency otherwise
    unique.sort(key=lambda args: not any(_is_boundary(a) for a in args))
    return [list(args) for args in unique[:40]]


def _is_boundary(literal: str) -> bool:
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return False
    return value is None or (not isinstance(value, bool) and value in (0, "", b"")) or value in ([], {})


def message_values(message: str) -> list[str]:
    """Quoted values in the exception message, as string literals."""
    values = []
    for match in re.finditer(r"'([^'\n]{0,80})'|\"([^\"\n]{0,80})\"", message):
        text = match.group(1) if match.group(1) is not None else match.group(2)
        values.append(repr(text))
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
                if key in _STDLIB_NAMES:
                    self.imports[key] = _STDLIB_NAMES[key]
        if not for_object:
            if param.default is not None:
                values.insert(0, param.default)
            if "str" in ann or not ann:
                values.extend(self.message_vals)
            if "dict" in ann.lower() or "mapping" in ann.lower() or not ann:
                values.extend(self.dict_records)
        if not matched:
            values.extend(["1", "'a'", "None", "0", "''"] if for_object else _GENERIC)
        return list(dict.fromkeys(values))


def candidate_inputs(
    target: Target, diagnosis: Diagnosis, evidence: CrashEvidence | None, repo: GitRepo
) -> list[tuple[list[str], str]]:
    """Inputs to probe, each with where it came from; log first, then message, then search."""
    if target.route is not None:
        return route_inputs(target.route, evidence)
    if target.function is None:
        return []
    out: list[tuple[list[str], str]] = [(args, "log") for args in log_inputs(target, diagnosis, evidence)]
    msg_vals = message_values(diagnosis.exc_message)
    records: list[str] = []
    if evidence is not None:
        for line in evidence.context_lines[-20:]:
            for found in dicts_in(line):
                if (lit := _literal(found)) is not None:
                    records.append(lit)
    records = records[:3]
    n = len(target.params)
    if n == 1 and msg_vals:
        out.extend(([v], "message") for v in msg_vals)
    out.extend((args, "search") for args in _call_site_literals(repo, target.function) if len(args) == n
               and "." not in target.function)
    builder = InputBuilder(repo, msg_vals, records)
    pools = [builder.values(p) for p in target.params]
    target.imports = builder.imports
    for combo in itertools.islice(itertools.product(*pools), MAX_INPUTS):
        out.append((list(combo), "search"))
    seen: set[tuple[str, ...]] = set()
    unique = []
    for args, source in out:
        if tuple(args) not in seen:
            seen.add(tuple(args))
            unique.append((args, source))
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


def parse_probe_output(stdout: str) -> list[dict[str, Any]] | None:
    """The probe's JSON results, or None if it did not get that far."""
    start, end = stdout.rfind(PROBE_BEGIN), stdout.rfind(PROBE_END)
    if start == -1 or end < start:
        return None
    try:
        results = json.loads(stdout[start + len(PROBE_BEGIN) : end])
    except ValueError:
        return None
    return results if isinstance(results, list) else None


def matches_fault(entry: dict[str, Any], diagnosis: Diagnosis) -> bool:
    """Same exception type raised in the fault frame."""
    if entry.get("error") != diagnosis.exc_type.rsplit(".", 1)[-1]:
        return False
    frame = entry.get("frame") or {}
    fault = diagnosis.fault_frame
    if fault is None or fault.repo_path is None:
        return True
    # a comprehension or lambda is its own frame (``<listcomp>`` before 3.12): the traceback names it
    functions = (fault.frame.function, "<module>")
    return str(frame.get("file", "")).replace("\\", "/").endswith(fault.repo_path) and (
        diagnosis.code_context is None or frame.get("function") in (diagnosis.code_context.function, *functions)
    )


_SUGGESTION = re.compile(r"\.? (?:Did you mean: [^?]*|Or did you forget to import [^?]*)\?$")


def _skeleton(message: str) -> str:
    """A message with its values blanked: ``'x' object has no attribute 'y'`` → ``Q object has no attribute Q``."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "Q", message)
    return re.sub(r"\d+(?:\.\d+)?", "N", text).strip()


def message_fitness(entry: dict[str, Any], diagnosis: Diagnosis) -> int:
    """2: the same message; 1: the same message with other values; 0: only the type matches."""
    # "Did you mean: 'sqrt'?" is added by the traceback printer (3.10+), never by str(exc)
    got = _SUGGESTION.sub("", str(entry.get("message", "")).strip())
    want = _SUGGESTION.sub("", diagnosis.exc_message.strip())
    if got == want:
        return 2
    return 1 if _skeleton(got) == _skeleton(want) else 0


# Exceptions whose message names the culprit; a different message is a different crash.
_MESSAGE_MUST_MATCH = {"AttributeError", "TypeError", "KeyError", "NameError", "UnboundLocalError"}


def pick_reproduction(
    results: list[dict[str, Any]], sources: dict[tuple[str, ...], str], diagnosis: Diagnosis
) -> Reproduction:
    """The best input that reproduces the crash, plus the ordinary inputs for the differential check.

    Fitness: same exception type, raised in the fault frame; then the closest message.
    """
    crash: list[str] | None = None
    best = -1
    source = "search"
    strict = diagnosis.exc_type.rsplit(".", 1)[-1] in _MESSAGE_MUST_MATCH and bool(diagnosis.exc_message)
    normal_inputs: list[list[str]] = []
    normal_results: list[str] = []
    types: list[str] = []
    for entry in results:
        args = entry.get("args")
        if args is None:
            continue
        if matches_fault(entry, diagnosis):
            fitness = message_fitness(entry, diagnosis)
            if fitness > best and (fitness > 0 or not strict):
                crash, best, source = args, fitness, sources.get(tuple(args), "search")
        elif "result" in entry and len(normal_inputs) < 25:
            normal_inputs.append(args)
            normal_results.append(entry["result"])
            types.append(entry["type"])
    if crash is not None and source == "search" and any(v in crash for v in message_values(diagnosis.exc_message)):
        source = "message"
    return Reproduction(crash, source, sorted(set(types)), normal_inputs, normal_results, results)


def _used_imports(args: list[str], imports: dict[str, str]) -> list[str]:
    used = {name for name in imports if any(re.search(rf"\b{name}\(", a) for a in args)}
    return [f"from {imports[name]} import {name}" for name in sorted(used)]


# ----------------------------------------------------------------------------- the test


def test_path(repo: GitRepo, incident_id: str) -> str:
    """Follow the repo's layout: its tests folder if it has one."""
    slug = re.sub(r"[^a-z0-9]+", "_", incident_id.lower()).strip("_") or "incident"
    dirs = {p.split("/", 1)[0] for p in repo.tracked_files if "/" in p}
    for folder in ("tests", "test"):
        if folder in dirs:
            return f"{folder}/test_healcrew_{slug}.py"
    return f"test_healcrew_{slug}.py"


_BUILTIN_RETURNS = ("str", "int", "float", "bool", "dict", "list", "tuple", "set", "bytes")


def _types_from_annotation(annotation: str | None) -> list[str]:
    """Return types a reviewer would expect from ``-> str`` / ``-> dict[str, Any] | None``."""
    if not annotation:
        return []
    names = [re.split(r"[\[(]", part.strip())[0] for part in annotation.split("|")]
    names = ["NoneType" if n == "None" else n for n in names]
    return names if all(n in (*_BUILTIN_RETURNS, "NoneType") for n in names) else []


def _sanity_asserts(types: list[str], expected: str | None, returns: str | None = None) -> list[str]:
    lines = []
    if not types:
        declared = _types_from_annotation(returns)
        if declared:
            allowed = ", ".join(t if t != "NoneType" else "type(None)" for t in declared)
            return [*([f"    assert result == {expected}"] if expected else []),
                    f"    assert isinstance(result, ({allowed},))  # the declared return type"]
    if expected is not None:
        lines.append(f"    assert result == {expected}")
    numeric = {"int", "float"}
    if types and set(types) <= numeric:
        lines += ["    assert isinstance(result, (int, float)) and not isinstance(result, bool)",
                  "    assert math.isfinite(result)"]
    elif types and len(set(types)) == 1 and types[0] in ("str", "list", "dict", "tuple", "set", "bytes", "bool"):
        lines.append(f"    assert isinstance(result, {types[0]})")
    elif types and len(set(types)) == 1 and types[0] not in ("NoneType", "float-nonfinite"):
        lines.append(f"    assert type(result).__name__ == {types[0]!r}")
    elif types == ["NoneType"]:
        lines.append("    assert result is None")
    if not lines:
        lines.append("    assert result is None or result == result  # a value, not an exception")
    return lines


def render_test(
    target: Target, reproduction: Reproduction | None, diagnosis: Diagnosis, incident_id: str,
    path: str, expected_result: str | None = None,
) -> RegressionTest:
    """The pytest file: call the crashing code with the crashing input, assert a sane result.

    It reads like a test a developer would write: a direct import, one call, plain asserts.
    The repo root goes on ``sys.path`` because pytest's default import mode does not add it.
    """
    fault = diagnosis.fault_frame
    where = f"{fault.repo_path}:{fault.frame.line}" if fault and fault.repo_path else target.path
    depth = path.count("/")
    root_expr = "Path(__file__).resolve().parent" + ".parent" * depth
    if target.import_root:
        root_expr += f' / "{target.import_root}"'
    docstring = [
        f'"""Regression test for incident {incident_id}: {diagnosis.exc_type} at {where}.',
        "",
        f"Written by healcrew. It fails on the deployed commit {diagnosis.commit[:12]} with",
        f"{diagnosis.exc_type} and passes once the fix is applied.",
        '"""',
        "",
    ]
    path_setup = ["", f"sys.path.insert(0, str({root_expr}))", ""]
    if target.route is not None:
        assert reproduction is not None and reproduction.args is not None
        stdlib = ["import sys", "from pathlib import Path"]
        imports: list[str]
        imports, body, call = render_route_test(target.route, reproduction.args, f"from {reproduction.source}")
        source = reproduction.source
    elif target.function is None:
        name = target.assigned_name
        stdlib = ["import importlib", "import sys", "from pathlib import Path"]
        imports = []
        body = [
            f"def test_{target.module.replace('.', '_')}_imports_without_{_snake(diagnosis.exc_type)}():",
            f"    sys.modules.pop({target.module!r}, None)",
            f"    module = importlib.import_module({target.module!r})",
            f"    assert module.__name__ == {target.module!r}",
        ]
        if name:
            body.append(f"    assert getattr(module, {name!r}) is not None")
        call = f"import {target.module}"
        source = "template"
    else:
        assert reproduction is not None and reproduction.args is not None
        owner, _, method = target.function.rpartition(".")
        if owner and target.params and target.params[0].name == "self":
            call = f"{reproduction.args[0]}.{method}({', '.join(reproduction.args[1:])})"
        else:
            call = f"{target.function}({', '.join(reproduction.args)})"
        if target.is_async:
            call = f"asyncio.run({call})"
        asserts = _sanity_asserts(reproduction.normal_types, expected_result, target.returns)
        stdlib = ["import sys", "from pathlib import Path"]
        if any("math." in line for line in asserts):
            stdlib.insert(0, "import math")
        if target.is_async:
            stdlib.insert(0, "import asyncio")
        used = _used_imports(reproduction.args, {**target.imports, **reproduction.imports})
        std_modules = set(_STDLIB_NAMES.values())
        stdlib += [line for line in used if line.split()[1] in std_modules]
        own = f"from {target.module} import {owner or target.function}"
        imports = [f"{line}  # noqa: E402" for line in
                   dict.fromkeys([own, *(line for line in used if line.split()[1] not in std_modules)])]
        body = [
            f"def test_{(method or target.function).lstrip('_')}_handles_the_incident_input():",
            f"    result = {call}",
            *asserts,
        ]
        source = reproduction.source
    code = "\n".join([*docstring, *stdlib, *path_setup, *imports, "", "", *body]) + "\n"
    note = f"input from {source}" if target.function or target.route else "crash happens at import time"
    return RegressionTest(path=path, code=code, call=call, input_source=source, note=note)  # type: ignore[arg-type]


def _snake(name: str) -> str:
    short = name.rsplit(".", 1)[-1]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", short).lower()
