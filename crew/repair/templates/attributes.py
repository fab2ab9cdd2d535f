"""Missing attribute or name: use the closest name that exists.

Python's own suggestion ("Did you mean: 'amount_cents'?") is taken first: it was computed from the
real object. Otherwise the class named in the message is looked up in the repo (methods, class
attributes, dataclass/pydantic fields, ``self.x =`` assignments) and the closest attribute wins;
a module's top-level names serve for "module 'x' has no attribute 'y'"; for a ``NameError`` the
names defined in the module and the function, and a forgotten standard-library import.
"""

from __future__ import annotations

import ast
import re
import sys

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, TemplateContext
from crew.repair.templates._ast_edit import (
    BUILTIN_NAMES,
    Edit,
    Fault,
    Source,
    candidate,
    closest,
    finish,
    locate,
    module_names,
)
from crew.repair.templates._names import Member, fits, reachable_members, use_of

HANDLES: tuple[RootCause, ...] = (RootCause.MISSING_ATTRIBUTE,)

_OBJ_ATTR = re.compile(r"^(?:type object )?'([\w.]+)' object has no attribute '(\w+)'|^type object '([\w.]+)' has no "
                       r"attribute '(\w+)'")
_MOD_ATTR = re.compile(r"^module '([\w.]+)' has no attribute '(\w+)'")
_NAME = re.compile(r"^name '(\w+)' is not defined")
_SUGGEST = re.compile(r"Did you mean: '(\w+)'\?")
_FORGOT = re.compile(r"forget to import '(\w+)'")
_UNBOUND = re.compile(r"local variable '(\w+)' (?:where it is not associated|referenced before assignment)")


def _module_source(ctx: TemplateContext, dotted: str) -> Source | None:
    tail = dotted.replace(".", "/")
    for path in ctx.repo.tracked_files:
        if path.endswith((f"{tail}.py", f"{tail}/__init__.py")) and (
            path in (f"{tail}.py", f"{tail}/__init__.py") or path.endswith((f"/{tail}.py", f"/{tail}/__init__.py"))
        ):
            return Source.load(ctx, path)
    return None


def _rename_attribute(fault: Fault, attr: str, new: str, why: str, score: float, strategy: str) -> Candidate | None:
    src = fault.source
    first = [n for n in fault.nodes(ast.Attribute) if isinstance(n, ast.Attribute) and n.attr == attr]
    if not first:
        return None
    base = src.segment(first[0].value)
    scope: ast.AST = fault.function or src.tree
    nodes = [n for n in ast.walk(scope) if isinstance(n, ast.Attribute) and n.attr == attr
             and src.segment(n.value) == base]
    edit = Edit(src)
    for node in {id(n): n for n in [first[0], *nodes]}.values():
        _l1, _c1, l2, c2 = src.span(node)
        edit.replace_span(l2, c2 - len(attr), l2, c2, new)
    return candidate(strategy, src, edit.apply(), why, score)


def _uses(fault: Fault, attr: str) -> list[str]:
    """How the fault's function uses ``.attr`` (call, number, text, ...), from every use it has."""
    src = fault.source
    scope: ast.AST = fault.function or src.tree
    return [use_of(src, n) for n in ast.walk(scope) if isinstance(n, ast.Attribute) and n.attr == attr]


def _attribute(ctx: TemplateContext, fault: Fault, owner: str, attr: str, module: bool) -> list[Candidate | None]:
    message = ctx.diagnosis.exc_message
    suggested = _SUGGEST.search(message)
    where = f"{fault.path}:{fault.line}"
    kind = "module" if module else "class"
    pool: set[str] = set()
    origin = ""
    members: dict[str, Member] = {}
    if module:
        mod = _module_source(ctx, owner)
        if mod is not None:
            pool, origin = module_names(mod.tree), mod.path
    else:
        members, origin = reachable_members(ctx, owner.rsplit(".", 1)[-1])
        uses = _uses(fault, attr)
        # A member of the wrong kind (a method where a value is read, text where arithmetic is done) is no rename.
        pool = {name for name, member in members.items() if all(fits(member, use) for use in uses)}
    out: list[Candidate | None] = []
    if suggested and (not members or suggested.group(1) in pool):
        new = suggested.group(1)
        out.append(_rename_attribute(
            fault, attr, new,
            f"`{owner}` has no attribute `{attr}` ({where}); it has `{new}`, which Python itself suggests. "
            f"Use the name the {kind} actually defines.", 0.85, f"rename-attribute-{new}",
        ))
    for sim, name in closest(attr, pool, cutoff=0.6)[:2]:
        if suggested and name == suggested.group(1):
            continue
        out.append(_rename_attribute(
            fault, attr, name,
            f"`{owner}` has no attribute `{attr}` ({where}); {origin} defines `{name}`, the closest existing "
            f"name of the same kind, which the attribute was most likely renamed to.", 0.45 + 0.35 * sim,
            f"rename-attribute-{name}",
        ))
    return out


def _name(ctx: TemplateContext, fault: Fault, name: str) -> list[Candidate | None]:
    src = fault.source
    message = ctx.diagnosis.exc_message
    where = f"{fault.path}:{fault.line}"
    nodes = [n for n in fault.nodes(ast.Name) if isinstance(n, ast.Name) and n.id == name
             and isinstance(n.ctx, ast.Load)]
    if not nodes:
        return []
    out: list[Candidate | None] = []
    forgot = _FORGOT.search(message)
    stdlib = name in sys.stdlib_module_names
    if forgot or stdlib:
        module = forgot.group(1) if forgot else name
        if module in sys.stdlib_module_names:
            out.append(candidate(
                "add-missing-import", src, Edit(src).insert_top_level([f"import {module}"]).apply(),
                f"`{name}` is used at {where} but never imported; `{module}` is a standard-library module. "
                "Import it at the top of the module.", 0.8,
            ))
    pool = set(module_names(src.tree))
    if fault.function is not None:
        args = fault.function.args
        pool |= {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        pool |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        pool |= {n.id for n in ast.walk(fault.function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    suggested = _SUGGEST.search(message)
    ranked = [(1.0, suggested.group(1))] if suggested else []
    ranked += [(s, n) for s, n in closest(name, pool | (BUILTIN_NAMES - {"copyright", "credits", "license"}), 0.7)
               if not suggested or n != suggested.group(1)]
    for sim, new in ranked[:2]:
        edit = Edit(src)
        scope: ast.AST = fault.function or src.tree
        for node in ast.walk(scope):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
                edit.replace(node, new)
        source = "Python itself suggests it" if suggested and new == suggested.group(1) else "it is defined here"
        out.append(candidate(
            f"rename-name-{new}", src, edit.apply(),
            f"`{name}` is not defined at {where}; `{new}` is the closest defined name ({source}). "
            "Use the name that exists.", 0.85 if source.startswith("Python") else 0.4 + 0.35 * sim,
        ))
    return out


def generate(ctx: TemplateContext) -> list[Candidate]:
    fault = locate(ctx)
    if fault is None:
        return []
    message = ctx.diagnosis.exc_message
    if "NoneType" in message:
        return []
    out: list[Candidate | None] = []
    if m := _MOD_ATTR.search(message):
        out = _attribute(ctx, fault, m.group(1), m.group(2), module=True)
    elif m := _OBJ_ATTR.search(message):
        owner, attr = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        out = _attribute(ctx, fault, owner, attr, module=False)
    elif (m := _NAME.search(message)) and ctx.diagnosis.exc_type.rsplit(".", 1)[-1] == "NameError":
        out = _name(ctx, fault, m.group(1))
    return finish(ctx, out)


def _unbound(fault: Fault, name: str) -> str | None:
    """Why an ``UnboundLocalError`` has no safe fix: the value the missing path needs is not in the code."""
    func = fault.function
    if func is None:
        return None
    src = fault.source
    stores = sorted({n.lineno for n in ast.walk(func) if isinstance(n, ast.Name) and n.id == name
                     and isinstance(n.ctx, ast.Store) and src.function_of(n) is func})
    where = f"`{name}` at {fault.path}:{fault.line}"
    if name in module_names(src.tree):
        return (f"{where} is also a module-level name that the function assigns: either a `global {name}` "
                "is missing or the local assignment is a mistake, and which was meant cannot be inferred")
    before = [line for line in stores if line < fault.line]
    if not before:
        return f"{where} is read before the function assigns it; what it should be there cannot be inferred"
    lines = ", ".join(str(line) for line in before)
    return (f"{where}: the variable is only assigned on some branches (line{'s' if len(before) > 1 else ''} "
            f"{lines}); which value the other branches need cannot be inferred")


def explain(ctx: TemplateContext) -> str | None:
    """Why no rename is offered: an unbound local, or no defined name close to the missing one."""
    fault = locate(ctx)
    if fault is None:
        return None
    message = ctx.diagnosis.exc_message
    if m := _UNBOUND.search(message):
        return _unbound(fault, m.group(1))
    if (m := _NAME.search(message)) and ctx.diagnosis.exc_type.rsplit(".", 1)[-1] == "NameError":
        return (f"`{m.group(1)}` is not defined at {fault.path}:{fault.line}, and no defined name or "
                "standard-library module is close enough to be the one meant")
    if m := _MOD_ATTR.search(message) or _OBJ_ATTR.search(message):
        owner, attr = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        return (f"`{owner}` has no attribute `{attr}` ({fault.path}:{fault.line}), and nothing the repo defines "
                "for it is close enough to be the one meant")
    return None
