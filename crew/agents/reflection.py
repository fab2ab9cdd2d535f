"""Reflection agent (offline brain): a rule-based critique of a proposal and its validation.

A green sandbox is not enough: a ``try/except`` around the symptom, a deleted assert or a
skipped test also make the regression test pass. Each rule below looks at the diff (the lines
added and removed per file, and small AST parses of the changed statements) and returns
findings; the verdict is accept, revise (with feedback that steers the next candidate), or
reject. Revisions are bounded by ``max_attempts``.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from keyword import iskeyword
from typing import TYPE_CHECKING, Literal

from crew.errors import BadInputError
from crew.handoffs import Critique, Diagnosis, Finding, RepairProposal, RootCause, SuspectCommit, ValidationReport
from crew.policy import Policy, check_diff
from crew.repair.diffs import parse_diff
from crew.repair.kinds import describe, kind, reverted_commit
from crew.testfiles import is_test_path

if TYPE_CHECKING:
    from crew.repo import GitRepo

# Strategies whose job is to touch files other than the fault's module.
CROSS_FILE_STRATEGIES = ("rename-import", "add-env-to-manifest", "raise-memory-limit", "add-requirement")
# Strategies that change configuration only; no regression test can reproduce their crash.
CONFIG_STRATEGIES = ("add-env-to-manifest", "raise-memory-limit", "add-requirement")

# Exception types that also catch the diagnosed one (a parent class is the same symptom fix).
_PARENTS: dict[str, tuple[str, ...]] = {
    "ZeroDivisionError": ("ArithmeticError",),
    "KeyError": ("LookupError",),
    "IndexError": ("LookupError",),
    "JSONDecodeError": ("ValueError",),
    "UnicodeDecodeError": ("UnicodeError", "ValueError"),
    "UnicodeEncodeError": ("UnicodeError", "ValueError"),
    "ModuleNotFoundError": ("ImportError",),
    "InvalidOperation": ("ArithmeticError",),
}
_BROAD = {"<bare>", "Exception", "BaseException"}
_SWALLOW = re.compile(r"^(pass|continue|break|\.\.\.|return|return None)\s*(#.*)?$")

_CAUSE_ADVICE: dict[RootCause, str] = {
    RootCause.DIVISION_BY_ZERO: "guard the divisor{culprit} before the division instead of catching the exception",
    RootCause.MISSING_KEY: (
        "read the key the data actually carries where it is read (or give .get an explicit, documented "
        "default) instead of catching KeyError"
    ),
    RootCause.NONE_DEREFERENCE: "handle the None{culprit} where it is produced, or check it explicitly before use",
    RootCause.INDEX_OUT_OF_RANGE: "check the length of{culprit} before indexing instead of catching IndexError",
    RootCause.TYPE_MISMATCH: "convert{culprit} to the expected type where it enters instead of catching TypeError",
    RootCause.VALUE_PARSE_ERROR: "validate or normalise the input before parsing it instead of catching the error",
    RootCause.MISSING_ATTRIBUTE: "use the attribute's current name instead of catching AttributeError",
    RootCause.IMPORT_ERROR: "import the module from where it now lives instead of catching ImportError",
    RootCause.MISSING_CONFIG: "supply the missing setting (manifest or a documented default) instead of catching",
    RootCause.ENCODING_ERROR: "decode with the right encoding explicitly instead of catching the error",
}


# What Reflection accepts lives in the policy room; the name stays for callers of this module.
ReflectionPolicy = Policy


# --------------------------------------------------------------------------- the diff, as rules see it


@dataclass
class _Line:
    kind: Literal["+", "-", " "]
    text: str  # without the newline
    source_no: int | None
    target_no: int | None

    @property
    def stripped(self) -> str:
        return self.text.strip()

    @property
    def indent(self) -> int:
        return len(self.text) - len(self.text.lstrip())


@dataclass
class _Hunk:
    lines: list[_Line]
    source_start: int
    source_length: int

    @property
    def target(self) -> list[_Line]:
        """The hunk as it reads after the patch (context and added lines)."""
        return [ln for ln in self.lines if ln.kind != "-"]

    def covers_source(self, line: int) -> bool:
        return self.source_start <= line < self.source_start + max(self.source_length, 1)


@dataclass
class _File:
    path: str
    hunks: list[_Hunk]

    @property
    def added(self) -> list[_Line]:
        return [ln for h in self.hunks for ln in h.lines if ln.kind == "+"]

    @property
    def removed(self) -> list[_Line]:
        return [ln for h in self.hunks for ln in h.lines if ln.kind == "-"]

    @property
    def is_python(self) -> bool:
        return self.path.endswith(".py")


_KINDS: dict[str, Literal["+", "-", " "]] = {"+": "+", "-": "-", " ": " "}


def _files(diff: str) -> list[_File]:
    out: list[_File] = []
    for pf in parse_diff(diff):
        hunks = []
        for h in pf:
            lines = [
                _Line(_KINDS[ln.line_type], ln.value.rstrip("\r\n"), ln.source_line_no, ln.target_line_no)
                for ln in h
                if ln.line_type in _KINDS
            ]
            hunks.append(_Hunk(lines, h.source_start, h.source_length))
        out.append(_File(pf.path, hunks))
    return out


def _short(exc_type: str) -> str:
    return exc_type.rsplit(".", 1)[-1]


def _except_types(line: str) -> list[str] | None:
    """The exception names an ``except`` clause catches ('<bare>' for ``except:``); None if not one."""
    s = line.strip()
    if not re.match(r"except\b", s):
        return None
    for src in (f"try:\n    pass\n{s}\n", f"try:\n    pass\n{s}\n    pass\n"):
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        handler = next((n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler)), None)
        if handler is None:
            return None
        if handler.type is None:
            return ["<bare>"]
        nodes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names = []
        for node in nodes:
            if isinstance(node, ast.Name):
                names.append(node.id)
            elif isinstance(node, ast.Attribute):
                names.append(node.attr)
        return names
    return None


def _inline_body(line: str) -> str | None:
    """The statement after the colon of a one-line ``except X: pass`` or ``if c: return``."""
    s = line.strip()
    for src, lineno in ((f"try:\n    pass\n{s}\n", 3), (f"{s}\n", 1)):
        try:
            node = ast.parse(src).body[0]
        except SyntaxError:
            continue
        body: list[ast.stmt] = []
        if isinstance(node, ast.Try) and node.handlers:
            body = node.handlers[0].body
        elif isinstance(node, ast.If):
            body = node.body
        if body and body[0].lineno == lineno:
            return ast.get_source_segment(src, body[0])
    return None


def _block(target: list[_Line], i: int) -> list[_Line]:
    """The statements directly inside the compound statement at ``target[i]`` (what the hunk shows)."""
    inline = _inline_body(target[i].text)
    if inline is not None:
        return [_Line(target[i].kind, " " * (target[i].indent + 4) + inline, target[i].source_no, target[i].target_no)]
    head = target[i].indent
    body: list[_Line] = []
    for ln in target[i + 1 :]:
        if not ln.stripped or ln.stripped.startswith("#"):
            continue
        if ln.indent <= head:
            break
        body.append(ln)
    if not body:
        return []
    first = body[0].indent
    return [ln for ln in body if ln.indent == first]


# --------------------------------------------------------------------------- rules


@dataclass
class _Hit:
    """A finding, what it does to the verdict, and a sentence for the next candidate."""

    finding: Finding
    action: Literal["none", "revise", "reject"] = "none"
    advice: str = ""
    cause: bool = False  # the advice ends with "fix the cause": the root-cause hint follows once


@dataclass
class _Context:
    proposal: RepairProposal
    report: ValidationReport | None
    diagnosis: Diagnosis
    policy: ReflectionPolicy
    files: list[_File]
    fault_path: str | None = None
    fault_line: int | None = None
    fault_code: str = ""
    exc: str = ""
    test_path: str | None = None
    code_files: list[_File] = field(default_factory=list)
    repo: GitRepo | None = None

    def cause_advice(self) -> str:
        template = _CAUSE_ADVICE.get(self.diagnosis.root_cause, "fix the condition that raises {exc}")
        culprit = f" `{self.diagnosis.culprit}`" if self.diagnosis.culprit else ""
        return template.format(culprit=culprit, exc=self.exc or "the exception")


def _hit(rule: str, severity: Literal["info", "warning", "blocker"], message: str, *,
         action: Literal["none", "revise", "reject"] | None = None, advice: str = "", cause: bool = False) -> _Hit:
    if action is None:
        action = "revise" if severity == "blocker" else "none"
    return _Hit(Finding(rule=rule, severity=severity, message=message), action, advice, cause)


def rule_broad_except(ctx: _Context) -> list[_Hit]:
    """An added bare ``except:``, ``except Exception`` or ``except BaseException`` hides the symptom."""
    hits = []
    for f in ctx.code_files:
        for ln in f.added:
            types = _except_types(ln.text)
            if types and _BROAD.intersection(types):
                hits.append(_hit(
                    "broad-except", "blocker",
                    f"fix hides the symptom: `{ln.stripped}` added in {f.path}:{ln.target_no}",
                    advice="Do not catch broad exceptions.", cause=True,
                ))
    return hits


def rule_swallowed_error(ctx: _Context) -> list[_Hit]:
    """An ``except`` whose body is ``pass``/``continue``/``return None`` drops the error on the floor."""
    hits = []
    for f in ctx.code_files:
        for h in f.hunks:
            target = h.target
            for i, ln in enumerate(target):
                if _except_types(ln.text) is None:
                    continue
                body = _block(target, i)
                if any(b.stripped.startswith("raise") for b in body):
                    continue
                swallow = [b for b in body if _SWALLOW.match(b.stripped) and (b.kind == "+" or ln.kind == "+")]
                if swallow:
                    hits.append(_hit(
                        "swallowed-error", "blocker",
                        f"error swallowed: `{ln.stripped}` then `{swallow[0].stripped}` in {f.path}:{ln.target_no}",
                        advice="Do not swallow the error.", cause=True,
                    ))
    return hits


_ASSERT = re.compile(r"^\s*assert\b|\.assert\w*\(|pytest\.raises\b")
_SKIP = re.compile(r"pytest\.(skip|xfail|importorskip)\s*\(|pytest\.mark\.(skip|skipif|xfail)\b|unittest\.skip")


def rule_weakened_tests(ctx: _Context) -> list[_Hit]:
    """Existing tests must not be edited, deleted, skipped or have their asserts removed."""
    hits = []
    for f in ctx.files:
        if f.path == ctx.test_path:
            continue
        if is_test_path(f.path):
            removed_asserts = [ln for ln in f.removed if _ASSERT.search(ln.text)]
            removed_tests = [ln for ln in f.removed if re.match(r"\s*(async\s+)?def\s+test", ln.text)]
            what = (
                f"removes test `{removed_tests[0].stripped}`" if removed_tests
                else f"removes `{removed_asserts[0].stripped}`" if removed_asserts
                else "modifies an existing test file"
            )
            hits.append(_hit(
                "weakened-tests", "blocker", f"{f.path}: {what}",
                advice="Leave the existing tests as they are; change the code under test.",
            ))
        for ln in f.added:
            if _SKIP.search(ln.text):
                hits.append(_hit(
                    "weakened-tests", "blocker", f"{f.path}:{ln.target_no}: adds `{ln.stripped}`",
                    advice="Do not skip or xfail tests.",
                ))
    return hits


def _meaningful(ln: _Line) -> bool:
    s = ln.stripped
    return bool(s) and not s.startswith("#") and not _SWALLOW.match(s)


def rule_removed_check(ctx: _Context) -> list[_Hit]:
    """The failing line deleted without replacement, or a ``raise``/``assert`` check removed."""
    hits = []
    for f in ctx.code_files:
        if is_test_path(f.path):
            continue
        for keyword in ("raise", "assert"):
            pattern = re.compile(rf"^\s*{keyword}\b")
            gone = [ln for ln in f.removed if pattern.match(ln.text)]
            if len(gone) > len([ln for ln in f.added if pattern.match(ln.text)]):
                hits.append(_hit(
                    "removed-check", "blocker",
                    f"the crashing check was removed: `{gone[0].stripped}` ({f.path}:{gone[0].source_no})",
                    advice=f"Keep the `{keyword}` check.", cause=True,
                ))
        if f.path == ctx.fault_path and ctx.fault_line is not None:
            for h in f.hunks:
                deleted = [ln for ln in h.lines if ln.kind == "-" and ln.source_no == ctx.fault_line]
                if deleted and not any(_meaningful(ln) for ln in h.lines if ln.kind == "+"):
                    hits.append(_hit(
                        "removed-check", "blocker",
                        f"the failing line `{deleted[0].stripped}` ({f.path}:{ctx.fault_line}) was deleted "
                        "without replacement",
                        advice="Keep the work the failing line does.", cause=True,
                    ))
    return hits


def rule_unrelated_files(ctx: _Context) -> list[_Hit]:
    """Edits outside the crash's modules, unless the strategy's job is to touch other files."""
    if ctx.fault_path is None or ctx.proposal.strategy.startswith(CROSS_FILE_STRATEGIES):
        return []
    on_path = {m.repo_path for m in ctx.diagnosis.frames if m.repo_path and not m.is_library}
    on_path.add(ctx.fault_path)
    extra = [f.path for f in ctx.files if f.path not in on_path and f.path != ctx.test_path]
    if not extra:
        return []
    return [_hit(
        "unrelated-files", "warning",
        f"edits outside the crash's module {ctx.fault_path}: {', '.join(extra)}",
        action="revise",
        advice=f"Change only {ctx.fault_path} (and files on the traceback); leave {', '.join(extra)} alone.",
    )]


def rule_diff_size(ctx: _Context) -> list[_Hit]:
    """A fix larger than the policy allows is hard to review and likely does more than fix."""
    files = [f for f in ctx.files if f.path != ctx.test_path]
    changed = sum(len(f.added) + len(f.removed) for f in files)
    over = []
    if changed > ctx.policy.max_changed_lines:
        over.append(f"{changed} changed lines > {ctx.policy.max_changed_lines}")
    if len(files) > ctx.policy.max_files:
        over.append(f"{len(files)} files > {ctx.policy.max_files}")
    if not over:
        return []
    return [_hit(
        "diff-size", "warning", "diff larger than policy: " + ", ".join(over), action="revise",
        advice="Make a smaller change: fix only the failing line and what it needs.",
    )]


def rule_forbidden_paths(ctx: _Context) -> list[_Hit]:
    """Paths and content the policy forbids (``crew.policy``), and config when config edits are off.

    The policy gate already refused these before the sandbox; the rule stays so that a critique
    of any proposal, however it was produced, says the same.
    """
    return [
        _hit("forbidden-path", "blocker", r.message, action="reject",
             advice=(f"A fix must not touch {r.path}; a human must make this change."
                     if r.rule != "allow_config_edits" else
                     "Configuration changes need a human (allow_config_edits is off)."))
        for r in check_diff(ctx.proposal.diff, ctx.policy)
    ]


def _asserts_something(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for node in ast.walk(func):
        if isinstance(node, ast.Assert | ast.Compare):
            return True
        if isinstance(node, ast.Call):
            target = node.func
            name = ""
            if isinstance(target, ast.Attribute):
                name = target.attr
            elif isinstance(target, ast.Name):
                name = target.id
            if name in ("raises", "warns", "approx") or name.startswith("assert"):
                return True
    return False


def rule_empty_test(ctx: _Context) -> list[_Hit]:
    """The regression test must check something: an assert, ``pytest.raises`` or a comparison."""
    test = ctx.proposal.test
    if test is None:
        if ctx.proposal.strategy.startswith(CONFIG_STRATEGIES):
            return []
        return [_hit(
            "empty-test", "blocker", "the proposal has no regression test",
            advice=f"Add a regression test that calls the crashing code and raises {ctx.exc} on the original.",
        )]
    try:
        tree = ast.parse(test.code)
    except SyntaxError as exc:
        return [_hit("empty-test", "blocker", f"the regression test does not parse: {exc.msg} (line {exc.lineno})",
                     advice="Write a regression test that is valid Python.")]
    funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
             and n.name.startswith("test")]
    if not funcs:
        return [_hit("empty-test", "blocker", f"{test.path} defines no test function",
                     advice="Put the regression check in a `def test_...` function.")]
    empty = [fn.name for fn in funcs if not _asserts_something(fn)]
    if not empty:
        return []
    return [_hit(
        "empty-test", "blocker", f"the regression test asserts nothing: {', '.join(empty)}",
        advice=f"Make the regression test assert the result of `{test.call}` (or `pytest.raises` a clear error).",
    )]


def _try_body(target: list[_Line], i: int) -> list[_Line] | None:
    """The lines of the ``try:`` block that the ``except`` at ``target[i]`` belongs to, if the hunk shows it."""
    indent = target[i].indent
    for j in range(i - 1, -1, -1):
        ln = target[j]
        if not ln.stripped or ln.stripped.startswith("#"):
            continue
        if ln.indent == indent and re.match(r"try\s*:", ln.stripped):
            return target[j + 1 : i]
        if ln.indent < indent:
            return None
    return None


def _catches(types: list[str], exc: str) -> bool:
    return exc in types or bool(set(_PARENTS.get(exc, ())).intersection(types))


def rule_symptom_fix(ctx: _Context) -> list[_Hit]:
    """Catching the diagnosed exception instead of preventing it, or type checks that skip work."""
    hits = []
    for f in ctx.code_files:
        for h in f.hunks:
            target = h.target
            for i, ln in enumerate(target):
                if ln.kind != "+":
                    continue
                types = _except_types(ln.text)
                if types is not None and ctx.exc and _catches(types, ctx.exc):
                    body = _try_body(target, i)
                    at_fault = f.path == ctx.fault_path and ctx.fault_line is not None and (
                        any(b.source_no == ctx.fault_line or (ctx.fault_code and b.stripped == ctx.fault_code)
                            for b in body)
                        if body is not None else h.covers_source(ctx.fault_line)
                    )
                    if at_fault:
                        hits.append(_hit(
                            "symptom-fix", "warning",
                            f"guard the cause instead: `{ln.stripped}` around the fault line ({f.path}:{ln.target_no})",
                            advice="Prefer a guard at the cause.", cause=True,
                        ))
                    else:
                        hits.append(_hit(
                            "symptom-fix", "blocker",
                            f"catches {ctx.exc} in a caller ({f.path}:{ln.target_no}), away from the fault line",
                            advice=f"Do not catch {ctx.exc} in a caller.", cause=True,
                        ))
                    continue
                hits.extend(_type_check_skip(f, target, i))
    return hits


def _type_check_skip(f: _File, target: list[_Line], i: int) -> list[_Hit]:
    ln = target[i]
    m = re.match(r"(el)?if\s+(.*)", ln.stripped)
    if not m or not re.search(r"\b(isinstance|hasattr)\s*\(", m.group(2)):
        return []
    negated = bool(re.match(r"not\b", m.group(2).strip()))
    body = _block(target, i)
    early_exit = bool(body) and _SWALLOW.match(body[0].stripped) is not None
    has_else = any(
        t.indent == ln.indent and re.match(r"(else|elif)\b", t.stripped) for t in target[i + 1 :]
    )
    if early_exit or (not negated and not has_else):
        return [_hit(
            "type-check-skip", "warning",
            f"`{ln.stripped}` silently skips work ({f.path}:{ln.target_no})",
            advice="Convert or reject the unexpected value explicitly instead of skipping it silently.",
        )]
    return []


def rule_validation(ctx: _Context) -> list[_Hit]:
    """The sandbox verdicts: reproduces, fixed, no regressions, same results, applies."""
    report, strategy = ctx.report, ctx.proposal.strategy
    if report is None:
        if ctx.proposal.test is None and strategy.startswith(CONFIG_STRATEGIES):
            return [_hit("validation", "info",
                         "configuration change: no regression test can reproduce it; review the manifest diff")]
        return [_hit("validation", "blocker", "the regression test did not reproduce the crash: it was not run",
                     advice="Run the regression test in the sandbox before asking for review.")]
    if not report.patch_applies:
        return [_hit("validation", "blocker",
                     f"the patch does not apply to the deployed commit: {report.failure or 'git apply failed'}",
                     advice="Write the diff against the deployed commit.")]
    hits = []
    if not report.reproduces:
        seen = report.test_on_original
        got = f" (on the original it gave {seen.exc_type or 'no exception'})" if seen else ""
        hits.append(_hit(
            "validation", "blocker",
            f"the regression test did not reproduce the crash: {report.failure or 'no ' + ctx.exc}{got}",
            advice=f"The regression test must raise {ctx.exc} in the fault frame on the original code; "
                   "call the crashing function with the crashing input.",
        ))
    if report.reproduces and not report.fixed:
        patched = report.test_on_patched
        exc_type = patched.exc_type if patched else None
        with_exc = f" with {exc_type}" if exc_type else ""
        msg = f": {patched.exc_message}" if patched and patched.exc_message else ""
        hits.append(_hit(
            "validation", "blocker", f"not fixed: the regression test still fails on the patched code{with_exc}{msg}",
            advice=f"Do not use strategy {strategy} again; the test still failed{with_exc} on patched code.",
        ))
    if report.newly_failing:
        names = ", ".join(report.newly_failing[:5]) + (" ..." if len(report.newly_failing) > 5 else "")
        hits.append(_hit(
            "validation", "blocker", f"newly failing tests: {names}",
            advice=f"Do not use strategy {strategy} again; it breaks {names}.",
        ))
    if report.differential_mismatches or report.differential_ok is False:
        inputs = ", ".join(report.differential_mismatches[:3]) or "generated inputs"
        hits.append(_hit(
            "validation", "blocker", f"the patched code changes results where the original did not crash: {inputs}",
            advice=(
                f"Keep the results unchanged for inputs that did not crash ({inputs}); "
                "change only the crashing case."
            ),
        ))
    return hits


# --------------------------------------------------------------------------- rules that know the generators
#
# Each kind of fix has its own way of being wrong while the sandbox stays green: a revert also
# undoes what its commit meant to add, a guard returns a value where the function's contract says
# raise, a coercion turns bad data into plausible data. A warning ranks the candidate down (it is
# still acceptable, with the reason in the PR; see :func:`rank_penalty`); a blocker declines it.

#: The rules below; a search ranks a candidate down by its warnings from these (:func:`rank_penalty`).
GENERATOR_RULES = ("revert-intended-change", "revert-tested-change", "revert-partial-commit",
                   "guard-contract-raises", "guard-falsy", "coerce-data-error", "coerce-in-validator")

_FEATURE_WORDS = re.compile(
    r"^(feat|feature)\b|\b(add(s|ed|ing)?|introduc\w*|support(s|ed|ing)?|new|allow(s|ed|ing)?|implement\w*|"
    r"enabl\w*)\b", re.I)
_CALL = re.compile(r"([A-Za-z_][\w.]*)\s*\(")
_BRANCH = re.compile(r"^(if|elif|else|match|case|for|while|try|except|with)\b")
_MAX_SCANNED_FILES = 400  # callers and tests read per critique: a bound on a huge repository


def _hunk_features(ctx: _Context, f: _File) -> list[str]:
    """What the lines a revert removes (the suspect commit's lines) add beyond the crash line."""
    removed = [ln for ln in f.removed if ln.stripped and not ln.stripped.startswith("#")
               and ln.source_no != ctx.fault_line and ln.stripped != ctx.fault_code]
    added_text = "\n".join(ln.stripped for ln in f.added)
    added_calls = set(_CALL.findall(added_text))
    out: list[str] = []
    new_defs = [ln for ln in f.removed if re.match(r"(async\s+)?def\s", ln.stripped)]
    old_defs = [ln for ln in f.added if re.match(r"(async\s+)?def\s", ln.stripped)]
    for new in new_defs:
        name = re.match(r"(?:async\s+)?def\s+(\w+)", new.stripped)
        old = next((o for o in old_defs if name and re.match(rf"(?:async\s+)?def\s+{name.group(1)}\b", o.stripped)),
                   None)
        gained = sorted(_params(new.stripped) - (_params(old.stripped) if old else set()))
        if old is not None and gained:
            out.append("new parameter " + ", ".join(f"`{p}`" for p in gained))
        elif old is None:
            out.append(f"new function `{name.group(1) if name else new.stripped}`")
    for ln in removed:
        if _BRANCH.match(ln.stripped) and ln.stripped not in added_text:
            out.append(f"new branch `{ln.stripped}`")
            break
    for ln in removed:
        if re.search(r"\bf['\"]|\.format\(|%[-#0 +]*\d*[sdfr]", ln.text) and ln.stripped not in added_text:
            out.append(f"new format `{ln.stripped}`")
            break
    calls = [c for ln in removed for c in _CALL.findall(ln.stripped)
             if c not in added_calls and c.split(".")[-1] not in _NOT_CALLS and not iskeyword(c)]
    if calls:
        out.append("new call " + ", ".join(f"`{c}()`" for c in dict.fromkeys(calls)))
    return out


_NOT_CALLS = {"print", "len", "str", "int", "float", "bool", "list", "dict", "set", "tuple", "isinstance",
              "range", "super", "repr", "format", "join", "get", "append", "def", "if", "elif", "while", "return"}


def _params(def_line: str) -> set[str]:
    try:
        node = ast.parse(def_line.rstrip(":") + ": pass").body[0]
    except SyntaxError:
        return set()
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return set()
    a = node.args
    return {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, *([a.vararg] if a.vararg else []),
                            *([a.kwarg] if a.kwarg else []))} - {"self", "cls"}


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z_]\w*", re.sub(r"#.*$", "", text))


def _removed_names(f: _File, deployed: str) -> set[str]:
    """Identifiers the revert's removed lines hold that the file no longer holds after it."""
    from collections import Counter

    left = Counter(_words(deployed))
    left.subtract(w for ln in f.removed for w in _words(ln.text))
    left.update(w for ln in f.added for w in _words(ln.text))
    gone = {w for ln in f.removed for w in _words(ln.text)}
    return {n for n in gone if left[n] <= 0 and len(n) > 2 and not iskeyword(n) and not hasattr(builtins, n)}


def _commit_facts(repo: GitRepo, sha: str) -> tuple[str, list[str]]:
    """The commit's whole message and the files it changed (``log`` reads no content: no driver runs)."""
    from sandbox.safegit import run_git

    if not re.fullmatch(r"[0-9a-f]{7,64}", sha):
        return "", []
    proc = run_git(("log", "-1", "--no-textconv", "--no-ext-diff", "--no-show-signature", "--no-renames",
                    "--name-only", "--format=%B%x1e", sha), repo.path, ceiling=False)
    if proc.returncode != 0:
        return "", []
    message, _, names = proc.stdout.decode("utf-8", errors="replace").partition("\x1e")
    return message.strip(), [n for n in names.splitlines() if n.strip()]


def _reverted(ctx: _Context) -> SuspectCommit | None:
    return reverted_commit(ctx.proposal.strategy, ctx.proposal.rationale, ctx.diagnosis.suspect_commits)


def rule_revert_intended_change(ctx: _Context) -> list[_Hit]:
    """A revert also undoes what its commit meant to add: a feature in its message or its hunk,
    names the repo's tests use, or the rest of a change that spans other files."""
    if kind(ctx.proposal.strategy) != "revert":
        return []
    commit = _reverted(ctx)
    what = f"{commit.sha[:12]}" + (f" \"{commit.summary}\"" if commit and commit.summary else "") if commit else \
        "the suspect commit"
    message, files = (_commit_facts(ctx.repo, commit.sha) if ctx.repo is not None and commit else ("", []))
    message = message or (commit.summary if commit else "")
    hits: list[_Hit] = []
    fault_files = [f for f in ctx.code_files if f.path == ctx.fault_path] or ctx.code_files
    features = [x for f in fault_files for x in _hunk_features(ctx, f)]
    says = _FEATURE_WORDS.search(message.splitlines()[0] if message else "")
    if features or says:
        why = "; ".join([*([f"its message says it adds a feature (\"{message.splitlines()[0][:80]}\")"]
                           if says else []), *features[:3]])
        hits.append(_hit(
            "revert-intended-change", "warning",
            f"the revert of {what} also removes an intended change beyond the crash line: {why}",
            advice=f"Prefer a fix that keeps the intended change of {what}.",
        ))
    if ctx.repo is not None:
        names = {n for f in fault_files for n in _removed_names(f, ctx.repo.read(f.path) or "")}
        used = _tests_using(ctx.repo, names) if names else {}
        if used:
            shown = ", ".join(f"`{n}` ({', '.join(paths[:2])})" for n, paths in sorted(used.items())[:3])
            hits.append(_hit(
                "revert-tested-change", "blocker",
                f"the revert removes what the repo's tests use, so {what} is a tested change: {shown}",
                advice=f"Keep what {what} added that the tests use; fix the crash in place.", cause=True,
            ))
        others = [p for p in files if p != ctx.fault_path and p not in {f.path for f in ctx.files}]
        if others:
            hits.append(_hit(
                "revert-partial-commit", "warning",
                f"{what} also changed {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}; reverting "
                f"only its lines in {ctx.fault_path} undoes part of a change",
                advice="Check that the rest of the commit still works without these lines.",
            ))
    return hits


def _tests_using(repo: GitRepo, names: set[str]) -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    tests = [p for p in repo.tracked_files if p.endswith(".py") and is_test_path(p)][:_MAX_SCANNED_FILES]
    for path in tests:
        text = repo.read(path) or ""
        for name in names:
            if re.search(rf"\b{re.escape(name)}\b", text):
                used.setdefault(name, []).append(path)
    return used


def _fault_function(ctx: _Context) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The fault function as deployed: from the repo when it is given, else from the code context."""
    cc = ctx.diagnosis.code_context
    name = (cc.function if cc else None) or (ctx.diagnosis.fault_frame.frame.function
                                             if ctx.diagnosis.fault_frame else None)
    sources: list[str] = []
    if ctx.repo is not None and ctx.fault_path:
        sources.append(ctx.repo.read(ctx.fault_path) or "")
    if cc is not None:
        sources.append(textwrap.dedent("\n".join(cc.lines)))
    for src in sources:
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError):
            continue
        funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name]
        if ctx.repo is not None and src is sources[0] and ctx.fault_line is not None:
            funcs = [n for n in funcs if n.lineno <= ctx.fault_line <= (n.end_lineno or n.lineno)] or funcs
        if funcs:
            return funcs[-1]
    return None


def _exc_names(exc: str) -> set[str]:
    return {exc, *_PARENTS.get(exc, ())}


def _handler_catches(handler: ast.ExceptHandler, names: set[str]) -> bool:
    if handler.type is None:
        return False
    nodes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any((n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else "") in names
               for n in nodes)


def _calls(nodes: list[ast.stmt], name: str) -> bool:
    for node in (n for stmt in nodes for n in ast.walk(stmt)):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name):
                return True
    return False


def _callers_expecting_raise(repo: GitRepo, name: str, exc: str) -> list[str]:
    """``path:line`` of code that calls ``name`` inside ``try/except exc`` or ``pytest.raises(exc)``."""
    names = _exc_names(exc)
    found: list[str] = []
    paths = [p for p in repo.tracked_files if p.endswith(".py")][:_MAX_SCANNED_FILES]
    for path in paths:
        text = repo.read(path) or ""
        if name not in text or not any(n in text for n in names):
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        found += [f"{path}:{node.lineno}" for node in ast.walk(tree) if isinstance(node, ast.stmt)
                  and (_catches_around(node, name, names) or _raises_around(node, name, names))]
    return found


def _catches_around(node: ast.AST, name: str, names: set[str]) -> bool:
    """``try: ... name(...) ... except <names>:``."""
    return isinstance(node, ast.Try) and any(_handler_catches(h, names) for h in node.handlers) \
        and _calls(node.body, name)


def _raises_around(node: ast.AST, name: str, names: set[str]) -> bool:
    """``with pytest.raises(<names>): ... name(...)``."""
    if not isinstance(node, ast.With | ast.AsyncWith) or not _calls(node.body, name):
        return False
    for item in node.items:
        cm = item.context_expr
        if isinstance(cm, ast.Call) and _calls([ast.Expr(cm)], "raises") and any(
                (a.id if isinstance(a, ast.Name) else a.attr if isinstance(a, ast.Attribute) else "") in names
                for a in cm.args):
            return True
    return False


def _takes_a_value(ctx: _Context) -> bool:
    """The fix's added lines give a value or skip work (return, continue, a conditional) and raise nothing."""
    added = [ln.stripped for f in ctx.code_files for ln in f.added]
    if any(re.match(r"raise\b", a) for a in added):
        return False
    return any(re.match(r"(return|continue|break|yield)\b", a) or re.search(r"\bif\b.+\belse\b", a)
               or re.search(r"\bor\b", a) for a in added)


def rule_guard_contract_raises(ctx: _Context) -> list[_Hit]:
    """A guard that returns a default where the function's contract says raise: its docstring says
    so, it raises for other bad inputs, or a caller (or test) catches the exception it would raise."""
    if kind(ctx.proposal.strategy) not in ("guard", "default") or not ctx.exc or not _takes_a_value(ctx):
        return []
    func = _fault_function(ctx)
    if func is None:
        return []
    hits: list[_Hit] = []
    doc = ast.get_docstring(func) or ""
    names = _exc_names(ctx.exc)
    raise_words = re.search(r"\braise[sd]?\b", doc, re.I)
    named = [n for n in re.findall(r"\b([A-Z]\w*(?:Error|Exception))\b", doc)]
    if raise_words and (not named or names.intersection(named)):
        hits.append(_hit(
            "guard-contract-raises", "blocker",
            f"the guard returns a value where `{func.name}`'s docstring says it raises"
            + (f" {ctx.exc}" if names.intersection(named) else "") + ": the caller is told to expect an error",
            advice=f"Keep `{func.name}` raising as its docstring says; fix the caller or the data.", cause=True,
        ))
    if ctx.repo is not None:
        callers = _callers_expecting_raise(ctx.repo, func.name, ctx.exc)
        if callers:
            hits.append(_hit(
                "guard-contract-raises", "blocker",
                f"the guard returns a value where callers expect `{func.name}` to raise {ctx.exc}: "
                f"{', '.join(callers[:3])} catch it",
                advice=f"Keep `{func.name}` raising {ctx.exc}; its callers handle it.", cause=True,
            ))
    if not hits:
        raised = sorted({_raised_name(n) for n in ast.walk(func) if isinstance(n, ast.Raise) and n.exc is not None}
                        - {""})
        if raised:
            hits.append(_hit(
                "guard-contract-raises", "warning",
                f"`{func.name}` raises {', '.join(raised)} for other bad inputs; the guard returns a value "
                "for this one instead",
                advice=f"Consider raising a clear error from `{func.name}`, as it does for other bad inputs.",
            ))
    return hits


def _raised_name(node: ast.Raise) -> str:
    target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return ""


def _truthiness_tests(line: str) -> list[str]:
    """Expressions an added line tests for truth (``if not x``, ``x or d``, ``a if x else b``)."""
    s = line.strip()
    for src in (s, s + " pass", s.removeprefix("el") + " pass", f"({s})"):
        try:
            tree = ast.parse(src)
            break
        except SyntaxError:
            continue
    else:
        return []
    out: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            test = node.test
            out.append(test.operand if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) else test)
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            out.append(node.values[0])
    return [ast.unparse(e) for e in out if isinstance(e, ast.Name | ast.Attribute | ast.Subscript | ast.Call)]


def rule_guard_falsy(ctx: _Context) -> list[_Hit]:
    """A guard for None written as a truth test also swallows 0, '', [] and False."""
    if kind(ctx.proposal.strategy) not in ("guard", "default"):
        return []
    if ctx.diagnosis.root_cause is not RootCause.NONE_DEREFERENCE and "NoneType" not in ctx.diagnosis.exc_message:
        return []
    for f in ctx.code_files:
        for ln in f.added:
            tested = _truthiness_tests(ln.text)
            hit = [t for t in tested if ctx.diagnosis.culprit is None or t == ctx.diagnosis.culprit]
            if hit:
                return [_hit(
                    "guard-falsy", "warning",
                    f"`{ln.stripped}` ({f.path}:{ln.target_no}) treats every falsy `{hit[0]}` (0, '', [], False) "
                    "like None, where only None crashed",
                    advice=f"Test `{hit[0]} is None` instead of its truth value.",
                )]
    return []


_BAD_TEXT = (
    re.compile(r"invalid literal for \w+\(\) with base \d+: (['\"])(?P<v>.*)\1\s*$"),
    re.compile(r"could not convert string to \w+: (['\"])(?P<v>.*)\1\s*$"),
    re.compile(r"^time data (['\"])(?P<v>.*?)\1 does not match format"),
    re.compile(r"^Invalid isoformat string: (['\"])(?P<v>.*)\1\s*$"),
    re.compile(r"^Unknown string format: (?P<v>.*)$"),
)
_VALIDATOR_NAME = re.compile(r"(^|_)(validate|validator|valid|check|verify|ensure|strict|strictly)(_|$)", re.I)
_VALIDATOR_DOC = re.compile(r"\bvalidat\w*|\bstrict(ly)?\b|\bmust be\b|\breject\w*", re.I)


def crashing_text(message: str) -> str | None:
    """The text a conversion refused, when the exception message quotes it."""
    for pattern in _BAD_TEXT:
        m = pattern.search(message.strip())
        if m:
            return m.group("v")
    return None


def rule_coercion_hides_data_error(ctx: _Context) -> list[_Hit]:
    """A coercion or tolerant parse that turns data which is no number or date into a value, or that
    makes a validation function accept what it exists to reject."""
    if kind(ctx.proposal.strategy) not in ("coerce", "parse"):
        return []
    hits: list[_Hit] = []
    text = crashing_text(ctx.diagnosis.exc_message)
    if text is not None and text.strip() and not re.search(r"\d", text):  # '' is a missing value, not bad data
        hits.append(_hit(
            "coerce-data-error", "blocker",
            f"the crashing value {text[:60]!r} is no number or date in any spelling; converting it "
            "hides a data error",
            advice=f"Do not convert {text[:60]!r}; reject it with a clear error, or fix the producer.", cause=True,
        ))
    func = _fault_function(ctx)
    if func is not None:
        doc = ast.get_docstring(func) or ""
        why = ("its name" if _VALIDATOR_NAME.search(func.name) else
               f"its docstring (\"{_VALIDATOR_DOC.search(doc).group(0)}\")"  # type: ignore[union-attr]
               if _VALIDATOR_DOC.search(doc) else "")
        if why:
            hits.append(_hit(
                "coerce-in-validator", "blocker",
                f"the {describe(ctx.proposal.strategy).label} is inside `{func.name}`, a validation function by "
                f"{why}: it would accept what it exists to reject",
                advice=f"Leave `{func.name}` strict; convert the value before it is validated, or fix the data.",
            ))
    return hits


def rank_penalty(critique: Critique) -> int:
    """How far a search ranks an accepted candidate down: its warnings from the generator rules."""
    return sum(1 for f in critique.findings if f.rule in GENERATOR_RULES and f.severity == "warning")


RULES: tuple[Callable[[_Context], list[_Hit]], ...] = (
    rule_forbidden_paths,
    rule_broad_except,
    rule_swallowed_error,
    rule_weakened_tests,
    rule_removed_check,
    rule_symptom_fix,
    rule_unrelated_files,
    rule_diff_size,
    rule_empty_test,
    rule_validation,
    rule_revert_intended_change,
    rule_guard_contract_raises,
    rule_guard_falsy,
    rule_coercion_hides_data_error,
)


def _context(
    proposal: RepairProposal, report: ValidationReport | None, diagnosis: Diagnosis, policy: ReflectionPolicy,
    repo: GitRepo | None = None,
) -> _Context:
    files = _files(proposal.diff)
    fault = diagnosis.fault_frame
    cc = diagnosis.code_context
    fault_code = ""
    if cc is not None and cc.start_line <= cc.fault_line < cc.start_line + len(cc.lines):
        fault_code = cc.lines[cc.fault_line - cc.start_line].strip()
    return _Context(
        proposal=proposal, report=report, diagnosis=diagnosis, policy=policy, files=files,
        fault_path=fault.repo_path if fault else None,
        fault_line=cc.fault_line if cc else (fault.frame.line if fault else None),
        fault_code=fault_code or ((fault.frame.code or "").strip() if fault else ""),
        exc=_short(diagnosis.exc_type),
        test_path=proposal.test.path if proposal.test else None,
        code_files=[f for f in files if f.is_python], repo=repo,
    )


def critique(
    proposal: RepairProposal,
    report: ValidationReport | None,
    diagnosis: Diagnosis,
    policy: ReflectionPolicy | None = None,
    attempt: int | None = None,
    max_attempts: int = 3,
    *,
    repo: GitRepo | None = None,
) -> Critique:
    """Accept, revise (with feedback) or reject ``proposal`` given its validation ``report``.

    ``repo`` (the repository at the deployed commit) lets the rules that know the generators look
    past the diff: the reverted commit's message and files, the tests, the fault function's callers.
    """
    policy = policy or ReflectionPolicy()
    attempt = proposal.attempt if attempt is None else attempt
    try:
        ctx = _context(proposal, report, diagnosis, policy, repo)
    except BadInputError as exc:
        return Critique(
            verdict="revise" if attempt < max_attempts else "reject",
            findings=[Finding(rule="diff", severity="blocker", message=str(exc))],
            feedback=f"Do not use strategy {proposal.strategy} again; its diff could not be read ({exc}).",
        )
    hits = [hit for rule in RULES for hit in rule(ctx)]
    findings = [h.finding for h in hits]
    acting = [h for h in hits if h.action != "none"]
    if any(h.action == "reject" for h in hits):
        return Critique(verdict="reject", findings=findings, feedback=_feedback(ctx, acting))
    needs_change = [h for h in hits if h.action == "revise"]
    if not needs_change:
        return Critique(verdict="accept", findings=findings, feedback=_feedback(ctx, hits))
    again = f"Do not use strategy {proposal.strategy} again"
    lead = "" if any(h.advice.startswith(again) for h in acting) else f"{again}; {needs_change[0].finding.message}."
    feedback = " ".join(p for p in (lead, _feedback(ctx, acting)) if p)
    if attempt >= max_attempts:
        return Critique(verdict="reject", findings=findings,
                        feedback=f"No attempts left ({attempt} of {max_attempts}). {feedback}")
    return Critique(verdict="revise", findings=findings, feedback=feedback)


def _feedback(ctx: _Context, hits: list[_Hit]) -> str:
    """The hits' advice as sentences, the "strategy again" sentence first, the cause hint once at the end."""
    again = f"Do not use strategy {ctx.proposal.strategy} again"
    advice = sorted(dict.fromkeys(h.advice for h in hits if h.advice), key=lambda a: not a.startswith(again))
    if any(h.cause for h in hits):
        hint = ctx.cause_advice()
        advice.append(hint[0].upper() + hint[1:] + ".")
    return " ".join(advice)


# --------------------------------------------------------------------------- declining


def _is_builtin_exception(name: str) -> bool:
    obj = getattr(builtins, name, None)
    return isinstance(obj, type) and issubclass(obj, BaseException)


def decline(diagnosis: Diagnosis) -> str | None:
    """Why the offline brain will not attempt a fix, in plain words; None when it will try."""
    cc = diagnosis.code_context
    code = ""
    if cc is not None and cc.start_line <= cc.fault_line < cc.start_line + len(cc.lines):
        code = cc.lines[cc.fault_line - cc.start_line].strip()
    elif diagnosis.fault_frame is not None:
        code = (diagnosis.fault_frame.frame.code or "").strip()
    if re.match(r"assert\b", code):
        shown = code if len(code) <= 60 else code[:57] + "..."
        return (
            f"the crash is a deliberate invariant check (`{shown}`) surfacing bad upstream data; removing or "
            "weakening the check would hide it; a human must fix the data or the producer"
        )
    raised = re.match(r"raise\s+([A-Za-z_][\w.]*)", code)
    if raised:
        name = _short(raised.group(1))
        if not _is_builtin_exception(name):
            return (
                f"the crash is a deliberate invariant check (`raise {name}`) surfacing bad upstream data; "
                "removing or weakening the check would hide it; a human must fix the data or the producer"
            )
    if diagnosis.root_cause is RootCause.UNKNOWN:
        return (
            f"the root cause is unknown ({diagnosis.exc_type} is outside the crash classes the offline brain "
            "can repair); a human or the llm brain must look at it"
        )
    return None
