"""Missing configuration: supply the value the repo itself documents, never an invented one.

The variable's value is looked for where the repo already states it: ``.env.example`` files,
docker-compose, Kubernetes manifests or Helm values of another environment, the README, or
another read of the same variable with a default. With such a value, the read gets that default
(``os.environ.get("X", "v")``) or, when the value comes from another environment's manifest,
the deployment that lacks it gets the variable. Secrets (passwords, tokens, keys) are never
written anywhere: for them the template declines.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

import yaml

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, SourceEdit, TemplateContext
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    Source,
    candidate,
    finish,
    locate,
    repo_sources,
)

HANDLES: tuple[RootCause, ...] = (RootCause.MISSING_CONFIG, RootCause.NONE_DEREFERENCE)

_SECRET_WORDS = {"PASSWORD", "PASSWD", "PASS", "PWD", "TOKEN", "SECRET", "KEY", "CREDENTIAL", "CREDENTIALS",
                 "PRIVATE", "DSN", "AUTH", "APIKEY", "CERT"}
_VAR = re.compile(r"\b([A-Z][A-Z0-9_]{2,})\b")
_PLACEHOLDER = re.compile(r"^\s*$|^\$\{|^<.*>$|changeme|change-me|replace|xxx|todo", re.IGNORECASE)
MAX_FILES = 600
MAX_CHARS = 200_000


def is_secret(name: str) -> bool:
    return bool(set(re.split(r"[_\W]+", name.upper())) & _SECRET_WORDS)


@dataclass(frozen=True)
class Found:
    """A value for the variable stated somewhere in the repo."""

    value: str
    path: str
    kind: str  # "constant", "example", "compose", "manifest", "docs", "code"
    constant: str | None = None  # the module constant holding it, for kind "constant"


def _env_reads(tree: ast.AST) -> list[tuple[ast.AST, str, str]]:
    """(node, variable, form) for ``os.environ["X"]``, ``os.environ.get("X")``, ``os.getenv("X")``."""
    out: list[tuple[ast.AST, str, str]] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                and ast.unparse(node.value).endswith("environ")
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            out.append((node, node.slice.value, "subscript"))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(
            node.args[0].value, str
        ):
            func = ast.unparse(node.func)
            if func.endswith(("getenv", "environ.get")):
                out.append((node, node.args[0].value, "default" if len(node.args) > 1 else "get"))
    return out


def find_values(ctx: TemplateContext, var: str) -> list[Found]:
    """Every place the repo states a value for ``var``, best kinds first."""
    found: list[Found] = []
    for path in ctx.repo.tracked_files[:MAX_FILES]:
        name = path.rsplit("/", 1)[-1].lower()
        if not (name.endswith((".yaml", ".yml", ".md", ".rst", ".py", ".toml", ".ini", ".cfg"))
                or ".env" in name or name.startswith("env")):
            continue
        text = ctx.repo.read(path)
        if not text or var not in text or len(text) > MAX_CHARS:
            continue
        if ".env" in name or name.startswith("env"):
            for m in re.finditer(rf"^\s*(?:export\s+)?{var}\s*=\s*(.*?)\s*$", text, re.MULTILINE):
                found.append(Found(m.group(1).strip("'\""), path, "example"))
        elif name.endswith((".yaml", ".yml")):
            kind = "compose" if "compose" in name else "manifest"
            for m in re.finditer(rf"name:\s*[\"']?{var}[\"']?\s*\n\s*value:\s*(.+?)\s*$", text, re.MULTILINE):
                found.append(Found(m.group(1).strip("'\""), path, kind))
            for m in re.finditer(rf"^\s*-?\s*[\"']?{var}[\"']?\s*[:=]\s*(.+?)\s*$", text, re.MULTILINE):
                found.append(Found(m.group(1).strip("'\""), path, kind))
        elif name.endswith((".md", ".rst")):
            for m in re.finditer(rf"{var}\b[^\n]*?default(?:s to| is|:)?\s*[`'\"]([^`'\"\n]+)[`'\"]", text, re.I):
                found.append(Found(m.group(1), path, "docs"))
            for m in re.finditer(rf"^\s*(?:export\s+)?{var}=(\S+)", text, re.MULTILINE):
                found.append(Found(m.group(1).strip("'\""), path, "docs"))
        elif name.endswith(".py"):
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError):
                continue
            for stmt in tree.body:
                if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                        and re.fullmatch(rf"_?(?:DEFAULT_{var}|{var}_DEFAULT)", stmt.targets[0].id)
                        and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str | int | float)):
                    found.append(Found(str(stmt.value.value), path, "constant", stmt.targets[0].id))
            for node, name_, form in _env_reads(tree):
                if name_ == var and form == "default" and isinstance(node, ast.Call):
                    default = node.args[1]
                    if isinstance(default, ast.Constant) and isinstance(default.value, str | int | float):
                        found.append(Found(str(default.value), path, "code"))
    order = {"constant": 0, "example": 0, "compose": 1, "docs": 2, "code": 3, "manifest": 4}
    good = [f for f in found if not _PLACEHOLDER.search(f.value)]
    return sorted(good, key=lambda f: (order[f.kind], f.path))


_SETTINGS_ERROR = re.compile(r"validation errors? for (\w+)\s*\n\s*([A-Za-z_]\w*)\s*\n\s*Field required")


def _settings_field(ctx: TemplateContext) -> tuple[str, str] | None:
    """(settings class, field) of a pydantic-settings ``Field required`` start-up error."""
    if not ctx.diagnosis.exc_type.endswith("ValidationError"):
        return None
    m = _SETTINGS_ERROR.search(ctx.diagnosis.exc_message)
    return (m.group(1), m.group(2)) if m else None


def _settings_class(ctx: TemplateContext, name: str) -> tuple[Source, ast.ClassDef] | None:
    for src in repo_sources(ctx, f"class {name}", MAX_FILES):
        for stmt in src.tree.body:
            if isinstance(stmt, ast.ClassDef) and stmt.name == name:
                return src, stmt
    return None


def _env_prefix(cls: ast.ClassDef) -> str:
    """``env_prefix`` from ``model_config = SettingsConfigDict(env_prefix=...)`` or ``class Config``."""
    for node in ast.walk(cls):
        if isinstance(node, ast.keyword) and node.arg == "env_prefix" and isinstance(node.value, ast.Constant):
            return str(node.value.value)
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "env_prefix" and isinstance(node.value, ast.Constant)):
            return str(node.value.value)
    return ""


def _settings_variable(ctx: TemplateContext) -> str | None:
    """The environment variable a pydantic-settings field reads (prefix + name, upper case)."""
    field = _settings_field(ctx)
    if field is None:
        return None
    found = _settings_class(ctx, field[0])
    prefix = _env_prefix(found[1]) if found else ""
    return f"{prefix}{field[1]}".upper()


def _settings_default(ctx: TemplateContext, value: str, stated: str) -> Candidate | None:
    """``field: str`` → ``field: str = "<value>"`` in the settings class (a documented default)."""
    field = _settings_field(ctx)
    found = _settings_class(ctx, field[0]) if field else None
    if field is None or found is None:
        return None
    src, cls = found
    stmt = next((s for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                 and s.target.id == field[1] and s.value is None), None)
    if stmt is None:
        return None
    annotation = src.segment(stmt.annotation)
    literal = value if re.fullmatch(r"-?\d+(?:\.\d+)?", value) and not re.search(r"\bstr\b", annotation) \
        else json.dumps(value)
    updated = Edit(src).replace(stmt, f"{field[1]}: {annotation} = {literal}").apply()
    return candidate(
        "settings-default-from-repo", src, updated,
        f"The settings field `{cls.name}.{field[1]}` is required, and the environment does not set it, so the "
        f"service fails at start-up. {stated}; declare it as the field's default so the service starts "
        "where the variable is unset (the environment still overrides it).",
        0.75,
    )


def _variable(ctx: TemplateContext) -> str | None:
    settings_var = _settings_variable(ctx)
    if settings_var is not None:
        return settings_var
    message = ctx.diagnosis.exc_message.strip()
    if ctx.diagnosis.exc_type.endswith("KeyError"):
        try:
            value = ast.literal_eval(message)
        except (ValueError, SyntaxError):
            value = None
        if isinstance(value, str):
            return value
    names = _VAR.findall(message)
    return names[0] if names else None


def _deployments(ctx: TemplateContext, var: str) -> list[tuple[str, str]]:
    """Kubernetes manifests with a Deployment-like container spec that do not set ``var``."""
    out: list[tuple[str, str]] = []
    for path in ctx.repo.tracked_files[:MAX_FILES]:
        if not path.endswith((".yaml", ".yml")):
            continue
        text = ctx.repo.read(path) or ""
        workload = re.search(r"^kind:\s*(Deployment|StatefulSet|Rollout|DaemonSet)\s*$", text, re.M)
        if workload and "containers:" in text and not re.search(rf"name:\s*[\"']?{var}[\"']?\s*$", text, re.M):
            out.append((path, text))
    return sorted(out, key=lambda item: (bool(re.search(r"stag|dev|test", item[0])), item[0]))


def add_env_to_manifest(text: str, var: str, value: str) -> str | None:
    """The manifest with ``var`` added to the first container's ``env``, edited as text."""
    lines = text.splitlines(keepends=True)
    idx = next((i for i, line in enumerate(lines) if re.match(r"^\s*containers:\s*$", line)), None)
    if idx is None:
        return None
    item = next((i for i in range(idx + 1, len(lines)) if lines[i].strip()), None)
    if item is None:
        return None
    m = re.match(r"^(\s*)- ", lines[item])
    if m is None:
        return None
    dash = len(m.group(1))
    key_indent = dash + 2
    end = len(lines)
    for i in range(item + 1, len(lines)):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        if indent < key_indent:
            end = i
            break
    entry_value = json.dumps(value)
    env_idx = next((i for i in range(item, end) if re.match(rf"^ {{{key_indent}}}env:\s*$", lines[i])
                    or (i == item and re.match(r"^\s*- env:\s*$", lines[i]))), None)
    if env_idx is not None:
        first = next((i for i in range(env_idx + 1, end) if lines[i].strip()), None)
        if first is None:
            return None
        im = re.match(r"^(\s*)- ", lines[first])
        if im is None:
            return None
        item_indent = im.group(1)
        last = first
        for i in range(first + 1, end):
            if not lines[i].strip():
                continue
            ind = len(lines[i]) - len(lines[i].lstrip(" "))
            if ind > len(item_indent) or (ind == len(item_indent) and lines[i].lstrip().startswith("- ")):
                last = i
            else:
                break
        insert_at = last + 1
        block = [f"{item_indent}- name: {var}\n", f"{item_indent}  value: {entry_value}\n"]
    else:
        insert_at = item + 1
        pad = " " * key_indent
        block = [f"{pad}env:\n", f"{pad}  - name: {var}\n", f"{pad}    value: {entry_value}\n"]
    if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += "\n"
    updated = "".join([*lines[:insert_at], *block, *lines[insert_at:]])
    try:
        docs = list(yaml.safe_load_all(updated))
    except yaml.YAMLError:
        return None
    if f"'name': '{var}'" not in str(docs):
        return None
    return updated


def _fault_variable(ctx: TemplateContext, fault: Fault | None) -> str | None:
    """The variable the crash is about: named in the message, or read without default at the fault."""
    var = _variable(ctx) if ctx.diagnosis.root_cause is RootCause.MISSING_CONFIG else None
    if var is None and fault is not None:
        # A None from the environment: the variable is the one the fault statement reads without default.
        var = next((r[1] for r in _env_reads(fault.stmt) if r[2] != "default"), None)
    return var


def explain(ctx: TemplateContext) -> str | None:
    """Why no value is offered: the variable is a secret, or the repo states no value for it."""
    var = _fault_variable(ctx, locate(ctx))
    if var is None:
        return None
    if is_secret(var):
        return (f"the environment variable {var} holds a secret, which is never written into code or "
                "manifests; set it where the service runs")
    if not find_values(ctx, var):
        return (f"the environment variable {var} is not set, and no value for it is stated anywhere in the repo "
                "(.env examples, compose files, manifests, README), so none is invented")
    return None


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    var = _fault_variable(ctx, fault)
    if var is None or is_secret(var):
        return []
    read: tuple[ast.AST, str, str] | None = None
    src: Source | None = fault.source if fault else None
    if fault is not None:
        stmt_nodes = {id(n) for n in ast.walk(fault.stmt)}
        read = next((r for r in _env_reads(fault.stmt) if r[1] == var and id(r[0]) in stmt_nodes), None)
    if read is None and ctx.diagnosis.root_cause is RootCause.NONE_DEREFERENCE:
        return []  # a None that does not come from the environment is none_guard's business
    if read is None and _settings_field(ctx) is None:
        src, read = _find_read(ctx, var)
    found = find_values(ctx, var)
    if not found:
        return []
    best = found[0]
    out: list[Candidate | None] = []
    if _settings_field(ctx) is not None:
        out.append(_settings_default(ctx, best.value, f"{best.path} states its value {best.value!r}"))
        read = None  # a settings field is read by pydantic, not by an os.environ call in the repo
    from_manifest = best.kind == "manifest"
    if read is not None and src is not None and read[2] != "default":
        node = read[0]
        default = json.dumps(best.value)
        stated = f"{best.path} states its value {best.value!r}"
        if best.kind == "constant" and best.constant and best.path == src.path:
            default = best.constant
            stated = f"{best.path} defines the default `{best.constant} = {best.value!r}`, which nothing uses"
        if read[2] == "subscript" and isinstance(node, ast.Subscript):
            new = f"{src.segment(node.value)}.get({src.segment(node.slice)}, {default})"
        elif isinstance(node, ast.Call):
            new = f"{src.segment(node)[:-1].rstrip().rstrip(',')}, {default})"
        else:
            new = None
        if new is not None:
            out.append(candidate(
                "env-default-from-repo", src, Edit(src).replace(node, new).apply(),
                f"The environment variable {var} is not set where the service runs, and "
                f"{src.path}:{getattr(node, 'lineno', '?')} reads it without a default. {stated}; "
                f"use that as the default, so the service starts where the variable is unset.",
                0.6 if from_manifest else 0.8,
            ))
    for path, text in _deployments(ctx, var)[:1]:
        updated = add_env_to_manifest(text, var, best.value)
        if updated is None:
            continue
        out.append(Candidate(
            strategy="add-env-to-manifest", edits=(SourceEdit(path=path, original=text, updated=updated),),
            rationale=(f"The deployment in {path} does not set {var}, which the service requires; {best.path} "
                       f"sets it to {best.value!r}. Add the variable to the container's env with that value."),
            score=0.8 if from_manifest else 0.55,
        ))
    return finish(ctx, out)


def _find_read(ctx: TemplateContext, var: str) -> tuple[Source | None, tuple[ast.AST, str, str] | None]:
    """Where the repo reads ``var`` (for a start-up failure that left no traceback)."""
    for src in repo_sources(ctx, var, MAX_FILES):
        for read in _env_reads(src.tree):
            if read[1] == var and read[2] != "default":
                return src, read
    return None, None
