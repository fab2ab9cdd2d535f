"""The value a regression test asserts, and where it came from.

In order: a value the target's docstring or comments state for that kind of input; the code
before the regression (what the crashing input returns with the suspect commit's change to the
fault file reverted, probed in the sandbox, trusted only when the revert leaves every ordinary
input's result as it is); the fix's own contract (the candidate's ``expected_result``); a
default the function's own guard already returns. Conservative: no value rather than a
guessed one.

A value that came out of the sandbox enters a test only through :func:`safe_literal`: it is
evaluated with ``ast.literal_eval`` (no code runs), checked to hold only finite numbers, strings,
bytes, booleans, None and containers of those, capped in size, refused when it looks like a
secret, and written back with ``repr`` of the evaluated value. The text the sandbox printed is
never copied, so the test stays written from healcrew's own literals whatever repo code prints.
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crew.handoffs import Diagnosis
from crew.repair.candidates import SourceEdit
from crew.repair.diffs import unified_diff
from crew.repair.probe_run import run_probe
from crew.repair.reproduce import (
    ProbeResult,
    Reproduction,
    Target,
    probe_spec,
    safe_expression,
)
from crew.repair.suspects import suspect_commits
from crew.repair.synthetic import has_secret
from crew.repo import GitRepo

if TYPE_CHECKING:
    from crew.validate import Runner

MAX_EXPECTED = 300
"""Characters of a rendered expected value; a longer one is not something a reviewer reads."""
_MAX_ITEMS = 50
_MAX_DEPTH = 6
BEFORE_SPEC_PATH = ".healcrew/before-regression.json"


@dataclass(frozen=True)
class Expected:
    """A safe literal the test asserts, and a short phrase saying where it came from."""

    literal: str
    source: str


# ----------------------------------------------------------------------------- safe literals


def _plain(value: Any, depth: int = 0) -> bool:
    """Only finite numbers, str, bytes, bool, None and small containers of those."""
    if depth > _MAX_DEPTH:
        return False
    if value is None or isinstance(value, bool | int | str | bytes):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) <= _MAX_ITEMS and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= _MAX_ITEMS and all(_plain(k, depth + 1) and _plain(v, depth + 1)
                                                for k, v in value.items())
    return False


def safe_literal(text: str | None, limit: int = MAX_EXPECTED) -> str | None:
    """``text`` (untrusted) as healcrew's own literal: evaluated, checked, re-rendered; None otherwise."""
    if text is None or len(text) > limit:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, frozenset) or not _plain(value):
        return None
    rendered = repr(value)
    if len(rendered) > limit or safe_expression(rendered) is None:
        return None  # sets and the like re-render, but only what the test's own checker accepts is written
    if has_secret(rendered):
        return None  # a value that looks like a credential is never committed in a test
    return rendered


# ----------------------------------------------------------------------------- the fix's contract


def from_contract(expected_result: str | None) -> Expected | None:
    """The candidate's own ``expected_result``, when it is a safe literal."""
    literal = safe_literal(expected_result)
    return Expected(literal, "the fix's contract") if literal is not None else None


# ----------------------------------------------------------------------------- before the regression


def revert_diff(repo: GitRepo, diagnosis: Diagnosis) -> tuple[str, str] | None:
    """(diff, suspect sha): the diff that reverts the suspect commit's change to the fault file.

    None when no suspect changed the file from an earlier version (a file's first version has no
    code before the regression).
    """
    fault = diagnosis.fault_frame
    if fault is None or not fault.repo_path:
        return None
    path = fault.repo_path
    for sha in suspect_commits(repo, diagnosis)[:3]:
        after, before = repo.read_at(sha, path), repo.read_at(f"{sha}^", path)
        if after is not None and before is not None and after != before:
            return unified_diff([SourceEdit(path, after, before)]), sha
    return None


def probe_before_regression(
    runner: Runner, repo: GitRepo, target: Target, reproduction: Reproduction, diagnosis: Diagnosis,
    timeout: float,
) -> Expected | None:
    """What the crashing input returns with the suspect commit's change reverted, probed in the sandbox.

    One probe run on the deployed commit plus the reverting diff, with the crashing input and the
    ordinary ones. The value counts only when the revert leaves every ordinary input's result as
    it is on the deployed commit: then the suspect's only effect was to make this input crash, and
    what it returned before is what it should return. A suspect that also changed ordinary
    results changed the function's meaning (a new format, a new rule), and its old value for the
    crashing input is no oracle; nor is it when there is no ordinary input to check with. Only a
    tagged entry that returned a value counts, and only as a :func:`safe_literal`.
    """
    if target.function is None or target.route is not None or reproduction.args is None:
        return None
    if not reproduction.normal_inputs:
        return None
    reverted = revert_diff(repo, diagnosis)
    if reverted is None:
        return None
    diff, sha = reverted
    inputs = [list(reproduction.args), *reproduction.normal_inputs]
    spec = probe_spec(target, inputs, diagnosis)
    entries, outcome = run_probe(runner, spec, BEFORE_SPEC_PATH, diff, timeout)
    if outcome.patch_error is not None or entries is None:
        return None
    by_index: dict[int, ProbeResult] = {}
    for entry in entries:
        if entry.index is not None and entry.index < len(inputs):
            by_index.setdefault(entry.index, entry)
    for index, deployed in enumerate(reproduction.normal_results, start=1):
        then = by_index.get(index)
        if then is None or then.error is not None or then.result != deployed:
            return None  # the suspect changed ordinary behaviour too
    crashing = by_index.get(0)
    if crashing is None or crashing.error is not None or crashing.type == "float-nonfinite":
        return None
    literal = safe_literal(crashing.result)
    return Expected(literal, f"the code before the regression (the parent of {sha[:12]}), which returns the "
                             "same as today for every ordinary input") if literal is not None else None


# ----------------------------------------------------------------------------- what the repo documents


def _function(repo: GitRepo, target: Target) -> tuple[ast.Module, ast.FunctionDef | ast.AsyncFunctionDef] | None:
    if target.function is None:
        return None
    source = repo.read(target.path) or ""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    owner, _, name = target.function.rpartition(".")
    scopes: list[ast.AST] = [tree]
    if owner:
        scopes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner]
    for scope in scopes:
        for node in getattr(scope, "body", []):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return tree, node
    return None


def returns_nothing(repo: GitRepo, target: Target) -> bool:
    """The target has no ``return <value>`` and no ``yield`` of its own: a procedure, whose result is None."""
    found = _function(repo, target)
    if found is None:
        return False
    todo: list[ast.AST] = list(found[1].body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue  # a nested scope's returns are its own
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return False
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return False
        todo.extend(ast.iter_child_nodes(node))
    return True


def _comments(source: str, node: ast.AST) -> list[str]:
    """The ``#`` comments inside the function's lines."""
    start, end = getattr(node, "lineno", 0), getattr(node, "end_lineno", 0) or 0
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and start <= tok.start[0] <= end:
                out.append(tok.string.lstrip("#").strip())
    except (tokenize.TokenError, SyntaxError):
        return out
    return out


def _sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [s for s in re.split(r"(?<=[.;!?])\s+(?=[A-Z`\"'(])", flat) if s]


def _aliases(doc: str, names: list[str]) -> dict[str, str]:
    """Words that name a parameter: its own name, and the noun just before a quoted mention (the price ``p``)."""
    aliases = {n.lower(): n for n in names}
    for name in names:
        for match in re.finditer(rf"(\w+)\s+(?:``|`|\*){re.escape(name)}(?:``|`|\*)", doc):
            word = match.group(1).lower()
            if word not in ("the", "a", "an", "of", "and", "or", "to", "is", "if", "when"):
                aliases.setdefault(word, name)
    return aliases


def _kinds(value: Any) -> set[str]:
    """Words a document uses for a boundary value."""
    kinds: set[str] = set()
    if value is None:
        kinds |= {"none", "missing", "null"}
    elif isinstance(value, bool):
        return kinds
    elif isinstance(value, int | float) and value == 0:
        kinds |= {"zero", "0"}
    elif isinstance(value, str | bytes | list | tuple | dict) and len(value) == 0:
        kinds |= {"empty"}
    return kinds


_LITERAL = r"(-?\d+(?:\.\d+)?|None|True|False|'[^']{0,40}'|\"[^\"]{0,40}\"|\[\]|\{\}|\(\))"
_RETURNS = re.compile(rf"\b(?:returns?|gives|yields|(?:result|value) is)\s+(?:``|`)?{_LITERAL}(?:``|`)?", re.IGNORECASE)
_UNCHANGED = re.compile(r"\b(?:leaves?|returns?|keeps?|passes)\s+(?:the\s+|its\s+)?(?:``|`)?(\w+)(?:``|`)?"
                        r"(?:\s+\w+)?\s+(?:unchanged|as\s+is|untouched)", re.IGNORECASE)


def _mentions(sentence: str, values: list[Any]) -> bool:
    """The sentence is about the crashing input: it names its kind or quotes one of its values."""
    lower = sentence.lower()
    words = set(re.findall(r"[a-z]+", lower))
    for value in values:
        if _kinds(value) & words:
            return True
        if isinstance(value, int | float) and not isinstance(value, bool):
            for number in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", sentence):
                if float(number) == value:
                    return True
        if isinstance(value, str) and value and (f"'{value}'" in sentence or f'"{value}"' in sentence):
            return True
    return False


def _outcome(sentence: str, aliases: dict[str, str], args: dict[str, str]) -> str | None:
    """The value the sentence says the call returns, as a literal; None when it says none or two."""
    found: set[str] = set()
    for match in _UNCHANGED.finditer(sentence):
        name = aliases.get(match.group(1).lower())
        if name is not None and name in args:
            found.add(args[name])
    for match in _RETURNS.finditer(sentence):
        literal = safe_literal(match.group(1).strip("`"))
        if literal is not None:
            found.add(literal)
    return found.pop() if len(found) == 1 else None


def _bound_args(target: Target, reproduction: Reproduction) -> dict[str, str]:
    """Parameter name -> the crashing input's literal (healcrew's own), for literal arguments only."""
    args = list(reproduction.args or [])
    params = list(target.params)
    if params and params[0].name == "self":
        params, args = params[1:], args[1:]
    out = {}
    for param, arg in zip(params, args, strict=False):
        literal = safe_literal(arg)
        if literal is not None:
            out[param.name] = literal
    return out


def fits(literal: str, types: list[str]) -> bool:
    """The value is of a type ordinary inputs returned (ints and floats alike); any, when none were seen."""
    if not types:
        return True
    kind = type(ast.literal_eval(literal)).__name__
    numeric = {"int", "float"}
    return kind in types or (kind in numeric and bool(numeric & set(types)))


def documented(repo: GitRepo, target: Target, reproduction: Reproduction) -> Expected | None:
    """A value the target's docstring or comments state for the kind of input that crashed."""
    found = _function(repo, target)
    if found is None or reproduction.args is None:
        return None
    _, node = found
    args = _bound_args(target, reproduction)
    if not args:
        return None
    doc = ast.get_docstring(node) or ""
    comments = [s for c in _comments(repo.read(target.path) or "", node) for s in _sentences(c)]
    aliases = _aliases(doc, list(args))
    values = [ast.literal_eval(v) for v in args.values()]
    outcomes: dict[str, str] = {}
    for where, texts in (("the docstring", _sentences(doc)), ("a comment", comments)):
        for sentence in texts:
            out = _outcome(sentence, aliases, args)
            condition = _UNCHANGED.sub(" ", _RETURNS.sub(" ", sentence))  # the value stated is not the case named
            if out is not None and _mentions(condition, values) and fits(out, reproduction.normal_types):
                outcomes.setdefault(out, where)
    if len(outcomes) != 1:
        return None
    literal, where = outcomes.popitem()
    return Expected(literal, f"the documented behaviour ({where})")


# ----------------------------------------------------------------------------- a documented default


def _module_constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value = stmt.target.id, stmt.value
        else:
            continue
        literal = safe_literal(ast.unparse(value))
        if literal is not None:
            out[name] = literal
    return out


def guarded_default(repo: GitRepo, target: Target, reproduction: Reproduction, fault_line: int) -> Expected | None:
    """The value the function's one early ``return`` guard gives, when that guard tests a crashing argument.

    ``if not items: return default`` before the fault line says what the function returns for a
    value it means to refuse; the crash is that value slipping past the guard. The returned
    expression must be a literal, a parameter (its value in the call) or a module constant.
    """
    found = _function(repo, target)
    if found is None or reproduction.args is None:
        return None
    tree, node = found
    args = _bound_args(target, reproduction)
    boundary = {n for n, lit in args.items() if _kinds(ast.literal_eval(lit))}
    constants = _module_constants(tree)
    guards = [stmt for stmt in ast.walk(node) if isinstance(stmt, ast.If) and stmt.lineno < fault_line
              and stmt.body and isinstance(stmt.body[-1], ast.Return)]
    values = set()
    for guard in guards:
        tested = {n.id for n in ast.walk(guard.test) if isinstance(n, ast.Name)}
        returned = guard.body[-1]
        assert isinstance(returned, ast.Return)
        if not tested & boundary or returned.value is None:
            continue
        expr = returned.value
        if isinstance(expr, ast.Name):
            value = args.get(expr.id) if expr.id in args else constants.get(expr.id)
        else:
            value = safe_literal(ast.unparse(expr))
        if value is None:
            return None  # a guard whose value healcrew cannot write: say nothing rather than guess
        values.add(value)
    if len(values) != 1 or not fits(next(iter(values)), reproduction.normal_types):
        return None
    return Expected(values.pop(), "the default the function's guard returns")


def derive(
    repo: GitRepo | None, target: Target, reproduction: Reproduction | None, diagnosis: Diagnosis,
    expected_result: str | None = None, before: Expected | None = None,
) -> Expected | None:
    """The first value that can be derived, in the order of the module docstring.

    What the repository says (its docstring, the code before the regression) comes before what a
    candidate fix claims, so the test judges every candidate by the same value; a fix's own
    contract is used only when the repository says nothing.
    """
    told = documented(repo, target, reproduction) if repo is not None and reproduction is not None else None
    if told is not None:
        return told
    if before is not None:
        literal = safe_literal(before.literal)
        if literal is not None:
            return Expected(literal, before.source)
    contract = from_contract(expected_result)
    if contract is not None:
        return contract
    if repo is None or reproduction is None or target.function is None:
        return None
    fault = diagnosis.fault_frame
    same_file = fault is not None and fault.repo_path == target.path
    line = fault.frame.line if fault is not None and same_file else 10**9  # a caller: the whole function
    return guarded_default(repo, target, reproduction, line)
