"""The monitoring analyst, the diagnostician and the critic: answers that refine the offline brain's
records, never widen them.

The analyst's reading goes into ``CrashEvidence.analysis`` and the lines it finds suspicious are
flagged; the offline extraction stays the evidence. The diagnostician's hypothesis replaces the
offline one only when it names a fault location the traceback supports (the reproduction is
anchored there); otherwise the offline diagnosis is kept and the disagreement noted. The critic
reviews a fix reflection accepted: it may send it back for revision, never accept what reflection
or policy refused. Any failure keeps the offline record and is noted as a fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crew.handoffs import CrashEvidence, Critique, Diagnosis, Finding, RepairProposal, ValidationReport
from crew.llm.answers import CritiqueAnswer, DiagnosisAnswer, MonitoringAnswer
from crew.llm.client import ModelError
from crew.llm.role import ask
from crew.llm.untrusted import quote

if TYPE_CHECKING:
    from crew.llm.brain import LLMBrain
    from crew.repo import GitRepo


def analyse(brain: LLMBrain, evidence: CrashEvidence) -> CrashEvidence:
    if not brain.active:
        return evidence
    groups = "\n".join(f"- {g.exc_type} ×{g.count}" for g in evidence.groups) or "- none"
    user = (f"Healcrew found {len(evidence.tracebacks)} traceback(s) in {evidence.lines_scanned} log lines, "
            f"grouped as:\n{groups}\n\nThe log lines around the crash:\n"
            + quote("log:excerpt", brain.log_text) + "\n\nAnswer with the JSON object the schema asks for.")
    brain.flag("log", brain.log_text)
    try:
        answer, _ = ask(brain.chat, "monitoring-analyst", "monitoring", user, MonitoringAnswer)
    except ModelError as exc:
        brain.fall_back("monitoring", str(exc), stop="rejected twice" not in str(exc))
        return evidence
    for line in answer.suspicious_text:
        brain.ledger.injection(f"monitoring analyst: {line[:160]}")
    return evidence.model_copy(update={"analysis": answer.summary})


def refine(brain: LLMBrain, diagnosis: Diagnosis, repo: GitRepo) -> Diagnosis:
    if not brain.active or diagnosis.fault_frame is None:
        return diagnosis
    from crew.llm.tools import Toolbox

    ctx = diagnosis.code_context
    code = "\n".join(ctx.lines) if ctx is not None else ""
    user = "\n".join([
        f"Healcrew's diagnosis: {diagnosis.exc_type} classified {diagnosis.root_cause.value}, fault frame "
        f"{diagnosis.fault_frame.repo_path}:{diagnosis.fault_frame.frame.line} "
        f"({diagnosis.fault_frame.frame.function}), confidence {diagnosis.confidence:.2f}.",
        "Its hypothesis:", quote("diagnosis:hypothesis", diagnosis.hypothesis),
        "The exception message, as logged:", quote("log:exception-message", diagnosis.exc_message),
        f"The code around the fault line ({ctx.path if ctx else '?'}):", quote(f"repo:{ctx.path if ctx else ''}", code),
        "Answer with the JSON object the schema asks for."])
    if ctx is not None:
        brain.flag(f"repo:{ctx.path}", code)
    try:
        answer, _ = ask(brain.chat, "diagnostician", "diagnostic", user, DiagnosisAnswer,
                        tools=Toolbox(repo, None, brain.ledger.injection))
    except ModelError as exc:
        brain.fall_back("diagnostic", str(exc), stop="rejected twice" not in str(exc))
        return diagnosis
    supported = {(f.repo_path, f.frame.line) for f in diagnosis.frames if f.repo_path}
    supported |= {(loc.path, loc.line) for loc in diagnosis.fault_locations}
    if (answer.fault_path, answer.fault_line) not in supported:
        brain.fall_back("diagnostic", f"the diagnostician named {answer.fault_path}:{answer.fault_line}, which the "
                        "traceback does not support; offline hypothesis kept", stop=False)
        return diagnosis
    return diagnosis.model_copy(update={"hypothesis": answer.hypothesis, "hypothesis_by": "llm"})


def review(brain: LLMBrain, proposal: RepairProposal, report: ValidationReport | None, judged: Critique) -> Critique:
    """The critic's word on a fix reflection accepted: accept stays, or revise with its feedback."""
    if not brain.active or judged.verdict != "accept":
        return judged
    proof = (f"reproduces on the deployed code: {report.reproduces}; passes on the fix: {report.fixed}; newly "
             f"failing tests: {len(report.newly_failing)}" if report is not None else "not validated in a sandbox")
    user = "\n".join([
        f"The fix ({proposal.strategy}, by the {proposal.brain} brain). Sandbox: {proof}.",
        "Its rationale:", quote("proposal:rationale", proposal.rationale),
        "The diff:", quote("proposal:diff", proposal.diff),
        "Answer with the JSON object the schema asks for."])
    try:
        answer, _ = ask(brain.chat, "critic", "reflection", user, CritiqueAnswer)
    except ModelError as exc:
        brain.fall_back("reflection", str(exc), stop="rejected twice" not in str(exc))
        return judged
    if answer.verdict == "accept":
        return judged
    findings = [*judged.findings, *(Finding(rule="llm-critic", severity="warning", message=c[:300])
                                    for c in answer.concerns or [answer.feedback or "the critic asks for a revision"])]
    return Critique(verdict="revise", findings=findings, feedback=answer.feedback or judged.feedback)
