"""Repair agent (offline brain) and the bounded repair → sandbox → reflection loop.

Candidates come ranked from the templates; each attempt is validated in the sandbox and
critiqued; a revise verdict feeds the critique back so the next candidate avoids what failed.
The loop stops at the first accepted attempt, after ``max_attempts``, or when the repair's time
``budget`` is spent (no sandbox run is started that the budget cannot pay for, and each run's
timeout is cut to what is left); every attempt is kept, with where its sandbox time went.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from crew.handoffs import (
    Attempt,
    CrashEvidence,
    Critique,
    Diagnosis,
    RepairProposal,
    ReproductionRecord,
    RootCause,
    TimeSpent,
    ValidationReport,
)
from crew.repair.candidates import Candidate, TemplateContext, explain_decline, generate_candidates
from crew.repo import GitRepo
from crew.validate import Baseline, Runner, prepare_baseline, validate


@dataclass
class RepairOutcome:
    """Everything the loop did."""

    attempts: list[Attempt] = field(default_factory=list)
    accepted: Attempt | None = None
    declined: str | None = None
    sandbox_runs: int = 0
    sandbox_seconds: float = 0.0
    reflection_seconds: float = 0.0
    candidates_considered: int = 0
    policy_decisions: list[str] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    """Sandbox seconds by validation step over all attempts (reproduction, suite on original, ...)."""
    budget_spent: bool = False
    reproduction: ReproductionRecord | None = None


SANDBOX_TIMEOUT = 300.0  # seconds one sandbox run may take when no budget is tighter
MIN_RUN_SECONDS = 5.0  # a sandbox run is not started with less budget left than this


class _Budget:
    """What is left of ``--budget``; unbounded when None."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float:
        return SANDBOX_TIMEOUT if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def timeout(self) -> float:
        return min(SANDBOX_TIMEOUT, self.left())

    def spent(self) -> bool:
        return self.left() < MIN_RUN_SECONDS


def _add_time(outcome: RepairOutcome, spent: TimeSpent | None) -> None:
    if spent is None:
        return
    for step, seconds in spent.model_dump(exclude={"total"}).items():
        if seconds:
            outcome.step_seconds[step] = round(outcome.step_seconds.get(step, 0.0) + seconds, 3)


#: fault locations the repair makes candidates at: the raising line and the two best upstream.
MAX_LOCATIONS = 3


def _located_candidates(ctx: TemplateContext, limit: int = 6) -> list[Candidate]:
    """Candidates at the raising line and at the next best fault locations, ranked together.

    An upstream candidate scores its own score times its location's, and its strategy names the
    place, so a critique of the fix at one place does not rule out the same fix at another.
    """
    from dataclasses import replace

    from crew.diagnosis.locations import diagnosis_at

    found = generate_candidates(ctx)
    for loc in ctx.diagnosis.fault_locations[1:MAX_LOCATIONS]:
        moved = diagnosis_at(ctx.diagnosis, loc, ctx.repo.read)
        if moved is None:
            continue
        place = f"@{loc.path}:{loc.line}"
        tried = {s.removesuffix(place) for s in ctx.tried if s.endswith(place)}
        sub = TemplateContext(diagnosis=moved, repo=ctx.repo, evidence=ctx.evidence, feedback=ctx.feedback,
                              tried=tried)
        for cand in generate_candidates(sub):
            found.append(replace(cand, strategy=cand.strategy + place, score=cand.score * loc.score,
                                 rationale=f"{cand.rationale} At {loc.path}:{loc.line}: {loc.reason}."))
    seen: set[tuple[tuple[str, str], ...]] = set()
    ranked: list[Candidate] = []
    for cand in sorted(found, key=lambda c: -c.score):
        key = tuple((e.path, e.updated) for e in cand.edits)
        if key not in seen:
            seen.add(key)
            ranked.append(cand)
    return ranked[:limit]


def _proposal(cand: Candidate, diagnosis: Diagnosis, number: int, baseline: Baseline | None) -> RepairProposal:
    from crew.repair.diffs import unified_diff

    return RepairProposal(
        incident_id=diagnosis.incident_id, attempt=number, strategy=cand.strategy,
        diff=unified_diff(cand.edits), touched_files=cand.touched_files,
        test=baseline.test if baseline else None, rationale=cand.rationale, score=round(cand.score, 3),
    )


def repair(
    diagnosis: Diagnosis, evidence: CrashEvidence | None, repo: GitRepo, runner: Runner, test_command: str,
    max_attempts: int = 3, on_attempt: Callable[[Attempt], None] | None = None, budget: float | None = None,
) -> RepairOutcome:
    """Run the bounded loop; returns the attempts and the accepted one, if any.

    ``budget`` bounds the whole repair in seconds (the operator's ``--budget``).
    """
    from crew.agents.reflection import ReflectionPolicy, critique, decline

    outcome = RepairOutcome()
    clock = _Budget(budget)
    reason = decline(diagnosis)
    if reason:
        outcome.declined = reason
        return outcome
    from crew.policy import load_repo_settings
    from crew.policy.gate import before_sandbox

    settings = load_repo_settings(repo.path)
    policy: ReflectionPolicy = settings.policy
    outcome.policy_decisions.extend(settings.policy_notes)
    baseline: Baseline | None = None
    ctx = TemplateContext(diagnosis=diagnosis, repo=repo, evidence=evidence)
    is_config = diagnosis.root_cause is RootCause.OUT_OF_MEMORY
    if is_config:
        from crew.repair.config_repair import raise_memory_limit

        candidates = raise_memory_limit(repo, evidence)
        outcome.policy_decisions.append("out of memory: configuration repair (memory limit), bounded by policy")
    else:
        if clock.spent():
            outcome.budget_spent = True
            outcome.declined = f"the repair budget of {budget:g} s was spent before the crash was reproduced"
            return outcome
        started = time.perf_counter()
        baseline = prepare_baseline(diagnosis, evidence, repo, runner, diagnosis.incident_id, test_command,
                                    timeout=clock.timeout())
        outcome.sandbox_seconds += time.perf_counter() - started
        outcome.sandbox_runs += baseline.runs
        outcome.reproduction = baseline.record(diagnosis)
        _add_time(outcome, TimeSpent(reproduction=baseline.reproduction_seconds,
                                     test_on_original=baseline.test_seconds,
                                     suite_on_original=baseline.suite_seconds))
        if not outcome.reproduction.reproduced:
            outcome.declined = f"could not reproduce the crash: {outcome.reproduction.failure or baseline.failure}"
            return outcome
        candidates = _located_candidates(ctx)
    outcome.candidates_considered = len(candidates)
    if not candidates:
        why = explain_decline(ctx)
        outcome.declined = (f"no safe repair for this {diagnosis.root_cause.value}: {why}" if why else
                            f"no repair template recognises this {diagnosis.root_cause.value} at the fault line")
        if outcome.reproduction is not None and outcome.reproduction.test is not None:
            outcome.declined += (f" (the crash is reproduced: {outcome.reproduction.test.path} fails on the deployed "
                                 "commit with it, and is kept in the report)")
        return outcome
    for number in range(1, max_attempts + 1):
        if not candidates:
            break
        if not is_config and clock.spent():
            outcome.budget_spent = True
            outcome.policy_decisions.append(
                f"repair budget of {budget:g} s spent after {len(outcome.attempts)} attempt(s): no further attempt")
            if not outcome.attempts:
                outcome.declined = f"the repair budget of {budget:g} s was spent before any candidate was validated"
            break
        cand = candidates.pop(0)
        ctx.tried.add(cand.strategy)
        proposal = _proposal(cand, diagnosis, number, baseline)
        report: ValidationReport | None
        refused = before_sandbox(proposal, repo, policy)
        if refused is not None:
            outcome.policy_decisions.append(
                f"attempt {number} ({cand.strategy}) refused before the sandbox: "
                + "; ".join(f.message for f in refused.findings))
            attempt = Attempt(number=number, proposal=proposal, validation=None, critique=refused,
                              rejected_because=refused.feedback)
            outcome.attempts.append(attempt)
            if on_attempt:
                on_attempt(attempt)
            ctx.feedback = refused
            if not is_config:
                candidates = _located_candidates(ctx)
            continue
        if is_config:
            report = None  # an OOM kill cannot be reproduced by a unit test; reflection reviews the manifest
        else:
            assert baseline is not None
            started = time.perf_counter()
            report = validate(proposal.diff, baseline, diagnosis, runner, test_command, cand.expected_result,
                              timeout=clock.timeout())
            outcome.sandbox_seconds += time.perf_counter() - started
            outcome.sandbox_runs += report.sandbox_runs
            if report.time is not None:  # the original side was paid once, with the reproduction
                report.time = report.time.model_copy(update={
                    "reproduction": 0.0, "test_on_original": 0.0, "suite_on_original": 0.0})
                report.time.total = round(report.time.patched_suite + report.time.test_on_patched
                                          + report.time.differential, 3)
            _add_time(outcome, report.time)
        started = time.perf_counter()
        verdict: Critique = critique(proposal, report, diagnosis, policy, number, max_attempts)
        outcome.reflection_seconds += time.perf_counter() - started
        attempt = Attempt(
            number=number, proposal=proposal, validation=report, critique=verdict,
            rejected_because=None if verdict.verdict == "accept" else (
                (report.failure if report else None) or verdict.feedback
                or "; ".join(f.message for f in verdict.findings)
            ),
        )
        outcome.attempts.append(attempt)
        if on_attempt:
            on_attempt(attempt)
        if verdict.verdict == "accept":
            outcome.accepted = attempt
            break
        ctx.feedback = verdict
        if not is_config:
            candidates = _located_candidates(ctx)
    return outcome
