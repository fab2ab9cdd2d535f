"""``serve --executor argo``: the worker's Pipeline, with each incident run as one Argo Workflow.

The worker keeps its order and its guardrails (fold by signature, RepairPolicy, approvals,
delivery intent) and calls the same three methods as with the local executor; here they
submit the Workflow, wait for its nodes and read their output artifacts:

- ``monitor`` submits (a resubmission of a Workflow that is still going adopts it: the 409 of
  the stable name means it already runs) and waits for the monitor node's signature;
- ``finish`` waits until the Workflow is suspended at ``decide`` (or ended) and reads the
  reflect node's ``FlowState``, the same record the local executor hands back;
- ``deliver`` resumes ``decide`` with the delivery settings as its output parameter (and the
  canary ``plan_canary`` set, or ``off``) and waits for the deliver node; ``canary`` waits for
  the canary step; ``discard`` stops a Workflow the policy will not deliver.

Every poll writes the Workflow's phase and node statuses to the incident's row, so
``GET /incidents/{id}`` shows where the run is in the cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crew.errors import HealcrewError
from crew.handoffs import Incident
from crew.workflows.settings import ArgoSettings

FINISHED = ("Succeeded", "Failed", "Error")
Progress = Callable[[str, dict[str, Any]], None]


class WorkflowError(HealcrewError):
    """The Argo Server refused a request, or the Workflow failed before the record was made."""

    exit_code = 1


@dataclass
class WorkflowRun:
    """One incident's Workflow, as the worker's handle between the Pipeline calls."""

    name: str
    incident_id: str
    state_json: str = ""
    status: dict[str, Any] = field(default_factory=dict)
    canary: dict[str, Any] | None = None
    """The canary the service planned for after delivery (``plan_canary``); None: the step is skipped."""


def progress_of(workflow: dict[str, Any]) -> dict[str, Any]:
    """The Workflow's phase and one entry per DAG step (its attempts counted), for the incident store."""
    status = workflow.get("status") or {}
    nodes = []
    for node in (status.get("nodes") or {}).values():
        shown = node.get("displayName", "")
        if node.get("type") not in ("Pod", "Retry", "Suspend") or shown.endswith(")"):
            continue  # the DAG itself, and the attempts under a step's Retry node
        nodes.append({"name": shown, "phase": node.get("phase", ""), "message": (node.get("message") or "")[:300],
                      "attempts": len(node.get("children") or []) if node.get("type") == "Retry" else 1})
    nodes.sort(key=lambda n: n["name"])
    return {"name": workflow["metadata"]["name"], "phase": status.get("phase") or "Pending",
            "message": (status.get("message") or "")[:300], "nodes": nodes}


class ArgoPipeline:
    """The worker's Pipeline on an Argo Server, through Hera's ``WorkflowsService``."""

    def __init__(self, settings: ArgoSettings, out_dir: Path, metrics: Any, progress: Progress | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        from hera.workflows import WorkflowsService

        if not settings.server:
            raise HealcrewError("--executor argo needs the Argo Server URL (--argo-server or ARGO_SERVER)")
        self.settings, self.out_dir, self.metrics = settings, out_dir, metrics
        self.progress = progress or (lambda _id, _p: None)
        self.sleep, self.clock = sleep, clock
        self.service = WorkflowsService(host=settings.server, token=settings.token(), verify_ssl=settings.verify_tls,
                                        namespace=settings.namespace)
        self.brain: tuple[str, dict[str, Any] | None] = ("offline", None)
        """Kept for the serve command's interface; the steps use the image's (offline) brain."""

    def close(self) -> None:
        """Close the HTTP session (a Workflow goes on without us: it is the cluster's to finish)."""
        self.service.close()

    # ---------------------------------------------------------------- talking to the Argo Server

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from hera.exceptions import HeraException
        from requests import RequestException

        try:
            return fn(*args, **kwargs)
        except HeraException as exc:
            line = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise WorkflowError(f"Argo Server: {what} failed: {type(exc).__name__}: {line}") from None
        except RequestException as exc:
            raise WorkflowError(f"Argo Server at {self.settings.server} did not answer ({what}): "
                                f"{type(exc).__name__}") from None

    def _get(self, run: WorkflowRun) -> dict[str, Any]:
        found = self._call("get", self.service.get_workflow, run.name, namespace=self.settings.namespace)
        workflow: dict[str, Any] = found.model_dump(by_alias=True, exclude_none=True, mode="json")
        run.status = workflow.get("status") or {}
        self.progress(run.incident_id, progress_of(workflow))
        return workflow

    def _node(self, run: WorkflowRun, name: str) -> dict[str, Any] | None:
        """The step ``name``: its succeeded attempt when it was retried, else the step's own node."""
        return find_node(run.status, name)

    def _artifact(self, run: WorkflowRun, node: dict[str, Any], artifact: str) -> str:
        """An output artifact's text (Hera's ``get_output_artifact`` returns ``str(bytes)``, so it is read here)."""
        url = (f"{self.settings.server.rstrip('/')}/artifacts/{self.settings.namespace}/{run.name}/"
               f"{node['id']}/{artifact}")
        from requests import RequestException

        try:
            resp = self.service.session.get(url, headers={"Authorization": self.service.token or ""},
                                            verify=self.service.verify_ssl, timeout=60)
        except RequestException as exc:
            raise WorkflowError(f"Argo Server did not answer (artifact {artifact}): {type(exc).__name__}") from None
        if not resp.ok:
            raise WorkflowError(f"Argo Server: artifact {artifact} of {node.get('displayName')}: "
                                f"HTTP {resp.status_code}")
        return str(resp.text)

    def _wait(self, run: WorkflowRun, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = self.clock() + self.settings.active_deadline_seconds + 60
        while True:
            workflow = self._get(run)
            if done(workflow):
                return workflow
            if (workflow.get("status") or {}).get("phase") in FINISHED:
                return workflow
            if self.clock() > deadline:
                raise WorkflowError(f"workflow {run.name} did not reach {what} within its deadline")
            self.sleep(self.settings.poll_seconds)

    @staticmethod
    def _node_done(name: str) -> Callable[[dict[str, Any]], bool]:
        def done(workflow: dict[str, Any]) -> bool:
            node = find_node(workflow.get("status") or {}, name)
            if node is None:
                return False
            return node.get("phase") in FINISHED or (node.get("type") == "Suspend" and node.get("phase") == "Running")
        return done

    def _state_of(self, run: WorkflowRun, name: str) -> str:
        node = self._node(run, name)
        if node is None or node.get("phase") != "Succeeded":
            failed = node if node is not None and node.get("phase") in FINISHED else next(
                (n for n in (run.status.get("nodes") or {}).values()
                 if n.get("phase") in ("Failed", "Error") and n.get("type") in ("Pod", "Suspend")), node)
            step = (failed or {}).get("displayName", name)
            why = (failed or {}).get("message") or run.status.get("message") or "no message"
            raise WorkflowError(f"workflow {run.name} {run.status.get('phase', '?')}: step {step} did not succeed "
                                f"({why})")
        return self._artifact(run, node, "state")

    # ---------------------------------------------------------------- the Pipeline

    def submit(self, incident: Incident) -> WorkflowRun:
        """Create the incident's Workflow; a 409 for one that still runs adopts it instead of failing."""
        from hera.exceptions import AlreadyExists
        from hera.workflows.models import WorkflowCreateRequest

        from crew.workflows.build import build_workflow

        workflow = build_workflow(incident, self.settings)
        run = WorkflowRun(name=workflow.name, incident_id=incident.correlation_id or incident.id)
        try:
            self.service.create_workflow(WorkflowCreateRequest(workflow=workflow.build()),
                                         namespace=self.settings.namespace)
        except AlreadyExists:
            existing = self._get(run)
            if (existing.get("status") or {}).get("phase") in FINISHED:
                raise WorkflowError(f"workflow {run.name} already ran ({existing['status']['phase']}); "
                                    "it is not run twice (delete it, or let its TTL remove it)") from None
        except Exception as exc:
            self._call("create", _reraise, exc)
        return run

    def monitor(self, incident: Incident) -> tuple[Any, str | None]:
        run = self.submit(incident)
        self._wait(run, self._node_done("monitor"), "monitoring")
        node = self._node(run, "monitor")
        if node is None or node.get("phase") != "Succeeded":
            self._state_of(run, "monitor")  # raises with the reason
        params = {p["name"]: p.get("value", "") for p in ((node or {}).get("outputs") or {}).get("parameters", [])}
        return run, params.get("signature") or None

    def finish(self, handle: Any) -> Any:
        from crew.flow import FlowState
        from crew.service.worker import finished

        run: WorkflowRun = handle
        self._wait(run, self._node_done("decide"), "the decision")
        run.state_json = self._state_of(run, "reflect")
        return finished(FlowState.model_validate_json(run.state_json), self.out_dir, self.metrics)

    def deliver(self, handle: Any, forge: str, config: dict[str, Any]) -> tuple[str | None, str, bool]:
        from hera.workflows.models import WorkflowSetRequest

        from crew.flow import FlowState

        run: WorkflowRun = handle
        settings = json.dumps({"forge": forge, **config})
        self._call("resume", self.service.set_workflow, run.name, WorkflowSetRequest(
            node_field_selector="displayName=decide", phase="Succeeded", message="delivery approved by healcrew",
            output_parameters=json.dumps({"delivery": settings, "canary": json.dumps(run.canary or {}),
                                          "canary_backend": (run.canary or {}).get("backend", "off")})),
            namespace=self.settings.namespace)
        self._wait(run, self._node_done("deliver"), "delivery")
        run.state_json = self._state_of(run, "deliver")
        state = FlowState.model_validate_json(run.state_json)
        if state.delivery is None:
            raise HealcrewError(state.error or "delivery produced no record")
        record = state.delivery
        if record.error:
            raise HealcrewError(f"delivery failed: {record.error}")
        link = record.pull_request.url if record.pull_request is not None else state.out_dir
        return link, f"delivered on branch {record.branch}" + (" (pushed)" if record.pushed else ""), record.pushed

    def plan_canary(self, handle: Any, plan: dict[str, Any] | None) -> None:
        """Before ``deliver``: the canary its resume hands the Workflow (backend, time_scale, argo), or none."""
        run: WorkflowRun = handle
        run.canary = plan

    def canary(self, handle: Any, backend: str, time_scale: float | None, argo: dict[str, Any] | None) -> Any:
        """The Workflow's canary step, planned at delivery: wait for it and read its ``CanaryResult``."""
        from crew.flow import FlowState

        run: WorkflowRun = handle
        if run.canary is None or run.canary.get("backend") != backend:
            raise HealcrewError("the Workflow was resumed without this canary; its canary step was skipped")
        self._wait(run, self._node_done("canary"), "the canary")
        from crew.service.worker import canary_of

        run.state_json = self._state_of(run, "canary")
        return canary_of(FlowState.model_validate_json(run.state_json))

    def discard(self, handle: Any, reason: str) -> None:
        """Stop a Workflow the service will not deliver (folded, no fix, rejected, dry run)."""
        from hera.workflows.models import WorkflowStopRequest

        run: WorkflowRun = handle
        self._call("stop", self.service.stop_workflow, run.name,
                   WorkflowStopRequest(message=reason[:200]), namespace=self.settings.namespace)
        self._get(run)


def store_progress(store: Any) -> Progress:
    """A progress callback that writes the Workflow's status to the incident's row."""
    from crew.service.store import IncidentRow

    def write(incident_id: str, progress: dict[str, Any]) -> None:
        with store.session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is not None and row.workflow != progress:
                row.workflow = progress
                s.commit()
    return write


def find_node(status: dict[str, Any], name: str) -> dict[str, Any] | None:
    """Step ``name`` in a Workflow status: the attempt that succeeded (``name(N)``) or the step's node."""
    top, attempt = None, None
    for node_id, node in (status.get("nodes") or {}).items():
        shown = node.get("displayName", "")
        if shown == name:
            top = {**node, "id": node.get("id", node_id)}
        elif shown.startswith(f"{name}(") and node.get("phase") == "Succeeded":
            attempt = {**node, "id": node.get("id", node_id)}
    if top is not None and top.get("phase") == "Succeeded" and attempt is not None:
        return attempt
    return top


def _reraise(exc: Exception) -> None:
    raise exc
