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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from crew.errors import BadInputError
from crew.handoffs import Critique, Diagnosis, Finding, RepairProposal, RootCause, ValidationReport
from crew.policy import Policy, check_diff
from crew.repair.diffs import parse_diff
from crew.testfiles import is_test_path

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
)


def _context(
    proposal: RepairProposal, report: ValidationReport | None, diagnosis: Diagnosis, policy: ReflectionPolicy
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
        code_files=[f for f in files if f.is_python],
    )


def critique(
    proposal: RepairProposal,
    report: ValidationReport | None,
    diagnosis: Diagnosis,
    policy: ReflectionPolicy | None = None,
    attempt: int | None = None,
    max_attempts: int = 3,
) -> Critique:
    """Accept, revise (with feedback) or reject ``proposal`` given its validation ``report``."""
    policy = policy or ReflectionPolicy()
    attempt = proposal.attempt if attempt is None else attempt
    try:
        ctx = _context(proposal, report, diagnosis, policy)
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
