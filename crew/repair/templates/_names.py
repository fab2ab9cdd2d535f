"""What names are reachable at a point, and whether one can stand in for another.

A rename is only a fix when the new name is the same *kind* of thing the code uses: a method for
a call, a value (attribute, field, property) for a read, and a value whose annotation fits the way
it is used (a number where arithmetic is done, text where a string method is called). These facts
come from the repo's source only (class bodies, ``__init__`` assignments, dataclass fields,
properties, base classes defined in the repo); nothing is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from crew.repair.candidates import TemplateContext
from crew.repair.templates._ast_edit import Source, repo_sources

MAX_FILES = 400
_NUMBERS = {"int", "float", "Decimal", "complex", "Fraction"}
_TEXT = {"str"}
_CONTAINERS = {"list", "dict", "set", "tuple", "frozenset", "List", "Dict", "Set", "Tuple", "Sequence",
               "Mapping", "Iterable", "deque", "bytes", "str"}
_STR_METHODS = frozenset(n for n in dir(str) if not n.startswith("_")) - frozenset(dir(list))


@dataclass(frozen=True)
class Member:
    """One attribute instances of a class have: its kind and, when written, its annotation."""

    name: str
    kind: str  # "method", "property" or "value"
    annotation: str | None = None


def _decorators(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {ast.unparse(d).rsplit(".", 1)[-1] for d in func.decorator_list}


def _annotation_text(node: ast.expr | None) -> str | None:
    return ast.unparse(node) if node is not None else None


def class_members(cls: ast.ClassDef) -> dict[str, Member]:
    """The attributes a class body defines, with what kind of thing each is."""
    members: dict[str, Member] = {}
    init_params: dict[str, str | None] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            decos = _decorators(stmt)
            if "property" in decos or "cached_property" in decos:
                members[stmt.name] = Member(stmt.name, "property", _annotation_text(stmt.returns))
            elif not ({"setter", "deleter"} & decos):
                members[stmt.name] = Member(stmt.name, "method")
            if stmt.name == "__init__":
                init_params = {a.arg: _annotation_text(a.annotation) for a in stmt.args.args + stmt.args.kwonlyargs}
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            members[stmt.target.id] = Member(stmt.target.id, "value", _annotation_text(stmt.annotation))
        elif isinstance(stmt, ast.Assign):
            for name in stmt.targets:
                if isinstance(name, ast.Name):
                    kind = "method" if isinstance(stmt.value, ast.Lambda) else "value"
                    members.setdefault(name.id, Member(name.id, kind))
    for stmt in cls.body:
        if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(stmt):
            target: ast.expr | None = None
            ann: str | None = None
            if isinstance(node, ast.AnnAssign):
                target, ann = node.target, _annotation_text(node.annotation)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(node.value, ast.Name) and node.value.id in init_params:
                    ann = init_params[node.value.id]
            if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                    and target.value.id == "self" and target.attr not in members):
                members[target.attr] = Member(target.attr, "value", ann)
    return members


def repo_classes(ctx: TemplateContext, name: str) -> list[tuple[Source, ast.ClassDef]]:
    """Every class of that name the repo defines."""
    found: list[tuple[Source, ast.ClassDef]] = []
    for src in repo_sources(ctx, f"class {name}", MAX_FILES):
        found += [(src, n) for n in ast.walk(src.tree) if isinstance(n, ast.ClassDef) and n.name == name]
    return found


def reachable_members(ctx: TemplateContext, name: str) -> tuple[dict[str, Member], str]:
    """The members of the class and of its bases defined in the repo (the class's own win), and where."""
    members: dict[str, Member] = {}
    origin = ""
    seen: set[str] = set()
    queue = [name]
    while queue and len(seen) < 20:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        for src, cls in repo_classes(ctx, current):
            origin = origin or src.path
            for key, member in class_members(cls).items():
                members.setdefault(key, member)
            queue += [ast.unparse(b).rsplit(".", 1)[-1] for b in cls.bases]
    return members, origin


def _root(annotation: str | None) -> str | None:
    if not annotation:
        return None
    text = annotation.replace("typing.", "").strip("'\"")
    if text.startswith("Optional["):
        text = text[len("Optional["):-1]
    parts = [p.strip() for p in text.split("|") if p.strip() != "None"]
    if len(parts) != 1:
        return None
    return parts[0].split("[", 1)[0].rsplit(".", 1)[-1]


def use_of(source: Source, node: ast.Attribute | ast.Name) -> str:
    """How the code uses a name: 'call', 'number', 'text', 'container' or 'value'."""
    parent = source.parent(node)
    if isinstance(parent, ast.Call) and parent.func is node:
        return "call"
    if isinstance(parent, ast.Attribute) and parent.value is node:
        grand = source.parent(parent)
        if isinstance(grand, ast.Call) and grand.func is parent and parent.attr in _STR_METHODS:
            return "text"
    if isinstance(parent, ast.BinOp | ast.AugAssign):
        other: ast.AST | None
        if isinstance(parent, ast.AugAssign):
            other = parent.value
        else:
            other = parent.right if parent.left is node else parent.left
        if isinstance(other, ast.Constant) and isinstance(other.value, int | float) and not isinstance(
                other.value, bool):
            return "number"
        if isinstance(other, ast.Constant | ast.JoinedStr) and isinstance(getattr(other, "value", ""), str):
            return "text"
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in ("len", "sorted"):
        return "container"
    if isinstance(parent, ast.For | ast.comprehension) and parent.iter is node:
        return "container"
    return "value"


def fits(member: Member, use: str) -> bool:
    """Whether a member can stand where the code uses a name that way."""
    if use == "call":
        return member.kind == "method" or _root(member.annotation) in (None, "Callable")
    if member.kind == "method":
        return False
    root = _root(member.annotation)
    if root is None or use == "value":
        return True
    if use == "number":
        return root in _NUMBERS or root == "bool"
    if use == "text":
        return root in _TEXT
    if use == "container":
        return root in _CONTAINERS
    return True


def annotation_accepts(annotation: str | None, value_type: str | None) -> bool:
    """Whether a parameter annotated ``annotation`` accepts a value of ``value_type`` (unknown: yes)."""
    root = _root(annotation)
    if root is None or value_type is None or root in ("Any", "object"):
        return True
    if root == value_type:
        return True
    if root == "float" and value_type in ("int", "bool"):
        return True
    if root == "int" and value_type == "bool":
        return True
    if root in ("Sequence", "Iterable", "Collection") and value_type in ("list", "tuple", "str", "set", "dict"):
        return True
    if root in ("Mapping", "MutableMapping") and value_type == "dict":
        return True
    return root.lower() == value_type.lower()


def literal_type(node: ast.AST) -> str | None:
    """The type of a literal expression (``3`` → int, ``"a"`` → str, ``[..]`` → list), else None."""
    if isinstance(node, ast.Constant):
        return type(node.value).__name__ if node.value is not None else "NoneType"
    if isinstance(node, ast.JoinedStr):
        return "str"
    for kind, name in ((ast.List, "list"), (ast.ListComp, "list"), (ast.Dict, "dict"), (ast.DictComp, "dict"),
                       (ast.Set, "set"), (ast.Tuple, "tuple")):
        if isinstance(node, kind):
            return name
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
        return literal_type(node.operand)
    return None


def parameters(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    args = func.args
    return [*args.posonlyargs, *args.args, *args.kwonlyargs]


def repo_functions(ctx: TemplateContext, name: str, first: Source | None = None) -> Iterable[
        tuple[Source, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Functions of that name: those in ``first`` (the fault's file) first, then the repo's."""
    seen: set[str] = set()
    sources = [first] if first is not None else []
    for src in [*sources, *repo_sources(ctx, f"def {name}", MAX_FILES)]:
        if src.path in seen:
            continue
        seen.add(src.path)
        for node in ast.walk(src.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                yield src, node


def value_type(node: ast.AST, func: ast.FunctionDef | ast.AsyncFunctionDef | None,
               observed: dict[str, str] | None = None) -> str | None:
    """What is known of a value's type at a call: a literal's, a logged local's, or its parameter's annotation."""
    found = literal_type(node)
    if found is not None or not isinstance(node, ast.Name):
        return found
    raw = (observed or {}).get(node.id)
    if raw is not None:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if value is not None:
            return type(value).__name__
    if func is not None:
        for arg in parameters(func):
            if arg.arg == node.id and arg.annotation is not None:
                return _root(ast.unparse(arg.annotation))
    return None
