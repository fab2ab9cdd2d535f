"""The llm brain as the repair search sees it: ``propose`` and ``revise`` give candidates, or none.

Whatever goes wrong (API errors after the SDK's retries, a timeout, a spent budget, an answer
rejected twice) is recorded as a fallback and the search goes on with the offline brain's pool;
after an API error or a spent budget the brain stops asking for the rest of the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crew.brain.accounting import Ledger
from crew.brain.choice import LLMSettings
from crew.handoffs import Critique, LLMUsage, RepairProposal, ValidationReport
from crew.llm.answers import RepairAnswer
from crew.llm.client import Chat, ModelError
from crew.llm.untrusted import injections
from crew.logs import get_logger
from crew.repair.candidates import Candidate, TemplateContext

if TYPE_CHECKING:
    from crew.validate import Baseline

_log = get_logger("llm")


class LLMBrain:
    """One run's llm brain: its connection, its ledger, and whether it may still ask."""

    def __init__(self, settings: LLMSettings, ledger: Ledger | None = None, usage: LLMUsage | None = None) -> None:
        self.settings = settings
        self.ledger = ledger or Ledger(settings.provider, settings.model, settings.run_budget_usd,
                                       settings.day_budget_usd)
        if usage is not None:  # the run's earlier stages
            self.ledger.usage = usage.model_copy(deep=True)
        self.chat = Chat(settings, self.ledger)
        self.runner: Any = None
        self.asked = 0
        self.log_text = ""

    def fall_back(self, stage: str, why: str, stop: bool) -> None:
        self.ledger.fallback(f"{stage}: {why}; offline brain used")
        _log.warning("llm brain fell back to offline in %s: %s", stage, why, extra={"stage": stage})
        if stop:
            self.active = False

    @property
    def active(self) -> bool:
        return not self.ledger.usage.stopped

    @active.setter
    def active(self, value: bool) -> None:
        self.ledger.usage.stopped = not value

    def review(self, proposal: RepairProposal, report: ValidationReport | None, judged: Critique) -> Critique:
        """The critic's review of a fix reflection accepted (it can only ask for a revision)."""
        from crew.llm.roles import review

        return review(self, proposal, report, judged)

    def flag(self, source: str, text: str) -> None:
        for hit in injections(source, text):
            self.ledger.injection(hit)

    def _ask_repair(self, ctx: TemplateContext, baseline: Baseline | None, user: str) -> Candidate | None:
        from crew.llm.repairer import answer_check
        from crew.llm.role import ask
        from crew.llm.tools import Toolbox

        if not self.active:
            return None
        self.asked += 1
        tools = Toolbox(ctx.repo, self.runner, self.ledger.injection)
        try:
            _, cand = ask(self.chat, "repairer", "repair", user, RepairAnswer, tools=tools,
                          check=answer_check(ctx, self.asked))
        except ModelError as exc:
            why = str(exc)
            self.fall_back("repair", why, stop="rejected twice" not in why)
            return None
        assert isinstance(cand, Candidate)
        return cand

    def propose(self, ctx: TemplateContext, baseline: Baseline | None) -> list[Candidate]:
        """Up to ``samples`` distinct answers for the pool, while the budget allows."""
        from crew.llm.repairer import brief

        user = brief(ctx, baseline, self.log_text)
        self.flag("log", ctx.diagnosis.exc_message + "\n" + self.log_text)
        if ctx.diagnosis.code_context is not None:
            self.flag(f"repo:{ctx.diagnosis.code_context.path}", "\n".join(ctx.diagnosis.code_context.lines))
        found: list[Candidate] = []
        for _ in range(self.settings.samples):
            cand = self._ask_repair(ctx, baseline, user)
            if cand is None:
                break
            if any(c.edits == cand.edits for c in found):
                break  # the model repeats itself: more samples would cost without adding
            found.append(cand)
        return found

    def revise(self, ctx: TemplateContext, baseline: Baseline | None, cand: Candidate, why: str) -> list[Candidate]:
        """One new answer after the sandbox or the reviewer turned ``cand`` down."""
        if not self.active:
            return []
        from crew.handoffs import Critique
        from crew.llm.repairer import brief, revision_note

        note = Critique(verdict="revise", feedback=revision_note(cand, why))
        revised = TemplateContext(diagnosis=ctx.diagnosis, repo=ctx.repo, evidence=ctx.evidence, feedback=note,
                                  tried=ctx.tried)
        found = self._ask_repair(revised, baseline, brief(revised, baseline, self.log_text))
        return [found] if found is not None else []


def log_text(evidence: Any, data_lines: int = 20, limit: int = 60) -> str:
    """The log lines the roles see: the data lines near the crash (payloads), then the traceback, capped."""
    if evidence is None:
        return ""
    data = list(getattr(evidence, "context_lines", []) or [])[-data_lines:]
    lines = [*data, *list(getattr(evidence, "log_excerpt", []) or [])][-limit:]
    return "\n".join(line[:400] for line in lines)
