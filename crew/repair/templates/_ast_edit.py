"""Shared tools of the repair templates: find the failing node, edit the source text around it.

Templates reason on the AST but edit the source *text*: an edit replaces an exact span (from the
node's line and column offsets, multi-line aware) or inserts whole lines before a statement with
its indentation, so the rest of the file keeps its formatting and comments. An edit that does not
leave a file ``ast.parse`` accepts is dropped, never returned.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from crew.handoffs import Diagnosis
from crew.repair.candidates import Candidate, SourceEdit, TemplateContext

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_NESTED_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_COMPOUND = (
    ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.TryStar,
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Match,
)
_BODY_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
# Feedback words that mean "the last candidate hid the symptom instead of fixing it".
_TOO_BROAD = re.compile(r"too broad|hides?|masks?|silenc|swallow|narrow", re.IGNORECASE)


class Source:
    """One parsed file at the deployed commit, with span-to-text helpers."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.tree = ast.parse(text)
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self._parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self._parents[child] = parent

    @classmethod
    def load(cls, ctx: TemplateContext, path: str | None) -> Source | None:
        """The file at the deployed commit, or None if it is missing or does not parse."""
        if not path:
            return None
        text = ctx.repo.read(path)
        if text is None:
            return None
        try:
            return cls(path, text)
        except (SyntaxError, ValueError):
            return None

    # ---------------------------------------------------------------- positions and text

    def char_col(self, lineno: int, byte_col: int) -> int:
        """AST column offsets count UTF-8 bytes; text slicing counts characters."""
        line = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int, int, int]:
        """(start line, start char col, end line, end char col) of a node."""
        lineno, col = node.lineno, node.col_offset  # type: ignore[attr-defined]
        end_lineno = node.end_lineno or lineno  # type: ignore[attr-defined]
        end_col = node.end_col_offset if node.end_col_offset is not None else col  # type: ignore[attr-defined]
        return lineno, self.char_col(lineno, col), end_lineno, self.char_col(end_lineno, end_col)

    def segment(self, node: ast.AST) -> str:
        """The exact source text of a node."""
        return self.between(*self.span(node))

    def between(self, l1: int, c1: int, l2: int, c2: int) -> str:
        """The source text from (line, char col) to (line, char col)."""
        if l1 == l2:
            return self.lines[l1 - 1][c1:c2]
        parts = [self.lines[l1 - 1][c1:], *self.lines[l1 : l2 - 1], self.lines[l2 - 1][:c2]]
        return "".join(parts)

    def indent_of(self, node: ast.AST) -> str:
        line = self.lines[node.lineno - 1]  # type: ignore[attr-defined]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def indent_unit(self) -> str:
        """One level of the file's indentation (four spaces when the file shows none)."""
        for node in ast.walk(self.tree):
            body = getattr(node, "body", None)
            if isinstance(node, _COMPOUND) and isinstance(body, list) and body and body[0].lineno > node.lineno:
                outer, inner = self.indent_of(node), self.indent_of(body[0])
                if inner.startswith(outer) and len(inner) > len(outer):
                    return inner[len(outer):]
        return "    "

    def starts_its_line(self, stmt: ast.stmt) -> bool:
        """True when nothing but indentation precedes the statement on its first line."""
        return self.lines[stmt.lineno - 1][: self.char_col(stmt.lineno, stmt.col_offset)].strip() == ""

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self._parents.get(node)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        current = self._parents.get(node)
        while current is not None:
            yield current
            current = self._parents.get(current)

    # ---------------------------------------------------------------- finding nodes

    def statement_at(self, line: int) -> ast.stmt | None:
        """The innermost statement whose own text (a compound statement's header) holds ``line``."""
        body: list[ast.stmt] = self.tree.body
        found: ast.stmt | None = None
        while True:
            inner = None
            for stmt in body:
                end = stmt.end_lineno or stmt.lineno
                if stmt.lineno <= line <= end:
                    inner = stmt
                    break
            if inner is None:
                return found
            found = inner
            children = [s for f in _BODY_FIELDS for s in _stmts(getattr(inner, f, None))]
            if not children or not any(c.lineno <= line <= (c.end_lineno or c.lineno) for c in children):
                return inner
            body = children

    def function_of(self, node: ast.AST) -> FunctionNode | None:
        for anc in self.ancestors(node):
            if isinstance(anc, FunctionNode):
                return anc
        return None

    def in_loop(self, node: ast.AST) -> bool:
        """True when ``node`` sits in a loop body inside its own function (``continue`` is legal)."""
        child = node
        for anc in self.ancestors(node):
            if isinstance(anc, FunctionNode | ast.ClassDef | ast.Module):
                return False
            if isinstance(anc, ast.For | ast.AsyncFor | ast.While) and child in anc.body:
                return True
            child = anc
        return False

    def in_nested_scope(self, node: ast.AST, stmt: ast.stmt) -> bool:
        """True when ``node`` is inside a lambda or comprehension of ``stmt`` (its names are local)."""
        for anc in self.ancestors(node):
            if anc is stmt:
                return False
            if isinstance(anc, _NESTED_SCOPES):
                return True
        return False


def _stmts(value: object) -> list[ast.stmt]:
    if not isinstance(value, list):
        return []
    out: list[ast.stmt] = []
    for item in value:
        if isinstance(item, ast.stmt):
            out.append(item)
        elif isinstance(item, ast.ExceptHandler | ast.match_case):
            out.extend(item.body)
    return out


def header_nodes(stmt: ast.stmt) -> Iterator[ast.AST]:
    """Every node of a statement's own text: a compound statement's header, never its body."""
    if not isinstance(stmt, _COMPOUND):
        yield from ast.walk(stmt)
        return
    yield stmt
    for name, value in ast.iter_fields(stmt):
        if name in _BODY_FIELDS:
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, ast.AST):
                yield from ast.walk(item)


def on_line(node: ast.AST, line: int) -> bool:
    start = getattr(node, "lineno", None)
    if start is None:
        return False
    return bool(start <= line <= (getattr(node, "end_lineno", None) or start))


# -------------------------------------------------------------------- the fault location


@dataclass
class Fault:
    """Where the crash is: the file, the line, the statement and its function."""

    source: Source
    line: int
    stmt: ast.stmt
    function: FunctionNode | None
    diagnosis: Diagnosis

    @property
    def path(self) -> str:
        return self.source.path

    def nodes(self, kind: type[ast.AST] | tuple[type[ast.AST], ...]) -> list[ast.AST]:
        """Nodes of ``kind`` in the fault statement's own text, those on the fault line first."""
        found = [n for n in header_nodes(self.stmt) if isinstance(n, kind)]
        return sorted(found, key=lambda n: 0 if on_line(n, self.line) else 1)


def repo_sources(ctx: TemplateContext, marker: str, limit: int) -> Iterator[Source]:
    """The repo's Python files (the first ``limit``) whose text holds ``marker`` and that parse."""
    for path in [p for p in ctx.repo.tracked_files if p.endswith(".py")][:limit]:
        text = ctx.repo.read(path)
        if not text or marker not in text:
            continue
        try:
            yield Source(path, text)
        except (SyntaxError, ValueError):
            continue


def message_string(raw: str) -> str | None:
    """The string a message quotes as a Python literal (``'page'`` → ``page``), else None."""
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def locate(ctx: TemplateContext) -> Fault | None:
    """The fault statement from the diagnosis, read at the deployed commit."""
    d = ctx.diagnosis
    path = d.fault_frame.repo_path if d.fault_frame else None
    path = path or (d.code_context.path if d.code_context else None)
    line = d.code_context.fault_line if d.code_context else (d.fault_frame.frame.line if d.fault_frame else 0)
    source = Source.load(ctx, path)
    if source is None or not line:
        return None
    stmt = source.statement_at(line)
    if stmt is None:
        return None
    return Fault(source=source, line=line, stmt=stmt, function=source.function_of(stmt), diagnosis=d)


# -------------------------------------------------------------------- text edits


@dataclass
class Edit:
    """A set of non-overlapping text replacements on one source, applied from the end."""

    source: Source
    changes: list[tuple[int, int, int, int, str]] = field(default_factory=list)

    def replace(self, node: ast.AST, text: str) -> Edit:
        l1, c1, l2, c2 = self.source.span(node)
        self.changes.append((l1, c1, l2, c2, text))
        return self

    def replace_span(self, l1: int, c1: int, l2: int, c2: int, text: str) -> Edit:
        self.changes.append((l1, c1, l2, c2, text))
        return self

    def insert_at(self, lineno: int, col: int, text: str) -> Edit:
        self.changes.append((lineno, col, lineno, col, text))
        return self

    def insert_before(self, stmt: ast.stmt, block: Iterable[str]) -> Edit:
        """Whole lines before ``stmt``, at its indentation (``block`` lines are relative)."""
        indent = self.source.indent_of(stmt)
        nl = self.source.newline
        text = "".join(f"{indent}{row}{nl}" if row else nl for row in block)
        self.changes.append((stmt.lineno, 0, stmt.lineno, 0, text))
        return self

    def insert_top_level(self, block: Iterable[str]) -> Edit:
        """Lines after the module's docstring and imports (for a small helper function)."""
        line = 1
        for stmt in self.source.tree.body:
            is_doc = isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(
                stmt.value.value, str
            )
            if is_doc or isinstance(stmt, ast.Import | ast.ImportFrom):
                line = (stmt.end_lineno or stmt.lineno) + 1
            else:
                break
        nl = self.source.newline
        rows = list(block)
        if rows and rows[0].startswith(("def ", "async def ", "class ")) and line <= len(self.source.lines):
            # A definition keeps two blank lines before the code that follows it.
            blank = 0
            while line + blank <= len(self.source.lines) and not self.source.lines[line + blank - 1].strip():
                blank += 1
            rows += [""] * max(0, 2 - blank)
        body = "".join(f"{row}{nl}" if row else nl for row in rows)
        if line == 1:
            self.changes.append((1, 0, 1, 0, body + nl + nl))
        elif line > len(self.source.lines):
            lead = "" if self.source.text.endswith(("\n", "\r")) else nl
            self.changes.append((line, 0, line, 0, lead + nl + nl + body))
        else:
            self.changes.append((line, 0, line, 0, nl + nl + body))
        return self

    def apply(self) -> str | None:
        """The edited text, or None when nothing changed, edits overlap, or it no longer parses."""
        lines = [*self.source.lines, ""]
        ordered = sorted(self.changes, key=lambda c: (c[0], c[1], c[2], c[3]), reverse=True)
        for prev, cur in zip(ordered, ordered[1:], strict=False):
            if (cur[2], cur[3]) > (prev[0], prev[1]):
                return None
        for l1, c1, l2, c2, text in ordered:
            if l2 > len(lines):
                return None
            head = lines[l1 - 1][:c1]
            tail = lines[l2 - 1][c2:]
            lines[l1 - 1 : l2] = [head + text + tail]
        updated = "".join(lines)
        if updated == self.source.text:
            return None
        try:
            ast.parse(updated)
        except SyntaxError:
            return None
        return updated


# -------------------------------------------------------------------- expression helpers


def needs_parens(source: Source, node: ast.AST) -> bool:
    """Whether a conditional expression put in place of ``node`` needs parentheses."""
    parent = source.parent(node)
    if isinstance(parent, ast.Return | ast.Assign | ast.AnnAssign | ast.AugAssign | ast.Expr):
        return False
    if isinstance(parent, ast.keyword):
        return False
    return not (isinstance(parent, ast.Call) and node in parent.args and len(parent.args) == 1 and not parent.keywords)


def conditional(source: Source, node: ast.AST, cond: str, fallback: str) -> str:
    """``<node> if <cond> else <fallback>``, parenthesised where the grammar needs it."""
    text = f"{source.segment(node)} if {cond} else {fallback}"
    return f"({text})" if needs_parens(source, node) else text


def is_simple(node: ast.AST) -> bool:
    """Names, attributes, constant subscripts: cheap and safe to evaluate twice."""
    if isinstance(node, ast.Name | ast.Constant):
        return True
    if isinstance(node, ast.Attribute):
        return is_simple(node.value)
    if isinstance(node, ast.Subscript):
        return is_simple(node.value) and is_simple(node.slice)
    if isinstance(node, ast.UnaryOp):
        return is_simple(node.operand)
    return False


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def assigned_from_call(func: FunctionNode | None, name: str, before: int) -> ast.expr | None:
    """The call (or ``.get``) a local name was last assigned from before line ``before``."""
    if func is None:
        return None
    found: ast.expr | None = None
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and node.lineno < before and isinstance(node.value, ast.Call):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                found = node.value
        elif (isinstance(node, ast.AnnAssign) and node.lineno < before and isinstance(node.value, ast.Call)
              and isinstance(node.target, ast.Name) and node.target.id == name):
            found = node.value
    return found


def neutral_default(source: Source, func: FunctionNode | None) -> str:
    """A return value consistent with the function's other returns and its annotation."""
    if func is None:
        return "None"
    ann = ast.unparse(func.returns) if func.returns is not None else ""
    if ann:
        if "None" in ann or "Optional" in ann:
            return "None"
        for name, default in (("str", '""'), ("int", "0"), ("float", "0.0"), ("bool", "False"),
                              ("list", "[]"), ("dict", "{}"), ("set", "set()"), ("tuple", "()")):
            if re.fullmatch(rf"(?:builtins\.)?{name}(?:\[.*\])?", ann) or ann.lower().startswith(name + "["):
                return default
        return "None"
    for node in ast.walk(func):
        if not isinstance(node, ast.Return) or node.value is None or source.function_of(node) is not func:
            continue
        value = node.value
        if isinstance(value, ast.Constant) and value.value is None:
            return "None"
        if isinstance(value, ast.JoinedStr) or (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            return '""'
        if isinstance(value, ast.List | ast.ListComp):
            return "[]"
        if isinstance(value, ast.Dict | ast.DictComp):
            return "{}"
    return "None"


def module_names(tree: ast.Module) -> set[str]:
    """Names a module defines at top level: defs, classes, assignments, imports."""
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                if alias.name != "*":
                    names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(stmt, ast.If | ast.Try):
            sub = ast.Module(body=[s for f in _BODY_FIELDS for s in _stmts(getattr(stmt, f, None))], type_ignores=[])
            names |= module_names(sub)
    return names


BUILTIN_NAMES = frozenset(dir(builtins))


def normalise_name(name: str) -> str:
    """customer_id, customerId, Customer-ID all become 'customerid'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def name_similarity(a: str, b: str) -> float:
    """How alike two identifiers are: case/underscore-insensitive equality, shared words, letters."""
    if normalise_name(a) == normalise_name(b):
        return 1.0
    ratio = difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()
    words_a = set(re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", a).lower()))
    words_b = set(re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", b).lower()))
    shared = len(words_a & words_b) / max(len(words_a | words_b), 1)
    return max(ratio, 0.45 + 0.5 * shared if shared else 0.0)


def closest(name: str, pool: Iterable[str], cutoff: float = 0.6) -> list[tuple[float, str]]:
    """Pool names alike ``name``, best first."""
    scored = sorted(
        ((name_similarity(name, other), other) for other in set(pool) if other != name),
        key=lambda item: (-item[0], item[1]),
    )
    return [(s, o) for s, o in scored if s >= cutoff]


# -------------------------------------------------------------------- candidates


def candidate(
    strategy: str, source: Source, updated: str | None, rationale: str, score: float,
    expected_result: str | None = None, extra: tuple[SourceEdit, ...] = (),
) -> Candidate | None:
    """A one-file candidate, or None when the edit did not produce a valid file."""
    if updated is None or updated == source.text:
        return None
    edit = SourceEdit(path=source.path, original=source.text, updated=updated)
    return Candidate(
        strategy=strategy, edits=(edit, *extra), rationale=rationale,
        score=round(max(0.0, min(1.0, score)), 3), expected_result=expected_result,
    )


def finish(ctx: TemplateContext, found: Iterable[Candidate | None], broad: Iterable[str] = ()) -> list[Candidate]:
    """Drop tried strategies and failed edits, steer by the last critique, rank by score."""
    broad_set = set(broad)
    feedback = ctx.feedback.feedback if ctx.feedback else ""
    findings = " ".join(f.message for f in ctx.feedback.findings) if ctx.feedback else ""
    text = f"{feedback} {findings}"
    out: list[Candidate] = []
    seen: set[str] = set()
    for cand in found:
        if cand is None or cand.strategy in ctx.tried or cand.strategy in seen:
            continue
        seen.add(cand.strategy)
        score = cand.score
        if cand.strategy in text:
            score *= 0.5
        if cand.strategy in broad_set and _TOO_BROAD.search(text):
            score *= 0.5
        out.append(dataclasses.replace(cand, score=round(score, 3)))
    return sorted(out, key=lambda c: -c.score)


Handler = Callable[[TemplateContext, "Fault", "re.Match[str]"], list[Candidate | None]]


def dispatch(ctx: TemplateContext, rules: Sequence[tuple[re.Pattern[str], Handler]]) -> list[Candidate]:
    """Locate the fault; the handler of the first pattern the exception message matches proposes; rank."""
    fault = locate(ctx)
    if fault is None:
        return []
    message = ctx.diagnosis.exc_message
    for pattern, handler in rules:
        if m := pattern.search(message):
            return finish(ctx, handler(ctx, fault, m))
    return []


def string_literal(value: str, like: ast.AST | None = None, source: Source | None = None) -> str:
    """A string literal quoted like a neighbouring literal of the file (double quotes by default)."""
    quote = '"'
    if like is not None and source is not None:
        seg = source.segment(like).lstrip("rRbBuUfF")
        if seg.startswith("'"):
            quote = "'"
    body = repr(value)[1:-1]
    if quote == '"':
        body = body.replace("\\'", "'").replace('"', '\\"')
    return f"{quote}{body}{quote}"
