"""Reproduce a crash in a web handler through the framework's own test client.

A Flask view that reads ``request.get_json()`` cannot be called as a plain function, and a
FastAPI endpoint is best exercised the way production does: a request to its route. When the
fault (or a caller on the traceback) is a route handler, the crashing request is replayed with
the logged request bodies, through ``app.test_client()`` (Flask) or ``TestClient(app)``
(FastAPI), which both let the handler's exception propagate so its type and frame can be checked.

Logged bodies may hold secrets: they are made synthetic (same shape) before anything is sent or
written. The test is written from healcrew's own request (path and body as literals it built),
with names that are checked to be identifiers.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from crew.errors import HealcrewError
from crew.handoffs import CrashEvidence, Diagnosis
from crew.payloads import dicts_in
from crew.repair.synthetic import scrub
from crew.repo import GitRepo

_VERBS = {"get", "post", "put", "patch", "delete"}
_FRAMEWORKS = {"Flask": "flask", "FastAPI": "fastapi"}


@dataclass
class Route:
    """A route handler and the app that serves it."""

    framework: str  # flask | fastapi
    app_module: str
    app_name: str
    method: str
    path: str


def _decorator_route(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, str] | None:
    """(method, path) from ``@app.post("/x")`` / ``@bp.route("/x", methods=["POST"])``."""
    for deco in node.decorator_list:
        if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.args):
            continue
        first = deco.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        verb = deco.func.attr
        if verb in _VERBS:
            return verb.upper(), first.value
        if verb == "route":
            methods = next((k.value for k in deco.keywords if k.arg == "methods"), None)
            if isinstance(methods, ast.List | ast.Tuple) and methods.elts:
                item = methods.elts[0]
                if isinstance(item, ast.Constant) and isinstance(item.value, str):
                    return item.value.upper(), first.value
            return "GET", first.value
    return None


def _apps(repo: GitRepo) -> list[tuple[str, str, str]]:
    """(module, name, framework) of every module-level ``x = Flask(...)`` / ``FastAPI(...)``."""
    from crew.repair.reproduce import module_for

    tracked = set(repo.tracked_files)
    found = []
    for path in sorted(p for p in tracked if p.endswith(".py") and not p.startswith("tests/")):
        source = repo.read(path) or ""
        if "Flask(" not in source and "FastAPI(" not in source:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for stmt in tree.body:
            factory = _factory(stmt)
            if factory is not None and isinstance(stmt, ast.FunctionDef):
                found.append((module_for(path, tracked)[1], f"{stmt.name}()", factory))
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and len(stmt.targets) == 1:
                func = stmt.value.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                target = stmt.targets[0]
                if name in _FRAMEWORKS and isinstance(target, ast.Name):
                    found.append((module_for(path, tracked)[1], target.id, _FRAMEWORKS[name]))
    return found


def _factory(stmt: ast.stmt) -> str | None:
    """The framework of an app factory (``def create_app(): app = Flask(...)``) callable with no arguments."""
    if not isinstance(stmt, ast.FunctionDef) or not re.search(r"(create|make|build)_?app|app_factory", stmt.name):
        return None
    args = stmt.args
    if len(args.args) + len(args.posonlyargs) > len(args.defaults) or any(d is None for d in args.kw_defaults):
        return None
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in _FRAMEWORKS:
                return _FRAMEWORKS[name]
    return None


def find_route(diagnosis: Diagnosis, repo: GitRepo) -> Route | None:
    """The route whose handler is on the traceback (the fault frame or one of its callers)."""
    from crew.repair.reproduce import module_for

    apps = _apps(repo)
    if not apps:
        return None
    tracked = set(repo.tracked_files)
    for mapped in reversed([m for m in diagnosis.frames if m.repo_path]):
        source = repo.read(mapped.repo_path or "") or ""
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name != mapped.frame.function:
                continue
            route = _decorator_route(node)
            if route is None:
                continue
            module = module_for(mapped.repo_path or "", tracked)[1]
            same = [a for a in apps if a[0] == module]
            app_module, app_name, framework = (same or apps)[0]
            return Route(framework, app_module, app_name, route[0], route[1])
    return None


def _fill_path(path: str, values: dict[str, Any]) -> str:
    """Replace ``<int:id>`` / ``{id}`` placeholders with logged values (or 1)."""
    def value(name: str) -> str:
        return str(values.get(name, 1))

    path = re.sub(r"<(?:[a-z]+:)?([A-Za-z_]\w*)>", lambda m: value(m.group(1)), path)
    return re.sub(r"\{([A-Za-z_]\w*)(?::[^}]*)?\}", lambda m: value(m.group(1)), path)


def route_inputs(route: Route, evidence: CrashEvidence | None) -> list[tuple[list[str], str, bool]]:
    """(path, JSON body) pairs to request, where they came from, and whether a secret in the logged
    body was made synthetic: logged bodies first (newest first), then none/empty."""
    bodies: list[tuple[dict[str, Any], bool]] = []
    if evidence is not None:
        for line in reversed([*evidence.context_lines, *evidence.log_excerpt]):
            for found in dicts_in(line):
                clean, changed = scrub(found)
                if all(clean != b for b, _ in bodies):
                    bodies.append((clean, changed))
    out: list[tuple[list[str], str, bool]] = []
    for body, synthetic in bodies[:30]:
        try:
            text = json.dumps(body, allow_nan=False)
        except (TypeError, ValueError):  # NaN, or a Python-repr payload JSON cannot carry
            continue
        out.append(([repr(_fill_path(route.path, body)), repr(text)], "log", synthetic))
    for fallback in (None, "{}"):
        out.append(([repr(_fill_path(route.path, {})), repr(fallback)], "search", False))
    return out


class UnsafeRouteError(HealcrewError):
    """The route or request is not something healcrew can write into a test."""


def _identifier(name: str) -> bool:
    return name.isidentifier()


def render_route_test(route: Route, args: list[str], source_note: str) -> tuple[list[str], list[str], str]:
    """(imports, body lines, call) of a regression test that sends the crashing request.

    ``args`` are healcrew's own request literals; the body is re-encoded from its parsed JSON.
    """
    path = ast.literal_eval(args[0])
    raw = ast.literal_eval(args[1])
    verb = route.method.lower()
    imported = route.app_name.removesuffix("()")
    if not (isinstance(path, str) and (raw is None or isinstance(raw, str)) and verb in _VERBS
            and _identifier(imported) and route.framework in _FRAMEWORKS.values()
            and all(part.isidentifier() for part in route.app_module.split("."))):
        raise UnsafeRouteError("refusing to write a regression test: the route is not plain names and literals")
    body = "" if raw is None else f", json={json.loads(raw)!r}"
    name = re.sub(r"\W+", "_", path, flags=re.ASCII).strip("_")[:80] or "root"
    imports = [f"from {route.app_module} import {imported}  # noqa: E402"]
    setup: list[str] = []
    app = route.app_name
    if app.endswith("()"):  # an app factory: build the app once in the test
        setup.append(f"    app = {app}")
        app = "app"
    if route.framework == "fastapi":
        imports.insert(0, "from fastapi.testclient import TestClient  # noqa: E402")
        client = f"TestClient({app})"
    else:
        client = f"{app}.test_client()"
        setup.append(f"    {app}.config.update(TESTING=True, PROPAGATE_EXCEPTIONS=True)")
    call = f"{client}.{verb}({path!r}{body})"
    lines = [
        f"def test_{verb}_{name}_handles_the_incident_request():",
        f'    """Replays the request {source_note}; the handler must answer it without a server error."""',
        *setup,
        f"    response = {call}",
        "    assert response.status_code < 500",
    ]
    return imports, lines, call
