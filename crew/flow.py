"""The pipeline: stages run in order, each timed, each able to stop the run with a reason.

``Stages`` holds the work of each stage and is plain Python; ``build_flow`` wires the same
stages into a CrewAI Flow (state = ``FlowState``) for the full runs. ``healcrew diagnose``
calls the two first stages directly to stay fast (importing crewai costs seconds).

A run told to stop (a signal, its deadline; ``sandbox.signals``) stops in the stage it is in:
that stage is recorded as failed with the reason, the rest are skipped, and the report says
where it stopped. ``stopped_state()`` gives the same for a report written while a stage is stuck.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from crew import __version__
from crew.errors import HealcrewError
from crew.handoffs import (
    Attempt,
    CanaryResult,
    CandidateRecord,
    CrashEvidence,
    DeliveryRecord,
    Diagnosis,
    Incident,
    LLMUsage,
    ReproductionRecord,
    RunReport,
    SandboxPython,
    StageTiming,
)
from crew.logs import configure_logging, correlation_id, get_logger
from crew.progress import Reporter, SilentReporter
from sandbox.signals import Interrupted, StopReason, check_stop, waiting_on_workers

_log = get_logger("flow")

T = TypeVar("T")


class FlowState(BaseModel):
    """What the flow carries between stages."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    id: str = ""
    incident: Incident | None = None
    evidence: CrashEvidence | None = None
    diagnosis: Diagnosis | None = None
    timings: list[StageTiming] = Field(default_factory=list)
    stopped_at: str | None = None
    error: str | None = None
    exit_code: int = 0
    repair_enabled: bool = False
    sandbox: str = "auto"
    max_attempts: int = 3
    attempts: list[Attempt] = Field(default_factory=list)
    accepted: Attempt | None = None
    declined: str | None = None
    reproduction: ReproductionRecord | None = None
    sandbox_runs: int = 0
    sandbox_python: SandboxPython | None = None
    candidates_considered: int = 0
    candidates: list[CandidateRecord] = Field(default_factory=list)
    policy_decisions: list[str] = Field(default_factory=list)
    deliver: str | None = Field(default=None, description="Forge to deliver an accepted fix to; None: no delivery.")
    delivery_config: dict[str, Any] | None = Field(default=None, description="DeliveryConfig fields.")
    out_dir: str | None = Field(default=None, description="Where the review bundle is written.")
    delivery: DeliveryRecord | None = None
    brain: str = Field(default="offline", description="The brain chosen for the run: offline or llm.")
    llm_settings: dict[str, Any] | None = Field(default=None, description="LLMSettings fields, for the llm brain.")
    llm: LLMUsage | None = None
    canary_backend: str = Field(default="off", description="Canary after delivery: local, argo or off.")
    canary_allowed: bool = Field(default=True, description=(
        "The policy lets a canary start by itself (the CLI's --canary is the operator's own say-so; "
        "the service passes RepairPolicy.canary_autostart)."))
    canary_time_scale: float | None = Field(default=None, description="The local canary's time scale.")
    canary_argo: dict[str, Any] | None = Field(default=None, description="ArgoTarget fields, for the argo canary.")
    canary: CanaryResult | None = None


class _Live:
    """The state and stage of the run in progress, for a report written from another thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state: FlowState | None = None
        self.stage: str | None = None


_LIVE = _Live()


def stopped_state(reason: StopReason) -> FlowState | None:
    """A copy of the running flow's state, stopped where it is with ``reason`` (None before any stage)."""
    with _LIVE.lock:
        state, stage = _LIVE.state, _LIVE.stage
    if state is None:
        return None
    copy = state.model_copy(deep=True)
    if copy.stopped_at is None:
        copy.stopped_at, copy.error, copy.exit_code = stage or "start", reason.message, reason.exit_code
        copy.timings.append(StageTiming(stage=copy.stopped_at, seconds=0.0, status="failed", error=reason.message))
    return copy


class Stages:
    """The stages, each recording its timing and stopping the run on a HealcrewError."""

    def __init__(self, state: FlowState, reporter: Reporter | None = None, canary_runner: Any = None) -> None:
        self.state = state
        self.reporter = reporter or SilentReporter()
        self.canary_runner = canary_runner

    def _stage(self, name: str, work: Callable[[], T], summary: Callable[[T], str]) -> T | None:
        if self.state.stopped_at is not None:
            self.state.timings.append(StageTiming(stage=name, seconds=0.0, status="skipped"))
            return None
        with _LIVE.lock:
            _LIVE.state, _LIVE.stage = self.state, name
        self.reporter.started(name)
        _log.info("stage %s started", name, extra={"stage": name})
        start = time.perf_counter()
        try:
            check_stop()
            result = work()
        except Interrupted as exc:  # told to stop: this stage is where the run ends
            seconds = time.perf_counter() - start
            message = exc.reason.message
            self.state.timings.append(StageTiming(stage=name, seconds=seconds, status="failed", error=message))
            self.state.stopped_at, self.state.error, self.state.exit_code = name, message, exc.reason.exit_code
            self.reporter.finished(name, seconds, "failed", message)
            _log.warning("stage %s stopped: %s", name, message,
                         extra={"stage": name, "seconds": seconds, "status": "failed"})
            return None
        except HealcrewError as exc:
            seconds = time.perf_counter() - start
            self.state.timings.append(StageTiming(stage=name, seconds=seconds, status="failed", error=str(exc)))
            self.state.stopped_at, self.state.error, self.state.exit_code = name, str(exc), exc.exit_code
            self.reporter.finished(name, seconds, "failed", str(exc))
            _log.warning("stage %s failed: %s", name, exc,
                         extra={"stage": name, "seconds": seconds, "status": "failed"})
            return None
        seconds = time.perf_counter() - start
        self.state.timings.append(StageTiming(stage=name, seconds=seconds, status="ok"))
        self.reporter.finished(name, seconds, "ok", summary(result))
        self.reporter.result(name, result)
        _log.info("stage %s ok: %s", name, summary(result), extra={"stage": name, "seconds": seconds, "status": "ok"})
        return result

    def monitoring(self) -> None:
        from crew.agents.monitoring import monitor

        assert self.state.incident is not None
        incident = self.state.incident
        brain = _llm_brain(self.state)

        def work() -> CrashEvidence:
            evidence = monitor(incident)
            if brain is None:
                return evidence
            from crew.llm.brain import log_text
            from crew.llm.roles import analyse

            brain.log_text = log_text(evidence)
            return analyse(brain, evidence)

        try:
            self.state.evidence = self._stage("monitoring", work, _evidence_summary)
        finally:
            _keep_llm(self.state, brain)

    def diagnostic(self) -> None:
        from crew.agents.diagnostic import diagnose
        from crew.repo import GitRepo

        incident, evidence = self.state.incident, self.state.evidence
        assert incident is not None
        brain = _llm_brain(self.state)

        def work() -> Diagnosis:
            repo = GitRepo(incident.repo, incident.commit)
            found = diagnose(evidence, repo)  # type: ignore[arg-type]
            if brain is None:
                return found
            from crew.llm.roles import refine

            return refine(brain, found, repo)

        try:
            self.state.diagnosis = self._stage("diagnostic", work, _diagnosis_summary)
        finally:
            _keep_llm(self.state, brain)


    def repair(self) -> None:
        """Repair → Sandbox → Reflection, bounded; the three are timed separately."""
        state = self.state
        if not state.repair_enabled or state.stopped_at is not None or state.diagnosis is None:
            return
        from crew.agents.repair import repair
        from crew.repo import GitRepo
        from crew.sandbox_runner import open_runner

        incident, diagnosis = state.incident, state.diagnosis
        assert incident is not None

        brain = _llm_brain(state)

        def work() -> object:
            repo = GitRepo(incident.repo, incident.commit)
            runner = open_runner(repo, state.sandbox, incident.sandbox_python)
            try:
                done = repair(diagnosis, state.evidence, repo, runner, incident.test_command, state.max_attempts,
                              budget=incident.repair_budget, operator_policy=incident.operator_policy, llm=brain,
                              on_progress=lambda message: self.reporter.progress("repair", message))
                done.policy_decisions.extend(runner.policy_decisions)
                return done
            finally:
                state.sandbox_python = runner.python
                runner.close()

        try:
            outcome = self._stage("repair", work, _repair_summary)
        finally:
            _keep_llm(state, brain)
            if state.llm is not None:
                state.policy_decisions.extend(
                    f"possible prompt injection quoted as data, not followed: {hit}" for hit in state.llm.injections)
        if outcome is None:
            return
        from crew.agents.repair import RepairOutcome

        assert isinstance(outcome, RepairOutcome)
        state.attempts, state.accepted, state.declined = outcome.attempts, outcome.accepted, outcome.declined
        state.reproduction = outcome.reproduction
        state.sandbox_runs, state.candidates_considered = outcome.sandbox_runs, outcome.candidates_considered
        state.candidates = outcome.candidates
        state.policy_decisions.extend(outcome.policy_decisions)
        # Sandbox and Reflection run inside the repair loop; their shares are reported on their own.
        steps = [(f"sandbox: {step.replace('_', ' ')}", s) for step, s in outcome.step_seconds.items()]
        for name, seconds in (("sandbox", outcome.sandbox_seconds), *steps, ("reflection", outcome.reflection_seconds)):
            state.timings.append(StageTiming(stage=name, seconds=round(seconds, 3), status="ok"))


    def delivery(self) -> None:
        """Branch, commit, push and pull request, only for an accepted fix and when enabled."""
        state = self.state
        if state.deliver is None or state.stopped_at is not None or state.accepted is None:
            return
        from crew.delivery.config import DeliveryConfig
        from crew.delivery.deliver import DeliveryFailed, deliver
        from crew.repo import GitRepo

        incident = state.incident
        assert incident is not None
        config = DeliveryConfig.model_validate({**(state.delivery_config or {}), "forge": state.deliver})
        out_dir = Path(state.out_dir or Path("out") / incident.id)

        def work() -> DeliveryRecord:
            try:
                return deliver(to_report(state), GitRepo(incident.repo, incident.commit), config, out_dir)
            except DeliveryFailed as exc:
                state.delivery = exc.record
                raise

        record = self._stage("delivery", work, _delivery_summary)
        if record is not None:
            state.delivery = record

    def canary(self) -> None:
        """After a delivered fix, when asked and allowed: the canary of the fix against the deployed commit."""
        state = self.state
        if state.canary_backend == "off" or state.stopped_at is not None or state.accepted is None:
            return
        if state.delivery is None or state.delivery.error:
            state.policy_decisions.append("canary not started: the fix was not delivered")
            return
        if not state.canary_allowed:
            state.policy_decisions.append("canary not started: the policy does not let a canary start by itself")
            return
        from crew.canary.after_delivery import canary_after_delivery
        from crew.delivery.canary_outcome import share_canary_outcome

        def work() -> CanaryResult:
            return canary_after_delivery(
                to_report(state), state.canary_backend, time_scale=state.canary_time_scale, argo=state.canary_argo,
                runner=self.canary_runner, progress=lambda m: self.reporter.progress("canary", m))

        result = self._stage("canary", work, _canary_summary)
        if result is None:
            return
        state.canary = result
        out_dir = Path(state.out_dir or Path("out") / (state.incident.id if state.incident else "run"))
        state.delivery.notes.extend(share_canary_outcome(to_report(state), state.delivery_config, out_dir))


def _llm_brain(state: FlowState) -> Any:
    """The run's llm brain, or None for the offline brain."""
    if state.brain != "llm" or state.llm_settings is None:
        return None
    from crew.brain.choice import LLMSettings
    from crew.llm.brain import LLMBrain, log_text

    brain = LLMBrain(LLMSettings.model_validate(state.llm_settings), usage=state.llm)
    brain.log_text = log_text(state.evidence)
    return brain


def _keep_llm(state: FlowState, brain: Any) -> None:
    """The llm brain's books go with the state, so the next stage (or process) carries on from them."""
    if brain is not None:
        state.llm = brain.ledger.usage


def _delivery_summary(record: DeliveryRecord) -> str:
    pr = record.pull_request
    if not record.pushed:
        return record.notes[-1] if record.notes else f"nothing pushed: {pr.state if pr else 'no remote'}"
    what = "opened" if pr is not None and pr.created else "updated"
    number = f" #{pr.number}" if pr is not None and pr.number is not None else ""
    return f"{record.branch} pushed; {record.forge} PR{number} {what}"


def _canary_summary(result: CanaryResult) -> str:
    if result.decision == "not_run":
        return f"not run: {result.reason}"
    passed = sum(1 for s in result.steps if s.outcome == "passed")
    score = f", score {result.judge.score:.0f}" if result.judge is not None else ""
    return f"{result.decision} after {passed}/{len(result.steps)} steps{score}: {result.reason}"


def _repair_summary(outcome: object) -> str:
    from crew.agents.repair import RepairOutcome

    assert isinstance(outcome, RepairOutcome)
    if outcome.accepted:
        a = outcome.accepted
        return f"fix accepted on attempt {a.number} ({a.proposal.strategy}), {outcome.sandbox_runs} sandbox runs"
    if outcome.declined:
        return f"declined: {outcome.declined}"
    return f"no fix after {len(outcome.attempts)} attempt(s)"


def _evidence_summary(ev: CrashEvidence) -> str:
    if ev.groups:
        g = ev.groups[0]
        return f"{len(ev.tracebacks)} traceback(s) in {ev.lines_scanned} lines; top: {g.exc_type} ×{g.count}"
    return f"no traceback; {ev.termination.kind if ev.termination else 'nothing'}"


def _diagnosis_summary(d: Diagnosis) -> str:
    where = ""
    if d.fault_frame and d.fault_frame.repo_path:
        where = f" at {d.fault_frame.repo_path}:{d.fault_frame.frame.line}"
    return f"{d.root_cause.value}{where} (confidence {d.confidence:.2f})"


def run_stages(
    incident: Incident, reporter: Reporter | None = None, use_crewai: bool = True, repair: bool = False,
    sandbox: str = "auto", max_attempts: int = 3, deliver: str | None = None,
    delivery_config: dict[str, Any] | None = None, out_dir: Path | None = None, brain: str = "offline",
    llm_settings: dict[str, Any] | None = None, canary: str = "off", canary_allowed: bool = True,
    canary_time_scale: float | None = None, canary_argo: dict[str, Any] | None = None, canary_runner: Any = None,
) -> FlowState:
    """Run every stage for ``incident``; the repair and delivery through the CrewAI Flow unless asked not to.

    Monitoring and diagnosis run first as plain stages: they are quick, a bad input ends the run
    at once, and the diagnosis is shown before crewai (seconds to import) is loaded.
    """
    configure_logging()
    correlation_id.set(incident.correlation_id or incident.id)
    state = FlowState(
        id=incident.correlation_id or incident.id, incident=incident, repair_enabled=repair,
        sandbox=sandbox, max_attempts=max_attempts, deliver=deliver, delivery_config=delivery_config,
        out_dir=str(out_dir) if out_dir is not None else None, brain=brain, llm_settings=llm_settings,
        canary_backend=canary, canary_allowed=canary_allowed, canary_time_scale=canary_time_scale,
        canary_argo=canary_argo,
    )
    with _LIVE.lock:
        _LIVE.state, _LIVE.stage = None, None
    stages = Stages(state, reporter, canary_runner)
    stages.monitoring()
    stages.diagnostic()
    if not use_crewai or not repair or state.stopped_at is not None:
        stages.repair()
        stages.delivery()
        stages.canary()
        return state
    with _LIVE.lock:
        _LIVE.stage = "repair"  # loading crewai is the repair's first step: a stop now stops the repair
    flow = build_flow(reporter, canary_runner)
    with waiting_on_workers():  # CrewAI runs the stages in worker threads; they see a stop and unwind
        flow.kickoff(inputs=state.model_dump(mode="json"))
    result: FlowState = flow.state
    return result


def build_flow(reporter: Reporter | None = None, canary_runner: Any = None) -> Any:
    """The CrewAI Flow over ``Stages`` from the repair on; crewai is imported here, never at start-up."""
    from crew.telemetry import disable_crewai_telemetry

    disable_crewai_telemetry()
    from crewai.flow.flow import Flow, listen, start

    class HealFlow(Flow[FlowState]):  # type: ignore[misc]
        """Repair (with Sandbox and Reflection in a bounded loop) → Delivery, after Monitoring and Diagnostic."""

        _skip_auto_memory = True  # crewai's default flow memory opens a vector store: seconds, never used here

        def _stages(self) -> Stages:
            return Stages(self.state, reporter, canary_runner)

        @start()
        def repair(self) -> None:
            self._stages().repair()

        @listen(repair)
        def delivery(self) -> None:
            self._stages().delivery()

        @listen(delivery)
        def canary(self) -> None:
            self._stages().canary()

    return HealFlow(suppress_flow_events=True)


def to_report(state: FlowState, brain: str | None = None) -> RunReport:
    """The RunReport of a finished (or stopped) run."""
    assert state.incident is not None
    outcome: str
    if state.stopped_at:
        outcome = "failed"
    elif state.accepted is not None:
        outcome = "fixed"
    elif state.repair_enabled:
        outcome = "no_fix"
    else:
        outcome = "diagnosed"
    return RunReport(
        healcrew_version=__version__, run_id=state.incident.correlation_id or state.id,
        incident=state.incident, brain=brain or state.brain, evidence=state.evidence, diagnosis=state.diagnosis,
        timings=state.timings, attempts=state.attempts, accepted=state.accepted, declined=state.declined,
        reproduction=state.reproduction, sandbox_runs=state.sandbox_runs, sandbox_python=state.sandbox_python,
        candidates_considered=state.candidates_considered, candidates=state.candidates,
        policy_decisions=state.policy_decisions, stopped_at=state.stopped_at, delivery=state.delivery,
        outcome=outcome,  # type: ignore[arg-type]
        error=state.error, llm=state.llm, canary=state.canary,
    )
