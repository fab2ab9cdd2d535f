"""Crashing inputs seeded from the repository's own tests (EvoCrash, seeded from existing tests).

A repo's tests already know how to reach the fault function: which arguments it takes, how its
objects are built, which fixtures set it up. Their calls are the seeds. The seeds are tried as
they are first (ordinary, passing inputs the differential check wants), then a mutation search
changes one leaf at a time toward the crash, ranked by what the exception class makes likely.

The test files are parsed with :mod:`ast` and never imported or run on the host; reading is
bounded in files, bytes and nodes, since a hostile repo can ship any test file. Only arguments
that :func:`crew.repair.reproduce.safe_expression` accepts are kept: literals, and constructors of
the repo's own classes (or a few stdlib ones), which are added to ``target.imports``.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from crew.handoffs import Diagnosis
from crew.repair.reproduce import (
    STDLIB_NAMES,
    CandidateInput,
    Target,
    class_index,
    message_literals,
    safe_expression,
    safe_imports,
)
from crew.repo import GitRepo
from crew.testfiles import is_test_path

SOURCE = "repo tests"
MAX_FILES = 200
MAX_FILE_BYTES = 200_000
MAX_TOTAL_BYTES = 4_000_000
MAX_NODES = 60_000
MAX_SEEDS = 12
MAX_ROWS = 8
MAX_STEPS = 30  # method calls chained onto one constructor
MAX_EXPANSION = 2_000  # nodes a call's arguments may gain from resolving names
MAX_LEAVES = 40
MAX_CANDIDATES = 120
_BIG = 10**9
_BREAKERS = ("=", ",", ";", ":", "'", '"', " ", "\n", "é")

# mutation kinds, most likely first, by the exception class (never by a case)
_DEFAULT_ORDER = ("none", "message", "empty", "remove_key", "shorter", "number", "break", "case", "duplicate")
_ORDER_BY_EXCEPTION: dict[str, tuple[str, ...]] = {
    "AttributeError": ("none", "message", "empty", "remove_key", "shorter", "number", "break", "case", "duplicate"),
    "TypeError": ("none", "message", "empty", "number", "remove_key", "shorter", "break", "case", "duplicate"),
    "KeyError": ("remove_key", "message", "empty", "none", "shorter", "case", "break", "number", "duplicate"),
    "ZeroDivisionError": ("zero", "empty", "number", "none", "message", "remove_key", "shorter", "break", "case",
                          "duplicate"),
    "IndexError": ("shorter", "empty", "number", "none", "remove_key", "message", "duplicate", "break", "case"),
    "ValueError": ("message", "break", "case", "empty", "number", "none", "remove_key", "shorter", "duplicate"),
}
_ORDER_BY_EXCEPTION["UnicodeError"] = _ORDER_BY_EXCEPTION["ValueError"]
_ORDER_BY_EXCEPTION["UnicodeDecodeError"] = _ORDER_BY_EXCEPTION["ValueError"]
_ORDER_BY_EXCEPTION["UnicodeEncodeError"] = _ORDER_BY_EXCEPTION["ValueError"]
_ORDER_BY_EXCEPTION["LookupError"] = _ORDER_BY_EXCEPTION["KeyError"]
_ORDER_BY_EXCEPTION["ArithmeticError"] = _ORDER_BY_EXCEPTION["ZeroDivisionError"]


def is_test_file(path: str) -> bool:
    """Python files of the test suite (test modules, conftest files, files under a tests folder)."""
    return path.endswith(".py") and is_test_path(path)


def _parse_bounded(source: str) -> ast.Module | None:
    """The module's tree, or None when it is too big, too deep or not Python."""
    if len(source) > MAX_FILE_BYTES:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for count, _ in enumerate(ast.walk(tree), 1):
        if count > MAX_NODES:
            return None
    return tree


def _is_fixture(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for dec in node.decorator_list:
        func = dec.func if isinstance(dec, ast.Call) else dec
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "fixture":
            return True
    return False


def _simple_return(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    """The expression a fixture returns when its body is that return alone (a docstring aside)."""
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return body[0].value
    return None


def _fixtures(tree: ast.Module) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and _is_fixture(node):
            value = _simple_return(node)
            if value is not None:
                out[node.name] = value
    return out


def _test_functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    yield item


def _own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``func``'s body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def _single_assignments(nodes: Iterable[ast.AST]) -> dict[str, ast.expr]:
    """Names bound exactly once among ``nodes``, by a plain assignment, and what they were bound to."""
    stores: dict[str, int] = {}
    values: dict[str, ast.expr] = {}
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            stores[node.id] = stores.get(node.id, 0) + 1
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            values[node.target.id] = node.value
        elif isinstance(node, ast.Global | ast.Nonlocal):
            for name in node.names:
                stores[name] = stores.get(name, 2)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stores[node.name] = stores.get(node.name, 0) + 2  # a def rebinds the name
    return {n: v for n, v in values.items() if stores.get(n) == 1}


def _bound_once(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, ast.expr]:
    """Local names bound exactly once, by a plain assignment, and the expression they were bound to."""
    params = {a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]}
    return {n: v for n, v in _single_assignments(_own_nodes(func)).items() if n not in params}


class _TooBig(Exception):
    """A call's arguments expand past the node budget (names bound to names bound to names...)."""


class _Resolver(ast.NodeTransformer):
    """Replaces names by what they were bound to, and ``mod.Class``/aliases by the class's own name.

    Each substitution is charged against a node budget, so names that expand exponentially stop.
    """

    def __init__(self, env: dict[str, ast.expr], aliases: dict[str, str], classes: set[str]) -> None:
        self.env, self.aliases, self.classes = env, aliases, classes
        self.depth = 0
        self.budget = MAX_EXPANSION
        self.sizes: dict[str, int] = {}

    def resolve(self, node: ast.expr) -> ast.expr | None:
        """``node`` with its names resolved, or None when it grows past the budget."""
        self.budget = MAX_EXPANSION
        try:
            return self.visit(copy.deepcopy(node))  # type: ignore[no-any-return]
        except (_TooBig, RecursionError):
            return None

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in self.env and self.depth < 4:
            if node.id not in self.sizes:
                self.sizes[node.id] = sum(1 for _ in ast.walk(self.env[node.id]))
            self.budget -= self.sizes[node.id]
            if self.budget < 0:
                raise _TooBig
            self.depth += 1
            try:
                return self.visit(copy.deepcopy(self.env[node.id]))  # type: ignore[no-any-return]
            finally:
                self.depth -= 1
        if node.id in self.aliases:
            return ast.Name(id=self.aliases[node.id], ctx=ast.Load())
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        if isinstance(node.func, ast.Attribute) and node.func.attr in self.classes:
            node.func = ast.Name(id=node.func.attr, ctx=ast.Load())
        self.generic_visit(node)
        return node


def _aliases(tree: ast.Module) -> dict[str, str]:
    return {a.asname: a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            for a in node.names if a.asname}


def _call_name(node: ast.expr) -> str | None:
    return node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None


def _chain_base(node: ast.expr) -> str | None:
    """The class a chain ``Cls(...).m(...).n(...)`` starts from, or None when it is not one."""
    for _ in range(50):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value,
                                                                                              ast.Call):
            node = node.func.value
        else:
            return _call_name(node)
    return None


def fluent_methods(repo: GitRepo, path: str, owner: str) -> set[str]:
    """Public methods of ``owner`` (in ``path``) whose every return is ``return self``: steps that chain."""
    tree = _parse_bounded(repo.read(path) or "")
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner), None) if tree else None
    out: set[str] = set()
    for item in cls.body if cls else []:
        if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
            returns = [n for n in _own_nodes(item) if isinstance(n, ast.Return)]
            if returns and all(isinstance(r.value, ast.Name) and r.value.id == "self" for r in returns):
                out.add(item.name)
    return out


def _with_steps(func: ast.FunctionDef | ast.AsyncFunctionDef, env: dict[str, ast.expr],
                fluent: Collection[str]) -> dict[str, ast.expr]:
    """Locals built in steps (``b = Cls(); b.add(x)``) as one chain, when every step returns ``self``.

    A local used in any other way before the call under test keeps its constructor alone.
    """
    out = dict(env)
    for name, value in env.items():
        if _call_name(value) is None:
            continue
        chain: ast.expr = value
        started, steps = False, 0
        for stmt in func.body:
            if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is value:
                started = True
                continue
            if not started:
                continue
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Name) and call.func.value.id == name):
                if call.func.attr not in fluent or steps >= MAX_STEPS:
                    break  # a step that does not return self: not a chain; what follows is the test proper
                steps += 1
                chain = ast.Call(func=ast.Attribute(value=chain, attr=call.func.attr, ctx=ast.Load()),
                                 args=call.args, keywords=call.keywords)
                continue
            break
        out[name] = chain
    return out


@dataclass
class _Seed:
    args: list[ast.expr]


def _bind(target: Target, call: ast.Call, receiver: ast.expr | None) -> list[ast.expr] | None:
    """The call's arguments in the order of ``target.params`` (the receiver as ``self``), or None."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    positional: list[ast.expr] = ([receiver] if receiver is not None else []) + list(call.args)
    params = target.params
    if len(positional) > len(params):
        return None
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    if any(name not in {p.name for p in params} for name in keywords):
        return None
    bound: list[ast.expr | None] = [*positional, *([None] * (len(params) - len(positional)))]
    for i, param in enumerate(params):
        if param.name in keywords:
            if bound[i] is not None:
                return None
            bound[i] = keywords[param.name]
    last = max((i for i, b in enumerate(bound) if b is not None), default=-1)
    out: list[ast.expr] = []
    for i, (param, value) in enumerate(zip(params, bound, strict=True)):
        if value is None:
            if param.default is None:
                return None
            if i > last:
                break  # trailing defaults stay unbound
            try:
                value = ast.parse(param.default, mode="eval").body
            except SyntaxError:
                return None
        out.append(value)
    return out


def _parametrize_rows(dec: ast.expr) -> list[dict[str, ast.expr]] | None:
    """The rows of one ``@pytest.mark.parametrize(names, values)``, by argument name; None if not one."""
    if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "parametrize"
            and len(dec.args) >= 2):
        return None
    names_node, values = dec.args[0], dec.args[1]
    if isinstance(names_node, ast.Constant) and isinstance(names_node.value, str):
        names = [n.strip() for n in names_node.value.split(",") if n.strip()]
    elif isinstance(names_node, ast.List | ast.Tuple) and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in names_node.elts):
        names = [str(e.value) for e in names_node.elts if isinstance(e, ast.Constant)]
    else:
        return None
    if not isinstance(values, ast.List | ast.Tuple):
        return None
    rows: list[dict[str, ast.expr]] = []
    for value in values.elts[:MAX_ROWS]:
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "param":
            items = list(value.args)  # pytest.param(*values, id=..., marks=...)
        elif len(names) == 1:
            items = [value]
        elif isinstance(value, ast.List | ast.Tuple):
            items = list(value.elts)
        else:
            continue
        if len(items) == len(names):
            rows.append(dict(zip(names, items, strict=True)))
    return rows


def _parametrized(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[dict[str, ast.expr]]:
    """One binding of the test's parametrized arguments per case (stacked decorators combine), capped."""
    combos: list[dict[str, ast.expr]] = [{}]
    for dec in func.decorator_list:
        rows = _parametrize_rows(dec)
        if rows:
            combos = [{**c, **r} for c in combos for r in rows][:MAX_ROWS]
    return combos


def _module_constants(tree: ast.Module) -> dict[str, ast.expr]:
    """Names the test module binds exactly once at its top level (``CFG = {...}``), and their values."""
    rebound = {name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names}
    return {n: v for n, v in _single_assignments(_own_nodes(tree)).items() if n not in rebound}


def _seeds_in(tree: ast.Module, target: Target, fixtures: dict[str, ast.expr],
              classes: set[str], fluent: Collection[str] = ()) -> Iterator[list[ast.expr]]:
    assert target.function is not None
    owner, _, name = target.function.rpartition(".")
    is_method = bool(owner) and bool(target.params) and target.params[0].name == "self"
    aliases = _aliases(tree)
    constants = _module_constants(tree)
    for func in _test_functions(tree):
        params = [a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]]
        calls = sorted((n for n in _own_nodes(func) if isinstance(n, ast.Call)),
                       key=lambda n: (n.lineno, n.col_offset))
        local = {n.id for n in _own_nodes(func) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        for row in _parametrized(func):
            env = {n: v for n, v in constants.items() if n not in params and n not in local}
            env.update({p: fixtures[p] for p in params if p in fixtures})
            env.update({p: v for p, v in row.items() if p in params})
            env.update(_bound_once(func))
            if is_method and fluent:
                env = _with_steps(func, env, fluent)
            resolver = _Resolver(env, aliases, classes | {owner} if owner else classes)
            yield from _bound_calls(calls, resolver, target, aliases, owner, name, is_method)


def _bound_calls(calls: list[ast.Call], resolver: _Resolver, target: Target, aliases: dict[str, str],
                 owner: str, name: str, is_method: bool) -> Iterator[list[ast.expr]]:
    """The calls of the target among ``calls``, their names resolved, bound to its parameters."""
    for node in calls:
        f = node.func
        receiver: ast.expr | None = None
        if is_method:
            if not (isinstance(f, ast.Attribute) and f.attr == name):
                continue
            receiver = resolver.resolve(f.value)
            if receiver is None or _chain_base(receiver) != owner:
                continue
        elif owner:  # a static or class method: Class.method(...)
            if not (isinstance(f, ast.Attribute) and f.attr == name
                    and isinstance(f.value, ast.Name) and aliases.get(f.value.id, f.value.id) == owner):
                continue
        elif not ((isinstance(f, ast.Name) and aliases.get(f.id, f.id) == name)
                  or (isinstance(f, ast.Attribute) and f.attr == name)):
            continue
        call = resolver.resolve(node)
        if not isinstance(call, ast.Call):
            continue
        bound = _bind(target, call, receiver)
        if bound is not None:
            yield bound


def _constructors(classes: dict[str, str], args: list[ast.expr]) -> set[str]:
    return {n for a in args for n in (_call_name(x) for x in ast.walk(a) if isinstance(x, ast.Call))
            if n is not None and n in classes}


def find_seeds(target: Target, repo: GitRepo) -> tuple[list[list[str]], dict[str, str]]:
    """Argument tuples (safe expressions) from the repo's tests that call the target, and the imports they need."""
    if target.function is None:
        return [], {}
    leaf = target.function.rsplit(".", 1)[-1]
    owner = target.function.rpartition(".")[0]
    fluent = fluent_methods(repo, target.path, owner) if owner else set()
    known = {name: info.module for name, info in class_index(repo).items()}
    known.update({k: v for k, v in STDLIB_NAMES.items() if k not in known})
    names = set(known)
    files = [p for p in repo.tracked_files if is_test_file(p)]
    conftests = [p for p in files if p.rsplit("/", 1)[-1] == "conftest.py"]
    tests = [p for p in files if p not in conftests]
    budget = MAX_TOTAL_BYTES
    shared: dict[str, ast.expr] = {}
    for path in sorted(conftests, key=lambda p: p.count("/"))[:MAX_FILES]:
        source = repo.read(path) or ""
        budget -= len(source)
        if budget < 0:
            break
        tree = _parse_bounded(source)
        if tree is not None:
            shared.update(_fixtures(tree))
    seeds: list[list[str]] = []
    imports: dict[str, str] = {}
    for path in tests[:MAX_FILES]:
        if budget < 0 or len(seeds) >= MAX_SEEDS:
            break
        source = repo.read(path) or ""
        if leaf not in source:
            continue
        budget -= len(source)
        tree = _parse_bounded(source)
        if tree is None:
            continue
        fixtures = {**shared, **_fixtures(tree)}
        for bound in _seeds_in(tree, target, fixtures, names, fluent):
            used = _constructors(known, bound)
            rendered = [safe_expression(ast.unparse(a), used) for a in bound]
            if any(r is None for r in rendered):
                continue  # an argument that is not a literal or a known constructor is dropped
            args = [r for r in rendered if r is not None]
            if args not in seeds:
                seeds.append(args)
                imports.update({n: known[n] for n in used})
            if len(seeds) >= MAX_SEEDS:
                break
    return seeds, safe_imports(imports)


# ----------------------------------------------------------------------------- the mutation search


@dataclass
class _Mutation:
    kind: str
    relevant: bool  # the leaf's key or the new value is one the message names
    order: int
    args: list[str]


def _children(node: ast.expr) -> list[tuple[ast.expr, str | None, bool]]:
    """Sub-expressions a mutation may reach: the dict key or keyword holding each, and whether it may
    be replaced (the earlier steps of a method chain are kept, only their arguments change)."""
    if isinstance(node, ast.List | ast.Tuple):
        return [(e, None, True) for e in node.elts]
    if isinstance(node, ast.Dict):
        return [(v, k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None, True)
                for k, v in zip(node.keys, node.values, strict=True)]
    if isinstance(node, ast.Call):
        steps = [(node.func.value, None, False)] if isinstance(node.func, ast.Attribute) else []
        return [*steps, *((a, None, True) for a in node.args), *((k.value, k.arg, True) for k in node.keywords)]
    return []


def _positions(root: ast.expr) -> Iterator[tuple[ast.expr, str | None, bool]]:
    queue: list[tuple[ast.expr, str | None, bool, int]] = [(root, None, True, 0)]
    while queue:
        node, key, replaceable, depth = queue.pop(0)
        yield node, key, replaceable
        if depth < 8:
            queue.extend((c, ck, cr, depth + 1) for c, ck, cr in _children(node))


def _constant_value(node: ast.expr) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)):
        return -node.operand.value  # type: ignore[operator]
    return ...


def _replacements(node: ast.expr, message_vals: list[str]) -> Iterator[tuple[str, ast.expr | None, bool]]:
    """(kind, new node or None to remove it, the new value is one from the message) for one leaf."""
    def lit(source: str) -> ast.expr:
        return ast.parse(source, mode="eval").body

    yield "none", lit("None"), False
    for val in message_vals:
        yield "message", lit(val), True
    value = _constant_value(node)
    if isinstance(value, bool):
        yield "empty", lit(repr(not value)), False
    elif isinstance(value, int | float):
        zero = 0 if isinstance(value, int) else 0.0
        yield "zero", lit(repr(zero)), False
        for number in (-1, _BIG):
            yield "number", lit(repr(type(value)(number))), False
    elif isinstance(value, str):
        yield "empty", lit("''"), False
        for ch in _BREAKERS:
            yield "break", lit(repr(value + ch)), False
        # a separator the value already holds, doubled: an empty field, line or item in the middle
        for ch in list(dict.fromkeys(c for c in value if not c.isalnum()))[:4]:
            yield "break", lit(repr(value.replace(ch, ch + ch, 1))), False
        for changed in dict.fromkeys((value.upper(), value.lower(), value.swapcase())):
            if changed != value:
                yield "case", lit(repr(changed)), False
    elif isinstance(value, bytes):
        yield "empty", lit("b''"), False
        yield "break", lit(repr(value + "é".encode())), False
    elif isinstance(node, ast.List | ast.Tuple):
        empty, one, dup = (copy.deepcopy(node) for _ in range(3))
        empty.elts = []
        yield "shorter" if node.elts else "empty", empty, False
        if len(node.elts) > 1:
            one.elts = node.elts[:1]
            yield "shorter", one, False
        if node.elts:
            dup.elts = [*node.elts, copy.deepcopy(node.elts[0])]
            yield "duplicate", dup, False
    elif isinstance(node, ast.Dict):
        yield "empty", ast.Dict(keys=[], values=[]), False
        for i, k in enumerate(node.keys):
            removed = copy.deepcopy(node)
            del removed.keys[i], removed.values[i]
            named = isinstance(k, ast.Constant) and repr(k.value) in message_vals
            yield "remove_key", removed, named


def _mutations(args: list[str], message_vals: list[str], message_words: set[str],
               fixed_roots: int) -> Iterator[_Mutation]:
    """One-leaf mutations; the first ``fixed_roots`` arguments (a receiver) keep their root node."""
    trees = [ast.parse(a, mode="eval").body for a in args]
    order = 0
    for i, tree in enumerate(trees):
        for leaves, (node, key, replaceable) in enumerate(_positions(tree)):
            if leaves >= MAX_LEAVES:
                break
            if not replaceable or (node is tree and i < fixed_roots):
                continue  # the receiver stays an instance of its class: only its fields change
            for kind, new, named in _replacements(node, message_vals):
                order += 1
                mutated = copy.deepcopy(trees)
                replaced = _replace(mutated[i], node, tree, new)
                if replaced is None:
                    continue
                mutated[i] = replaced
                yield _Mutation(kind, named or (key is not None and key in message_words), order,
                                [ast.unparse(t) for t in mutated])


def _replace(copied: ast.expr, target: ast.expr, original: ast.expr, new: ast.expr | None) -> ast.expr | None:
    """``copied`` (a deep copy of ``original``) with the counterpart of ``target`` replaced by ``new``."""
    if target is original:
        return new
    pairs = list(zip(ast.walk(original), ast.walk(copied), strict=True))
    twin = next(c for o, c in pairs if o is target)
    for _, parent in pairs:
        for field_name, value in ast.iter_fields(parent):
            if isinstance(value, list) and any(v is twin for v in value):
                index = next(j for j, v in enumerate(value) if v is twin)
                if new is None:
                    return None
                value[index] = new
                return copied
            if value is twin:
                if new is None:
                    return None
                setattr(parent, field_name, new)
                return copied
    return None


def rank(exc_type: str, message: str) -> tuple[str, ...]:
    """Mutation kinds in the order the exception class makes them likely."""
    name = exc_type.rsplit(".", 1)[-1]
    order = _ORDER_BY_EXCEPTION.get(name, _DEFAULT_ORDER)
    if "NoneType" in message and order[0] != "none":
        order = ("none", *(k for k in order if k != "none"))
    if "zero" not in order:
        order = (*order[: order.index("number")], "zero", *order[order.index("number"):])
    return order


def mutate(seeds: list[list[str]], exc_type: str, message: str, imports: dict[str, str],
           fixed_roots: int = 0) -> list[list[str]]:
    """One-leaf mutations of every seed, the likeliest for this exception first; safe expressions only."""
    literals = [lit for lit, _ in message_literals(message)]
    words = set()
    for lit in literals:
        value = ast.literal_eval(lit)
        if isinstance(value, str):
            words.add(value)
    order = rank(exc_type, message)
    found: list[tuple[tuple[int, bool, int, int], list[str]]] = []
    for s, seed in enumerate(seeds):
        for m in _mutations(seed, literals, words, fixed_roots):
            if m.kind not in order:
                continue
            found.append(((order.index(m.kind), not m.relevant, m.order, s), m.args))
    found.sort(key=lambda item: item[0])
    out: list[list[str]] = []
    seen = {tuple(s) for s in seeds}
    for _, args in found:
        if tuple(args) in seen or any(safe_expression(a, imports) is None for a in args):
            continue
        seen.add(tuple(args))
        out.append(args)
    return out


def test_inputs(target: Target, diagnosis: Diagnosis, repo: GitRepo) -> list[CandidateInput]:
    """The repo tests' own calls of the target, then their one-leaf mutations toward the crash (capped)."""
    if target.function is None or target.route is not None or not target.params:
        return []
    seeds, imports = find_seeds(target, repo)
    if not seeds:
        return []
    target.imports = safe_imports({**target.imports, **imports})
    receiver = int(target.params[0].name == "self")
    mutated = mutate(seeds, diagnosis.exc_type, diagnosis.exc_message, target.imports, receiver)
    return [CandidateInput(list(args), SOURCE) for args in [*seeds, *mutated][:MAX_CANDIDATES]]


test_inputs.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever its name
