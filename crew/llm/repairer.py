"""The repairer role: Claude's patch and regression test, as candidates for the offline search.

Its edits are exact replacements in files at the deployed commit; one that does not apply is sent
back once with the reason. Its candidates join the offline pool and are judged by the same
evidence, reflection and policy; its own test rides along in the patched suite (it must pass
there), while the test that proves the fix stays the reproduction's, which failed on the deployed
code with the production crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crew.llm.answers import RepairAnswer
from crew.llm.role import AnswerRejected
from crew.llm.untrusted import quote
from crew.repair.candidates import Candidate, SourceEdit, TemplateContext

if TYPE_CHECKING:
    from crew.validate import Baseline

CODE_WINDOW = 40  # lines each side of the fault line shown to the model


def _fault_code(ctx: TemplateContext) -> tuple[str, str]:
    d = ctx.diagnosis
    path = d.fault_frame.repo_path if d.fault_frame and d.fault_frame.repo_path else (
        d.code_context.path if d.code_context else "")
    text = ctx.repo.read(path) if path else None
    if not text:
        return path, ""
    line = d.fault_frame.frame.line if d.fault_frame else 1
    lines = text.splitlines()
    lo, hi = max(0, line - CODE_WINDOW - 1), min(len(lines), line + CODE_WINDOW)
    return path, "\n".join(f"{n:5d}  {lines[n - 1]}" for n in range(lo + 1, hi + 1))


def brief(ctx: TemplateContext, baseline: Baseline | None, log_text: str) -> str:
    """The repairer's user message: healcrew's own findings in plain text, log and repo text quoted."""
    d = ctx.diagnosis
    where = (f"{d.fault_frame.repo_path}:{d.fault_frame.frame.line} in {d.fault_frame.frame.function}"
             if d.fault_frame else "unknown")
    path, code = _fault_code(ctx)
    parts = [
        f"Incident {d.incident_id}. Healcrew's diagnosis (computed by healcrew from the data below):",
        f"- exception type: {d.exc_type}",
        f"- root-cause class: {d.root_cause.value}",
        f"- fault location: {where}",
        f"- confidence: {d.confidence:.2f}",
    ]
    if baseline is not None and baseline.test is not None:
        parts.append(f"- the call that reproduces the crash in the sandbox: {baseline.test.call}")
    parts += ["", "The exception message, as logged:", quote("log:exception-message", d.exc_message),
              "", "Log lines around the crash:", quote("log:excerpt", log_text),
              "", f"The code around the fault line ({path}, with line numbers):", quote(f"repo:{path}", code)]
    if ctx.feedback is not None and ctx.feedback.feedback:
        parts += ["", "Feedback on an earlier fix (from healcrew's reviewer):", quote("review", ctx.feedback.feedback)]
    parts += ["", "Answer with the JSON object the schema asks for."]
    return "\n".join(parts)


def to_candidate(answer: RepairAnswer, ctx: TemplateContext, number: int) -> Candidate:
    """The answer as a candidate; AnswerRejected (sent back to the model) when an edit does not apply."""
    files: dict[str, tuple[str, str]] = {}
    for i, edit in enumerate(answer.edits, 1):
        if edit.path.startswith("/") or ".." in edit.path.split("/"):
            raise AnswerRejected(f"edit {i}: {edit.path!r} is not a repo-relative path")
        original, current = files.get(edit.path) or ((ctx.repo.read(edit.path),) * 2)
        if original is None or current is None:
            if edit.old:
                raise AnswerRejected(f"edit {i}: {edit.path} does not exist at the deployed commit")
            files[edit.path] = ("", edit.new)  # a new file
            continue
        if not edit.old:
            raise AnswerRejected(f"edit {i}: {edit.path} exists; give the exact text to replace")
        count = current.count(edit.old)
        if count != 1:
            where = "is not in" if count == 0 else f"occurs {count} times in"
            raise AnswerRejected(f"edit {i}: the text to replace {where} {edit.path}; it must occur exactly once")
        files[edit.path] = (original, current.replace(edit.old, edit.new, 1))
    edits = tuple(SourceEdit(path, old, new) for path, (old, new) in files.items())
    return Candidate(strategy=f"llm-repair-{number}", edits=edits, rationale=answer.rationale.strip(), score=0.9,
                     brain="llm", extra_files=((answer.test.path, answer.test.code),))


def revision_note(cand: Candidate, why: str) -> str:
    """What validation said about a candidate, for the model's next try."""
    return f"Your patch ({cand.strategy}) was validated in the sandbox and did not hold: {why}."


def answer_check(ctx: TemplateContext, number: int) -> Any:
    return lambda answer: to_candidate(answer, ctx, number)
