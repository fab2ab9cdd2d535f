"""Import errors: import the names from the module that defines them now.

A renamed or moved module (``app.utils.fmt`` became ``app.utils.formatting``) is found by scanning
the repo's Python files for a top-level definition of every imported name; the import is rewritten
to that module's dotted path (``src/`` layouts and packages handled). A name renamed inside its
module is imported under its new name with the old one as alias, so call sites stay as they are.
A third-party module missing from the image can only be added to the requirements file; that is
offered last, and only when the repo has one.
"""

from __future__ import annotations

import ast
import re

from crew.handoffs import RootCause
from crew.repair.candidates import Candidate, SourceEdit, TemplateContext
from crew.repair.templates._ast_edit import (
    Edit,
    Fault,
    Source,
    candidate,
    closest,
    dispatch,
    module_names,
    name_similarity,
)

HANDLES: tuple[RootCause, ...] = (RootCause.IMPORT_ERROR,)

_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_CANNOT = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")
MAX_FILES = 600
# Import names whose distribution is called something else.
DISTRIBUTIONS = {
    "yaml": "PyYAML", "PIL": "Pillow", "sklearn": "scikit-learn", "cv2": "opencv-python",
    "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "jwt": "PyJWT", "dotenv": "python-dotenv",
    "google": "protobuf", "Crypto": "pycryptodome", "magic": "python-magic", "attr": "attrs",
}


def module_of(path: str, roots: list[str]) -> str | None:
    """The dotted module of a repo path under one of the import roots."""
    for root in sorted(roots, key=len, reverse=True):
        if path.startswith(root):
            rel = path[len(root):]
            rel = rel[: -len("/__init__.py")] if rel.endswith("/__init__.py") else rel.removesuffix(".py")
            if rel and all(part.isidentifier() for part in rel.split("/")):
                return rel.replace("/", ".")
    return None


def import_roots(ctx: TemplateContext, top: str, fault_path: str) -> list[str]:
    """Folders the service imports from: those holding the top-level package of the failing import."""
    roots = set()
    for path in ctx.repo.tracked_files:
        for marker in (f"{top}/", f"{top}.py"):
            idx = path.find(marker)
            while idx != -1:
                if idx == 0 or path[idx - 1] == "/":
                    roots.add(path[:idx])
                idx = path.find(marker, idx + 1)
    if not roots:
        parts = fault_path.split("/")
        roots = {"/".join(parts[:i]) + ("/" if i else "") for i in range(len(parts))}
    # Prefer the root the failing file itself lives under.
    mine = [r for r in roots if fault_path.startswith(r)]
    return mine or sorted(roots)


def _definers(ctx: TemplateContext, names: list[str], roots: list[str]) -> list[tuple[str, str, set[str]]]:
    """(dotted module, path, names it defines) for modules defining some of ``names``."""
    out: list[tuple[str, str, set[str]]] = []
    files = [p for p in ctx.repo.tracked_files if p.endswith(".py") and not re.search(r"(^|/)tests?/", p)]
    for path in files[:MAX_FILES]:
        dotted = module_of(path, roots)
        text = ctx.repo.read(path) if dotted else None
        if not dotted or not text or not any(n in text for n in names):
            continue
        try:
            defined = _defined(ast.parse(text))
        except (SyntaxError, ValueError):
            continue
        if defined & set(names):
            out.append((dotted, path, defined))
    return out


def _defined(tree: ast.Module) -> set[str]:
    """Top-level definitions (not re-exports): def, class, assignment."""
    names = module_names(tree)
    imported = {(a.asname or a.name).split(".")[0] for s in tree.body if isinstance(s, ast.Import | ast.ImportFrom)
                for a in s.names}
    return names - imported


def _import_stmt(fault: Fault) -> ast.Import | ast.ImportFrom | None:
    stmt = fault.stmt
    return stmt if isinstance(stmt, ast.Import | ast.ImportFrom) else None


def _resolve(fault: Fault, node: ast.ImportFrom, roots: list[str]) -> str | None:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module
    here = module_of(fault.path, roots)
    if here is None:
        return None
    package = here.split(".")
    if not fault.path.endswith("__init__.py"):
        package = package[:-1]
    if node.level - 1 > len(package):
        return None
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _spell_from(fault: Fault, node: ast.ImportFrom, new_module: str, roots: list[str]) -> str:
    if node.level:
        here = module_of(fault.path, roots) or ""
        package = here.rsplit(".", 1)[0] if not fault.path.endswith("__init__.py") else here
        if new_module.startswith(package + "."):
            return "." + new_module[len(package) + 1:]
    return new_module


def _moved(ctx: TemplateContext, fault: Fault, missing: str) -> list[Candidate | None]:
    node = _import_stmt(fault)
    src = fault.source
    if node is None:
        return []
    if isinstance(node, ast.ImportFrom) and not node.level:
        top = (node.module or "").split(".")[0]
    else:
        top = missing.split(".")[0]
    roots = import_roots(ctx, top, fault.path)
    old = _resolve(fault, node, roots) if isinstance(node, ast.ImportFrom) else None
    if isinstance(node, ast.ImportFrom):
        if old is None or not (old == missing or old.startswith(missing + ".")):
            return []
        names = [a.name for a in node.names if a.name != "*"]
        if not names:
            return []
    else:
        aliases = [a for a in node.names if a.name == missing or a.name.startswith(missing + ".")]
        if len(aliases) != 1 or aliases[0].asname is None:
            return []  # plain ``import a.b.c`` is used as ``a.b.c.x``: renaming it means touching every use
        old = aliases[0].name
        alias = aliases[0].asname
        names = sorted({n.attr for n in ast.walk(src.tree) if isinstance(n, ast.Attribute)
                        and isinstance(n.value, ast.Name) and n.value.id == alias})
        if not names:
            return []
    definers = _definers(ctx, names, roots)
    full = [(mod, path) for mod, path, defined in definers if set(names) <= defined and mod != old]
    if not full:
        return []
    ranked = sorted(full, key=lambda mp: (-name_similarity(old or "", mp[0]), mp[0]))
    out: list[Candidate | None] = []
    for rank, (mod, path) in enumerate(ranked[:2]):
        if isinstance(node, ast.ImportFrom):
            spelled = _spell_from(fault, node, mod, roots)
            new_text: str | None = _replace_from_module(src, node, spelled)
        else:
            new_text = f"import {mod} as {node.names[0].asname}" if len(node.names) == 1 else None
        if new_text is None:
            continue
        upd = Edit(src).replace(node, new_text).apply()
        out.append(candidate(
            "import-from-new-module" if rank == 0 else f"import-from-{mod}", src, upd,
            f"`{old}` no longer exists ({missing!r} is not importable at {fault.path}:{node.lineno}); "
            f"{path} now defines {', '.join(f'`{n}`' for n in names)}. Import from `{mod}`, where the code moved.",
            0.85 - 0.15 * rank,
        ))
    return out


def _replace_from_module(src: Source, node: ast.ImportFrom, module: str) -> str:
    text = src.segment(node)
    match = re.match(r"from\s+[.\w]+\s+import", text)
    if match is None:
        return text
    return f"from {module} import" + text[match.end():]


def _renamed_name(ctx: TemplateContext, fault: Fault, name: str, module: str) -> list[Candidate | None]:
    node = _import_stmt(fault)
    src = fault.source
    if not isinstance(node, ast.ImportFrom):
        return []
    top = module.split(".")[0]
    roots = import_roots(ctx, top, fault.path)
    target = next((a for a in node.names if a.name == name), None)
    if target is None:
        return []
    out: list[Candidate | None] = []
    others = [a for a in node.names if a is not target]
    # 1. The name moved to another module: import it from there.
    for mod, _path, _defined_names in _definers(ctx, [name], roots):
        if mod == module:
            continue
        kept = ", ".join(f"{a.name} as {a.asname}" if a.asname else a.name for a in others)
        indent = src.indent_of(node)
        alias = f" as {target.asname}" if target.asname else ""
        new = (f"from {node.module if not node.level else '.' * node.level + (node.module or '')} import {kept}"
               f"{src.newline}{indent}" if kept else "") + f"from {mod} import {name}{alias}"
        out.append(candidate(
            "import-name-from-new-module", src, Edit(src).replace(node, new).apply(),
            f"`{name}` is no longer in `{module}` ({fault.path}:{node.lineno}); `{mod}` defines it now. "
            "Import it from there.", 0.8,
        ))
        break
    # 2. The name was renamed inside its module: import the new name under the old one.
    here = None
    for path in ctx.repo.tracked_files:
        if module_of(path, roots) == module:
            here = Source.load(ctx, path)
            break
    if here is not None:
        for sim, new in closest(name, _defined(here.tree), 0.6)[:1]:
            l1, c1, l2, c2 = src.span(target)
            text = f"{new} as {target.asname or name}"
            upd = Edit(src).replace_span(l1, c1, l2, c2, text).apply()
            out.append(candidate(
                "import-renamed-name", src, upd,
                f"`{module}` has no `{name}` any more ({fault.path}:{node.lineno}); it defines `{new}`, the "
                f"closest name. Import `{new}` under the old name so the call sites stay unchanged.",
                0.45 + 0.35 * sim,
            ))
    return out


def _requirement(ctx: TemplateContext, fault: Fault, missing: str) -> Candidate | None:
    top = missing.split(".")[0]
    if any(p.endswith((f"{top}.py", f"{top}/__init__.py")) for p in ctx.repo.tracked_files):
        return None  # the repo's own package: not a third-party dependency
    req = next((p for p in ("requirements.txt", "requirements/base.txt", "requirements/prod.txt")
                if p in ctx.repo.tracked_files), None)
    if req is None:
        return None
    text = ctx.repo.read(req) or ""
    dist = DISTRIBUTIONS.get(top, top.replace("_", "-"))
    listed = {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
              for line in text.splitlines() if line.strip() and not line.startswith("#")}
    if dist.lower() in listed:
        return None  # declared already: the image build, not the code, is at fault
    updated = text + ("" if text.endswith("\n") or not text else "\n") + f"{dist}\n"
    src_fault = fault.source
    edit = SourceEdit(path=req, original=text, updated=updated)
    return Candidate(
        strategy="add-requirement", edits=(edit,), score=0.3,
        rationale=(f"`{missing}` is imported at {src_fault.path}:{fault.line} but is neither part of the repository "
                   f"nor listed in {req}. Declare the distribution `{dist}` there (unpinned: pin it to the "
                   f"version you test with)."),
    )


def generate(ctx: TemplateContext) -> list[Candidate]:
    return dispatch(ctx, [
        (_CANNOT, lambda c, f, m: _renamed_name(c, f, m.group(1), m.group(2))),
        (_NO_MODULE, lambda c, f, m: _moved(c, f, m.group(1)) or [_requirement(c, f, m.group(1))]),
    ])
