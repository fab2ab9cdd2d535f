"""Repair agent (offline brain) and the budgeted search → reflection loop.

After the reproduction, every candidate the templates offer at the two or three best fault
locations is generated, deduplicated after normalisation (:mod:`crew.repair.search`), checked by
policy, and validated in batches, several candidates per container (:func:`validate_batch`).
Candidates that pass are ranked by evidence and reflection critiques them in that order: the
first it accepts is the fix; a revise verdict feeds back into the templates for a further round
while budget and ``max_attempts`` (the most fixes reflection is asked to judge) remain. Without
``--budget`` the search gets ``SEARCH_BUDGET`` seconds of sandbox time; ``--budget`` bounds the
whole repair (no sandbox run is started that it cannot pay for, and each run's timeout is cut to
what is left). Every candidate is recorded with its verdict and sandbox seconds. ``on_progress``
hears each step as it happens (reproduction, each sandbox run, each verdict) for the terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crew.handoffs import (
    Attempt,
    CandidateRecord,
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
from crew.repair.search import (
    dedup,
    is_noop,
    kinds,
    normal_key,
    normalised_size,
    order_key,
    provably_first,
    rank,
    verdict,
)
from crew.repo import GitRepo
from crew.validate import Baseline, BatchItem, Runner, prepare_baseline, validate_batch

if TYPE_CHECKING:
    from crew.agents.reflection import ReflectionPolicy
    from crew.llm.brain import LLMBrain
    from crew.policy.model import Policy


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
    candidates: list[CandidateRecord] = field(default_factory=list)
    """Every candidate the search generated, with its verdict (the report's table)."""
    containers: int = 0
    """Containers the candidates' validation started (a batch is one)."""
    batch_seconds: float = 0.0
    """Wall seconds of those containers, start to end."""


SANDBOX_TIMEOUT = 300.0  # seconds one sandbox run may take when no budget is tighter
SEARCH_BUDGET = 60.0
"""Sandbox seconds the candidates' validation may take when ``--budget`` is not given (measured: at
least 20 candidates fit in it on a 2-core machine, bench/bench_search.py)."""
BATCH_SIZE = 12  # candidates per container
SEARCH_LIMIT = 40  # candidates generated per fault location and round
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


def _located_candidates(ctx: TemplateContext, limit: int = 6, kind_of: dict[tuple[tuple[str, str], ...], str]
                        | None = None) -> list[Candidate]:
    """Candidates at the raising line and at the next best fault locations, ranked together.

    An upstream candidate scores its own score times its location's, and its strategy names the
    place, so a critique of the fix at one place does not rule out the same fix at another.
    """
    from dataclasses import replace

    from crew.diagnosis.locations import diagnosis_at

    found = generate_candidates(ctx, limit)
    if kind_of is not None:
        for key, kind in kinds(ctx).items():
            kind_of.setdefault(key, kind)
    for loc in ctx.diagnosis.fault_locations[1:MAX_LOCATIONS]:
        moved = diagnosis_at(ctx.diagnosis, loc, ctx.repo.read)
        if moved is None:
            continue
        place = f"@{loc.path}:{loc.line}"
        tried = {s.removesuffix(place) for s in ctx.tried if s.endswith(place)}
        sub = TemplateContext(diagnosis=moved, repo=ctx.repo, evidence=ctx.evidence, feedback=ctx.feedback,
                              tried=tried)
        if kind_of is not None:
            for key, kind in kinds(sub).items():
                kind_of.setdefault(key, kind)
        for cand in generate_candidates(sub, limit):
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
        brain=cand.brain,
    )


def repair(
    diagnosis: Diagnosis, evidence: CrashEvidence | None, repo: GitRepo, runner: Runner, test_command: str,
    max_attempts: int = 3, on_attempt: Callable[[Attempt], None] | None = None, budget: float | None = None,
    operator_policy: Policy | None = None, llm: LLMBrain | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> RepairOutcome:
    """Run the bounded loop; returns the attempts and the accepted one, if any.

    ``budget`` bounds the whole repair in seconds (the operator's ``--budget``); ``operator_policy``
    is the service's diff policy, which the repository's own file may only narrow; ``on_progress``
    gets one line per step. ``llm``, when given, adds the llm brain's candidates to the same pool
    (and revisions after a failed validation).
    """
    from crew.agents.reflection import critique, decline

    say = on_progress or _quiet
    outcome = RepairOutcome()
    clock = _Budget(budget)
    reason = decline(diagnosis)
    if reason:
        outcome.declined = reason
        return outcome
    from crew.policy import load_repo_settings
    from crew.policy.gate import before_sandbox

    settings = load_repo_settings(repo.path, base=operator_policy)
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
        say("reproducing the crash in the sandbox")
        started = time.perf_counter()
        baseline = prepare_baseline(diagnosis, evidence, repo, runner, diagnosis.incident_id, test_command,
                                    timeout=clock.timeout())
        outcome.sandbox_seconds += time.perf_counter() - started
        outcome.sandbox_runs += baseline.runs
        outcome.reproduction = baseline.record(diagnosis)
        _add_time(outcome, TimeSpent(reproduction=baseline.reproduction_seconds,
                                     test_on_original=baseline.test_seconds,
                                     suite_on_original=baseline.suite_seconds))
        say(_reproduction_words(outcome.reproduction, time.perf_counter() - started))
        if not outcome.reproduction.reproduced:
            outcome.declined = f"could not reproduce the crash: {outcome.reproduction.failure or baseline.failure}"
            return outcome
        kind_of: dict[tuple[tuple[str, str], ...], str] = {}
        candidates = dedup(_located_candidates(ctx, SEARCH_LIMIT, kind_of))
        if llm is not None:
            llm.runner = runner
            candidates = dedup([*llm.propose(ctx, baseline), *candidates])
    outcome.candidates_considered = len(candidates)
    if not candidates:
        why = explain_decline(ctx)
        outcome.declined = (f"no safe repair for this {diagnosis.root_cause.value}: {why}" if why else
                            f"no repair template recognises this {diagnosis.root_cause.value} at the fault line")
        if outcome.reproduction is not None and outcome.reproduction.test is not None:
            outcome.declined += (f" (the crash is reproduced: {outcome.reproduction.test.path} fails on the deployed "
                                 "commit with it, and is kept in the report)")
        return outcome
    if not is_config:
        assert baseline is not None
        search = clock if budget is not None else _Budget(SEARCH_BUDGET)
        say(f"{len(candidates)} candidate fix(es) to validate, smallest first")
        _search(outcome, candidates, kind_of, ctx, baseline, diagnosis, repo, runner, test_command, policy,
                max_attempts, on_attempt, search, budget, llm, say)
        outcome.candidates_considered = max(outcome.candidates_considered, len(outcome.candidates))
        return outcome
    for number in range(1, max_attempts + 1):  # the configuration repair: no sandbox, reflection reviews it
        if not candidates:
            break
        cand = candidates.pop(0)
        ctx.tried.add(cand.strategy)
        proposal = _proposal(cand, diagnosis, number, baseline)
        refused = before_sandbox(proposal, repo, policy)
        if refused is not None:
            outcome.policy_decisions.append(
                f"attempt {number} ({cand.strategy}) refused before the sandbox: "
                + "; ".join(f.message for f in refused.findings))
            _record_attempt(outcome, Attempt(number=number, proposal=proposal, validation=None, critique=refused,
                                             rejected_because=refused.feedback), on_attempt)
            ctx.feedback = refused
            continue
        started = time.perf_counter()
        judged: Critique = critique(proposal, None, diagnosis, policy, number, max_attempts, repo=repo)
        outcome.reflection_seconds += time.perf_counter() - started
        attempt = _judged_attempt(number, proposal, None, judged)
        _record_attempt(outcome, attempt, on_attempt)
        if judged.verdict == "accept":
            outcome.accepted = attempt
            break
        ctx.feedback = judged
    return outcome


def _quiet(message: str) -> None:
    return None


def _reproduction_words(rec: ReproductionRecord, seconds: float) -> str:
    if not rec.reproduced:
        return f"crash not reproduced ({seconds:.1f} s)"
    where = f" calling {rec.call}" if rec.call else ""
    return f"crash reproduced{where} ({seconds:.1f} s)"


def _position(outcome: RepairOutcome, record: CandidateRecord) -> int:
    """1-based place of ``record`` among the candidates generated so far (by identity)."""
    return next(i for i, r in enumerate(outcome.candidates, 1) if r is record)


def _record_attempt(outcome: RepairOutcome, attempt: Attempt, on_attempt: Callable[[Attempt], None] | None) -> None:
    outcome.attempts.append(attempt)
    if on_attempt:
        on_attempt(attempt)


def _judged_attempt(number: int, proposal: RepairProposal, report: ValidationReport | None,
                    judged: Critique) -> Attempt:
    return Attempt(
        number=number, proposal=proposal, validation=report, critique=judged,
        rejected_because=None if judged.verdict == "accept" else (
            (report.failure if report else None) or judged.feedback
            or "; ".join(f.message for f in judged.findings)
        ),
    )


def _location(cand: Candidate, diagnosis: Diagnosis) -> str | None:
    """Where a candidate edits: the place its strategy names, else the raising line."""
    _, at, place = cand.strategy.rpartition("@")
    if at and ":" in place:
        return place
    first = diagnosis.fault_locations[0] if diagnosis.fault_locations else None
    return f"{first.path}:{first.line}" if first is not None else None


def _search(
    outcome: RepairOutcome, pool: list[Candidate], kind_of: dict[tuple[tuple[str, str], ...], str],
    ctx: TemplateContext, baseline: Baseline, diagnosis: Diagnosis, repo: GitRepo, runner: Runner,
    test_command: str, policy: ReflectionPolicy, max_attempts: int, on_attempt: Callable[[Attempt], None] | None,
    clock: _Budget, budget: float | None, llm: LLMBrain | None = None, say: Callable[[str], None] = _quiet,
) -> None:
    """Validate every distinct candidate in batches under ``clock``, rank the passing ones by
    evidence, and let reflection judge them best first; a revise verdict adds a round of candidates."""
    from crew.agents.reflection import GENERATOR_RULES, critique, rank_penalty
    from crew.policy.gate import before_sandbox

    records: dict[tuple[tuple[str, str], ...], CandidateRecord] = {}
    reviews: dict[tuple[tuple[str, str], ...], tuple[int, int]] = {}

    def review(cand: Candidate, report: ValidationReport) -> tuple[int, int]:
        """Reflection's view of a passing candidate before it is judged, as a rank: accepted first, then
        fewer warnings from the rules that know the generators (a revert that undoes an intended
        change, a guard against the contract, a coercion that hides bad data). Cached: it is static."""
        key = normal_key(cand)
        if key not in reviews:
            started = time.perf_counter()
            seen = critique(_proposal(cand, diagnosis, 1, baseline), report, diagnosis, policy, 1, max_attempts + 1,
                            repo=repo)
            outcome.reflection_seconds += time.perf_counter() - started
            reviews[key] = (0 if seen.verdict == "accept" else 1, rank_penalty(seen))
            records[key].warnings = [f.message[:200] for f in seen.findings
                                     if f.rule in GENERATOR_RULES and f.severity == "warning"]
        return reviews[key]

    fixed: list[tuple[Candidate, ValidationReport]] = []
    pending: list[Candidate] = []
    number = judged_count = 0

    def admit(cands: list[Candidate]) -> None:
        """Record each new candidate; refuse by policy or queue it for the sandbox."""
        nonlocal number
        for cand in cands:
            key = normal_key(cand)
            if key in records:
                continue
            record = CandidateRecord(strategy=cand.strategy, kind="llm" if cand.brain == "llm" else kind_of.get(
                                         key, "other"), location=_location(cand, diagnosis),
                                     size=normalised_size(cand), prior=round(cand.score, 3), verdict="not validated",
                                     brain=cand.brain)
            records[key] = record
            outcome.candidates.append(record)
            if is_noop(cand):
                record.verdict = "not validated: no change after normalisation (comments or layout only)"
                continue
            proposal = _proposal(cand, diagnosis, 0, baseline)
            refused = before_sandbox(proposal, repo, policy)
            if refused is not None:
                number += 1
                reasons = "; ".join(f.message for f in refused.findings)
                record.verdict = f"refused by policy: {reasons}"[:300]
                outcome.policy_decisions.append(
                    f"candidate {cand.strategy} refused before the sandbox: {reasons}")
                numbered = proposal.model_copy(update={"attempt": number})
                _record_attempt(outcome, Attempt(number=number, proposal=numbered, validation=None,
                                                 critique=refused, rejected_because=refused.feedback), on_attempt)
                ctx.feedback = refused
                continue
            pending.append(cand)

    queue = list(pool)
    while True:
        admit(queue)
        queue = []
        pending.sort(key=order_key)
        while pending:
            ranked = rank(fixed)
            if ranked and provably_first(ranked[0], pending) and review(*ranked[0]) == (0, 0):
                break  # reflection accepts it without a warning, and nothing left to validate can outrank it
            if clock.spent():
                outcome.budget_spent = True
                spent_on = f"{budget:g}" if budget is not None else f"{clock.seconds:g}"
                note = f"repair budget of {spent_on} s spent: {len(pending)} candidate(s) not validated"
                outcome.policy_decisions.append(note)
                for cand in pending:
                    records[normal_key(cand)].verdict = "not validated: the budget was spent"
                pending = []
                break
            chunk, pending = pending[:BATCH_SIZE], pending[BATCH_SIZE:]
            say(f"sandbox run {outcome.containers + 1}: validating up to {len(chunk)} candidate(s), "
                f"{len(pending)} more waiting")
            items = [BatchItem(files={**dict(cand.extra_files), **{e.path: e.updated for e in cand.edits}},
                               expected_result=cand.expected_result) for cand in chunk]
            started = time.perf_counter()
            result = validate_batch(items, baseline, diagnosis, runner, test_command, timeout=clock.timeout(),
                                    stop_after_pass=True)
            outcome.sandbox_seconds += time.perf_counter() - started
            outcome.sandbox_runs += result.containers
            outcome.containers += result.containers
            outcome.batch_seconds = round(outcome.batch_seconds + result.seconds, 3)
            not_started = []
            for cand, report in zip(chunk, result.reports, strict=True):
                if report is None:
                    not_started.append(cand)
                    continue
                record = records[normal_key(cand)]
                record.verdict = verdict(report)[:300]
                say(f"candidate {_position(outcome, record)} of {len(outcome.candidates)} "
                    f"({cand.strategy}): {record.verdict}")
                if report.time is not None:  # the original side was paid once, with the reproduction
                    report.time = report.time.model_copy(update={
                        "reproduction": 0.0, "test_on_original": 0.0, "suite_on_original": 0.0})
                    report.time.total = round(report.time.patched_suite + report.time.test_on_patched
                                              + report.time.differential, 3)
                    record.seconds = report.time.total
                _add_time(outcome, report.time)
                if report.reproduces and report.fixed:
                    fixed.append((cand, report))
                elif llm is not None and cand.brain == "llm" and report.reproduces:  # revise with the sandbox's word
                    admit(llm.revise(ctx, baseline, cand, verdict(report)))
                    pending.sort(key=order_key)
            pending = not_started + pending
        ranked = sorted(rank(fixed), key=lambda pair: review(*pair))  # stable: evidence breaks ties
        for place, (cand, _) in enumerate(ranked, 1):
            records[normal_key(cand)].rank = place
        if not ranked or judged_count >= max_attempts:
            if not outcome.attempts and outcome.budget_spent:
                outcome.declined = (f"the repair budget of {budget if budget is not None else clock.seconds:g} s "
                                    "was spent before any candidate passed validation")
            for cand in pending:
                records[normal_key(cand)].verdict = "not validated: a better-ranked candidate was judged first"
            return
        cand, report = ranked[0]
        fixed.remove((cand, report))
        judged_count += 1
        number += 1
        ctx.tried.add(cand.strategy)
        proposal = _proposal(cand, diagnosis, number, baseline)
        started = time.perf_counter()
        judged: Critique = critique(proposal, report, diagnosis, policy, judged_count, max_attempts, repo=repo)
        if llm is not None:
            judged = llm.review(proposal, report, judged)
        outcome.reflection_seconds += time.perf_counter() - started
        attempt = _judged_attempt(number, proposal, report, judged)
        _record_attempt(outcome, attempt, on_attempt)
        say(f"reflection on {cand.strategy}: {judged.verdict}")
        record = records[normal_key(cand)]
        if judged.verdict == "accept":
            record.verdict = "accepted"
            outcome.accepted = attempt
            for cand in pending:
                records[normal_key(cand)].verdict = "not validated: a better-ranked candidate was accepted"
            return
        why = attempt.rejected_because or judged.verdict
        record.verdict = f"rejected by reflection: {why}"[:300]
        ctx.feedback = judged
        queue = dedup(_located_candidates(ctx, SEARCH_LIMIT, kind_of))
        if llm is not None and cand.brain == "llm":
            queue = dedup([*llm.revise(ctx, baseline, cand, why), *queue])
