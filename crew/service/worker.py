"""The queue's workers: claim an incident, run the same stages as ``healcrew run``, decide, deliver.

Workers are threads in the service process: a run spends its time waiting on git, Docker and
subprocesses, not on the GIL, and threads share the one database engine and metrics registry.
The order inside a run is fixed: monitoring (fetch the log, compute the crash signature, fold
into an identical incident), diagnosis, repair with delivery off, the RepairPolicy decision,
then delivery only when the decision says so, with the intent recorded before anything is pushed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import func, select

from crew.errors import HealcrewError
from crew.handoffs import AlertInfo, CanaryResult, Incident, KubernetesSource, LogSource, LokiSource
from crew.policy.model import Policy
from crew.service.config import ServiceConfig, ServiceEntry
from crew.service.metrics import Metrics
from crew.service.store import ACTIVE, IncidentRow, Store, aware, now

T = TypeVar("T")


class Auditor(Protocol):
    """The part of ``crew.audit.AuditLog`` the service uses."""

    def append(self, action: str, *, correlation_id: str, actor: str,
               detail: dict[str, object] | None = None) -> object: ...


@dataclass
class Outcome:
    """What a finished run hands back to the worker."""

    outcome: str
    summary: str
    report: Any
    report_path: str | None = None


class Decider(Protocol):
    """``crew.policy.repair_policy.decide``'s signature."""

    def __call__(self, policy: Any, report: Any, *, attempts_last_hour: int) -> Any: ...


def policy_decide(policy: Any, report: Any, *, attempts_last_hour: int) -> Any:
    """The RepairPolicy decision (S2's ``decide``) on the run's report."""
    from crew.policy.repair_policy import decide

    return decide(policy, report, attempts_last_hour=attempts_last_hour)


class Pipeline(Protocol):
    """The stages, split where the worker must look in between."""

    def monitor(self, incident: Incident) -> tuple[Any, str | None]:
        """Run monitoring; (handle, crash signature or None)."""

    def finish(self, handle: Any) -> Outcome:
        """Diagnosis and repair with delivery off; the run's outcome and report."""

    def deliver(self, handle: Any, forge: str, config: dict[str, Any]) -> tuple[str | None, str, bool]:
        """Deliver the accepted fix; (PR URL or bundle path, summary, whether a branch was pushed)."""


@dataclass
class FlowRun:
    """One run's ``FlowState`` as JSON, as the stage process hands it back after each phase."""

    state_json: str


class FlowPipeline:
    """The real stages of ``crew.flow`` (the same code ``healcrew run`` runs), in child processes."""

    def __init__(self, out_dir: Path, metrics: Metrics, processes: int = 1) -> None:
        self.out_dir = out_dir
        self.metrics = metrics
        self.processes = processes
        self.lock = threading.Lock()
        self.children: ProcessPoolExecutor | None = None
        self.brain: tuple[str, dict[str, Any] | None] = ("offline", None)
        """The brain runs use (``--brain``) and the llm brain's settings."""

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        from crew.service import stage_process

        with self.lock:
            if self.children is None:
                self.children = stage_process.pool(self.processes)
            children = self.children
        try:
            return children.submit(fn, *args).result()
        except BrokenProcessPool:
            with self.lock:
                if self.children is children:
                    self.children = None  # the next run starts a fresh child
            raise HealcrewError("the run's process died (killed or out of memory)") from None

    def close(self) -> None:
        """Stop the child processes; a run still going in one is abandoned and resumed on the next start."""
        from crew.service import stage_process

        with self.lock:
            children, self.children = self.children, None
        if children is not None:
            stage_process.stop(children)

    def monitor(self, incident: Incident) -> tuple[Any, str | None]:
        from crew.service import stage_process

        state_json, signature = self._call(stage_process.monitor, incident.model_dump_json(),
                                           str(self.out_dir / incident.id))
        if self.brain[0] != "offline":
            from crew.flow import FlowState

            state = FlowState.model_validate_json(state_json)
            state.brain, state.llm_settings = self.brain
            state_json = state.model_dump_json()
        return FlowRun(state_json), signature

    def finish(self, handle: Any) -> Outcome:
        from crew.flow import FlowState
        from crew.service import stage_process

        handle.state_json = self._call(stage_process.diagnose_and_repair, handle.state_json)
        return finished(FlowState.model_validate_json(handle.state_json), self.out_dir, self.metrics)

    def deliver(self, handle: Any, forge: str, config: dict[str, Any]) -> tuple[str | None, str, bool]:
        from crew.flow import FlowState
        from crew.service import stage_process

        handle.state_json = self._call(stage_process.deliver, handle.state_json, forge, config)
        state = FlowState.model_validate_json(handle.state_json)
        if state.delivery is None:
            raise HealcrewError(state.error or "delivery produced no record")
        record = state.delivery
        if record.error:
            raise HealcrewError(f"delivery failed: {record.error}")
        link = record.pull_request.url if record.pull_request is not None else state.out_dir
        return link, f"delivered on branch {record.branch}" + (" (pushed)" if record.pushed else ""), record.pushed

    def canary(self, handle: Any, backend: str, time_scale: float | None,
               argo: dict[str, Any] | None) -> CanaryResult:
        from crew.flow import FlowState
        from crew.service import stage_process

        handle.state_json = self._call(stage_process.canary, handle.state_json, backend, time_scale, argo)
        state = FlowState.model_validate_json(handle.state_json)
        result = canary_of(state)
        write_report(state, self.out_dir)  # report.json now holds the canary too
        return result


def write_report(state: Any, out_dir: Path) -> tuple[Any, Path]:
    """The run's ``RunReport`` and where its public (secrets masked) report.json was written."""
    from crew.flow import to_report
    from crew.report import public

    assert state.incident is not None
    report = to_report(state)
    folder = out_dir / state.incident.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.json"
    path.write_text(public(report).model_dump_json(indent=2), encoding="utf-8")
    return report, path


def finished(state: Any, out_dir: Path, metrics: Metrics) -> Outcome:
    """What a repaired ``FlowState`` hands the worker, with its stage metrics counted (either executor)."""
    for timing in state.timings:
        metrics.stage_seconds.labels(stage=timing.stage).observe(timing.seconds)
    metrics.sandbox_runs.inc(state.sandbox_runs)
    report, path = write_report(state, out_dir)
    summary = state.error or (f"fix accepted: {state.accepted.proposal.strategy}" if state.accepted else
                              state.declined or "no fix")
    return Outcome(outcome=report.outcome, summary=summary, report=report, report_path=str(path))


def canary_of(state: Any) -> CanaryResult:
    """The canary stage's result, or the reason it has none as a ``HealcrewError``."""
    if state.canary is None:
        raise HealcrewError(state.error or "; ".join(state.policy_decisions[-1:]) or "the canary did not run")
    result: CanaryResult = state.canary
    return result


def repo_path(path: str) -> str:
    """A git checkout for ``path``: itself, or for a healcrew example tree its materialized history."""
    from crew.history import has_history, materialize

    folder = Path(path)
    if not (folder / ".git").exists() and folder.is_dir() and has_history(folder):
        from crew.cli import cache_dir

        return str(materialize(folder, cache_dir() / "repos"))
    return path


def incident_for(row: IncidentRow, entry: ServiceEntry, alerts: list[AlertInfo], operator_policy: Policy) -> Incident:
    """The ``Incident`` the stages run on, from the config entry, the folded alerts and the service's policy."""
    labels = row.labels or {}
    commit = labels.get(entry.repo.commit_label, entry.repo.branch) if entry.repo.commit_label else entry.repo.branch
    if entry.logs.file:
        logs = LogSource(file=entry.logs.file)
    elif entry.logs.loki_url:
        logs = LogSource(loki=LokiSource(url=entry.logs.loki_url, query=entry.logs.loki_selector or ""))
    else:
        logs = LogSource(kubernetes=KubernetesSource(
            namespace=labels.get("namespace", ""), pod=labels.get("pod", ""),
            container=labels.get("container") or None, previous=True))
    return Incident(
        id=f"{entry.name}-{row.id}"[:60], service=entry.name, namespace=labels.get("namespace", ""),
        pod=labels.get("pod", ""), container=labels.get("container", ""), repo=repo_path(entry.repo.path or ""),
        commit=commit, alerts=alerts, logs=logs, test_command=entry.test_command, correlation_id=row.id,
        operator_policy=operator_policy,
    )


class Workers:
    """N threads that claim queued incidents until stopped."""

    def __init__(self, store: Store, config: ServiceConfig, pipeline: Pipeline, metrics: Metrics,
                 audit: Auditor | None = None, count: int = 1, poll_seconds: float = 0.2,
                 decider: Decider = policy_decide) -> None:
        self.decide = decider
        self.store, self.config, self.pipeline, self.metrics, self.audit = store, config, pipeline, metrics, audit
        self.count, self.poll = count, poll_seconds
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the threads."""
        for i in range(self.count):
            t = threading.Thread(target=self._loop, name=f"healcrew-worker-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the threads to stop after their current run."""
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout)

    def alive(self) -> bool:
        """Whether every worker thread is running."""
        return bool(self.threads) and all(t.is_alive() for t in self.threads)

    def _record(self, action: str, incident_id: str, detail: dict[str, object] | None = None,
                actor: str = "healcrew") -> None:
        if self.audit is not None:
            self.audit.append(action, correlation_id=incident_id, actor=actor, detail=detail)

    def _loop(self) -> None:
        name = f"w-{uuid.uuid4().hex[:8]}"
        while not self.stop_event.is_set():
            self.metrics.queue_depth.set(self.store.queue_depth())
            incident_id = self.store.claim(name)
            if incident_id is None:
                self.stop_event.wait(self.poll)
                continue
            try:
                self.process(incident_id)
            except Exception as exc:  # one bad run must not kill the worker
                self._set(incident_id, status="failed", outcome="error", reason=str(exc).splitlines()[0][:500])
                self.metrics.runs.labels(outcome="error").inc()

    def _set(self, incident_id: str, **values: Any) -> None:
        with self.store.session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)
                s.commit()

    def _attempts_last_hour(self, service: str, incident_id: str) -> int:
        cutoff = now() - timedelta(hours=1)
        with self.store.session() as s:
            return int(s.scalar(
                select(func.count()).select_from(IncidentRow).where(
                    IncidentRow.service == service, IncidentRow.id != incident_id,
                    IncidentRow.started_at.is_not(None), IncidentRow.started_at >= cutoff.replace(tzinfo=None))
            ) or 0)

    def process(self, incident_id: str) -> None:
        """Run one claimed incident to its end state."""
        from crew.policy.repair_policy import (
            RepairPolicy,
            below_failure_threshold,
            load_repair_policy,
            restarts_in,
        )

        with self.store.session() as s:
            row = s.get(IncidentRow, incident_id)
            assert row is not None
            entry = self.config.service_for(row.labels or {})
            alerts = [AlertInfo(status="firing", alertname=a.alertname, labels=dict(a.labels),  # type: ignore[arg-type]
                                annotations=dict(a.annotations or {}), fingerprint=a.fingerprint) for a in row.alerts]
            approved_by = row.approved_by
            service = row.service
            row_labels = dict(row.labels or {})
        if entry is None:
            self._set(incident_id, status="rejected", reason="the service is no longer in the config")
            return
        policy = load_repair_policy(Path(entry.policy)) if entry.policy else RepairPolicy(service=entry.name)
        if not approved_by:
            low = next((r for a in alerts if (r := below_failure_threshold(policy, restarts_in(a)))), None)
            if low:  # not final: a repeat with more restarts puts it back in the queue
                self._set(incident_id, status="waiting", stage=None, reason=low)
                self._record("policy_decision", incident_id, {"action": "wait", "reasons": [low]})
                return
        attempts = self._attempts_last_hour(service, incident_id)
        if attempts >= policy.attempts_per_hour and not approved_by:
            reason = (f"{attempts} runs for {service} in the last hour (quota {policy.attempts_per_hour}); "
                      "waiting for a human")
            self._set(incident_id, status="awaiting_approval", stage=None, reason=reason)
            self._record("policy_decision", incident_id, {"action": "await_approval", "reasons": [reason]})
            return
        self._set(incident_id, started_at=now())
        self._record("run_started", incident_id, {"service": service})
        incident = incident_for(row, entry, alerts, policy.gate_policy())
        start = time.perf_counter()
        handle, signature = self.pipeline.monitor(incident)
        if signature and self._fold_by_signature(incident_id, service, signature):
            self._discard(handle, "folded into an identical incident")
            return
        self._set(incident_id, stage="repair", signature=signature)
        result = self.pipeline.finish(handle)
        self._set(incident_id, stage="decision", report_path=result.report_path, summary=result.summary[:2000])
        self._record("run_finished", incident_id, {"outcome": result.outcome,
                                                   "seconds": round(time.perf_counter() - start, 3)})
        self.metrics.runs.labels(outcome=result.outcome).inc()
        if result.outcome != "fixed":
            self._set(incident_id, status="failed", stage=None, outcome=result.outcome, reason=result.summary[:500])
            self._discard(handle, f"no delivery: {result.outcome}")
            return
        decision = self.decide(policy, result.report, attempts_last_hour=attempts)
        self._record("policy_decision", incident_id, {"action": decision.action, "reasons": decision.reasons})
        if decision.action == "await_approval" and not approved_by:
            self._set(incident_id, status="awaiting_approval", stage=None, outcome="fixed",
                      reason="; ".join(decision.reasons)[:500])
            return
        if decision.action == "reject":
            self._set(incident_id, status="rejected", stage=None, outcome="fixed",
                      reason="; ".join(decision.reasons)[:500])
            self._discard(handle, "rejected by the repair policy")
            return
        if decision.action == "dry_run":
            self._set(incident_id, status="dry_run", stage=None, outcome="fixed",
                      reason="; ".join(decision.reasons)[:500])
            self._discard(handle, "dry run: nothing is delivered")
            return
        plan, held = self._canary_plan(entry, row_labels, decision.canary_autostart)
        plan_canary = getattr(self.pipeline, "plan_canary", None)  # an executor that must know it before delivery
        if plan_canary is not None:
            plan_canary(handle, plan)
        if self._deliver(incident_id, entry, handle):
            self._canary(incident_id, entry.canary.backend, handle, plan, held)

    def _discard(self, handle: Any, reason: str) -> None:
        """Tell an executor whose run lives elsewhere (an Argo Workflow) that it will not be delivered."""
        discard = getattr(self.pipeline, "discard", None)
        if discard is not None:
            discard(handle, reason)

    def _deliver(self, incident_id: str, entry: ServiceEntry, handle: Any) -> bool:
        """Deliver once; whether this call delivered."""
        with self.store.session() as s:
            row = s.get(IncidentRow, incident_id)
            assert row is not None
            if row.delivery_intent is not None or row.delivered_at is not None:
                row.status, row.reason = "failed", "delivery was already attempted once; not delivering twice"
                s.commit()
                return False
            row.delivery_intent, row.stage = now(), "delivery"  # before anything is pushed
            s.commit()
        forge = entry.deliver or "local"
        config = dict(entry.delivery)
        config.setdefault("push", forge != "local" or "remote_url" in config)  # local: a review bundle only
        if self.config.public_url:  # the reviewer can open the incident the PR came from
            config["incident_url"] = f"{self.config.public_url.rstrip('/')}/incidents/{incident_id}"
        link, summary, pushed = self.pipeline.deliver(handle, forge, config)
        self._set(incident_id, status="fixed", stage=None, outcome="fixed", pr_url=link, delivered_at=now(),
                  summary=summary)
        if pushed:
            self._record("branch_pushed", incident_id, {"forge": forge})
        self._record("pr_opened", incident_id, {"forge": forge, "link": link or ""})
        return True

    def _canary_plan(self, entry: ServiceEntry, labels: dict[str, Any],
                     allowed: bool) -> tuple[dict[str, Any] | None, str | None]:
        """(the canary to run after delivery, or None; why it is held, or None when there is none to hold)."""
        settings = entry.canary
        if settings.backend == "off":
            return None, None
        if not allowed:
            return None, "the policy does not let a canary start by itself (canary_autostart: false)"
        if getattr(self.pipeline, "canary", None) is None:
            return None, "this executor has no canary step"
        argo = None
        if settings.backend == "argo":
            argo = {"namespace": settings.namespace or labels.get("namespace", ""),
                    "rollout": settings.rollout or entry.name,
                    "container": settings.container or entry.container or labels.get("container", ""),
                    "image": settings.image}
        return {"backend": settings.backend, "time_scale": settings.time_scale, "argo": argo}, None

    def _canary(self, incident_id: str, backend: str, handle: Any, plan: dict[str, Any] | None,
                held: str | None) -> None:
        """The delivered fix's canary, when the service has one and its policy lets it start by itself.

        Its outcome is the incident's ``canary``; the incident stays ``fixed`` either way (the PR
        exists and says how the canary went), and an aborted canary leaves the stable version serving.
        """
        if held is not None:
            self._set(incident_id, canary={"backend": backend, "decision": "not_run", "reason": held})
            self._record("canary_step", incident_id, {"step": "held", "reason": held})
            return
        if plan is None:
            return
        self._set(incident_id, stage="canary")
        self._record("canary_step", incident_id, {"step": "started", "backend": backend})
        start = time.perf_counter()
        try:
            result = self.pipeline.canary(handle, plan["backend"], plan["time_scale"], plan["argo"])  # type: ignore[attr-defined]
            outcome = {"backend": result.backend, "decision": result.decision, "reason": result.reason[:500],
                       "steps": len(result.steps), "final_weight": result.final_weight}
        except HealcrewError as exc:
            outcome = {"backend": backend, "decision": "not_run", "reason": str(exc)[:500]}
        self.metrics.canaries.labels(decision=outcome["decision"]).inc()
        self.metrics.stage_seconds.labels(stage="canary").observe(time.perf_counter() - start)
        self._set(incident_id, stage=None, canary=outcome)
        self._record("canary_step", incident_id, {"step": "finished", **outcome})

    def _fold_by_signature(self, incident_id: str, service: str, signature: str) -> bool:
        cutoff = now() - timedelta(minutes=self.config.fold_window_minutes)
        with self.store.session() as s:
            others = s.scalars(select(IncidentRow).where(
                IncidentRow.service == service, IncidentRow.signature == signature, IncidentRow.id != incident_id,
            ).order_by(IncidentRow.created_at)).all()
            target = next((o for o in others if o.status in ACTIVE or (
                o.status == "fixed" and (aware(o.updated_at) or cutoff) >= cutoff)), None)
            if target is None:
                return False
            row = s.get(IncidentRow, incident_id)
            assert row is not None
            row.status, row.stage, row.signature, row.folded_into = "folded", None, signature, target.id
            row.reason = f"same crash signature as incident {target.id}"
            s.commit()
        self._record("alert_deduplicated", incident_id, {"folded_into": target.id, "by": "signature"})
        self.metrics.alerts_deduplicated.inc()
        return True
