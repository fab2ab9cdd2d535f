"""The Argo Rollouts driver: set the candidate image, follow the canary, promote or abort.

Spoken to through the official ``kubernetes`` client's CustomObjectsApi, with exactly the
patches ``kubectl argo rollouts`` sends: promote is a merge patch ``{"status":
{"pauseConditions": null}}`` on the status subresource, preceded by ``{"spec": {"paused":
false}}`` when the spec is paused; abort is ``{"status": {"abort": true}}``. An abort alone
leaves the candidate in ``spec.template`` (the next reconcile would try it again), so the driver
also puts the stable template back. The image is set with a JSON patch that first tests the
container's name, so a reordered pod spec is refused rather than patched in the wrong place.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crew.errors import HealcrewError

GROUP, VERSION, ROLLOUTS, ANALYSIS_RUNS = "argoproj.io", "v1alpha1", "rollouts", "analysisruns"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
FAILED_ANALYSIS = ("Failed", "Error", "Inconclusive")


class ArgoError(HealcrewError):
    """The API server refused or could not be reached (one line, with its status)."""


class RolloutStep(BaseModel):
    """What the driver saw at one poll that changed something."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(description="Since the image was set.")
    phase: str
    step_index: int | None
    paused: bool
    analysis: dict[str, str] = Field(default_factory=dict, description="AnalysisRun name -> phase.")
    action: str = Field(default="", description="What the driver did: promoted, aborted, or nothing.")


class ArgoCanaryResult(BaseModel):
    """How the Rollout ended and every step on the way."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["promoted", "aborted", "timed_out"]
    reason: str
    stable_image: str
    candidate_image: str
    steps: list[RolloutStep] = Field(default_factory=list)


def _api_error(what: str, exc: Exception) -> ArgoError:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or type(exc).__name__
    return ArgoError(f"{what}: {status} {reason}".strip() if status else f"{what}: {reason}")


class RolloutDriver:
    """One Rollout in one namespace."""

    def __init__(self, api_client: Any, namespace: str, name: str) -> None:
        from kubernetes import client

        self.api = client.CustomObjectsApi(api_client)
        self.namespace, self.name = namespace, name

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(GROUP, VERSION, self.namespace, *args, **kwargs)
        except Exception as exc:  # ApiException, urllib3 errors: one line either way
            raise _api_error(f"{what} rollout {self.namespace}/{self.name}", exc) from None

    def get(self) -> dict[str, Any]:
        """The Rollout object."""
        obj: dict[str, Any] = self._call("get", self.api.get_namespaced_custom_object, ROLLOUTS, self.name)
        return obj

    def analysis_runs(self) -> dict[str, str]:
        """The phases of the AnalysisRuns this Rollout owns, by name."""
        listed = self._call("list analysis runs of", self.api.list_namespaced_custom_object, ANALYSIS_RUNS)
        runs: dict[str, str] = {}
        for item in listed.get("items", []):
            meta = item.get("metadata", {})
            owners = [o.get("name") for o in meta.get("ownerReferences", []) if o.get("kind") == "Rollout"]
            if self.name in owners:
                runs[meta.get("name", "?")] = (item.get("status") or {}).get("phase", "Pending")
        return runs

    def set_image(self, container: str, image: str) -> tuple[str, dict[str, Any]]:
        """Put ``image`` on ``container``; (the stable image, the stable pod template) for a rollback."""
        rollout = self.get()
        template = copy.deepcopy(rollout["spec"]["template"])
        containers = template.get("spec", {}).get("containers", [])
        index = next((i for i, c in enumerate(containers) if c.get("name") == container), None)
        if index is None:
            raise ArgoError(f"rollout {self.namespace}/{self.name} has no container {container!r}")
        path = f"/spec/template/spec/containers/{index}"
        patch = [{"op": "test", "path": f"{path}/name", "value": container},
                 {"op": "replace", "path": f"{path}/image", "value": image}]
        self._call("set image on", self.api.patch_namespaced_custom_object, ROLLOUTS, self.name, patch,
                   _content_type=JSON_PATCH)
        return str(containers[index].get("image", "")), template

    def promote(self) -> None:
        """What ``kubectl argo rollouts promote`` does: unpause the spec if paused, clear the pause conditions."""
        if self.get().get("spec", {}).get("paused"):
            self._call("unpause", self.api.patch_namespaced_custom_object, ROLLOUTS, self.name,
                       {"spec": {"paused": False}}, _content_type=MERGE)
        self._call("promote", self.api.patch_namespaced_custom_object_status, ROLLOUTS, self.name,
                   {"status": {"pauseConditions": None}}, _content_type=MERGE)

    def abort(self, stable_template: dict[str, Any]) -> None:
        """What ``kubectl argo rollouts abort`` does, then the stable template back in the spec."""
        self._call("abort", self.api.patch_namespaced_custom_object_status, ROLLOUTS, self.name,
                   {"status": {"abort": True}}, _content_type=MERGE)
        self._call("roll back", self.api.patch_namespaced_custom_object, ROLLOUTS, self.name,
                   [{"op": "replace", "path": "/spec/template", "value": stable_template}], _content_type=JSON_PATCH)


def _paused(rollout: dict[str, Any]) -> bool:
    return bool(rollout.get("spec", {}).get("paused")) or bool(rollout.get("status", {}).get("pauseConditions"))


def _steps(rollout: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = ((rollout.get("spec", {}).get("strategy") or {}).get("canary") or {}).get(
        "steps") or []
    return steps


def _waits_for_a_human(rollout: dict[str, Any], index: int | None) -> bool:
    """Paused by the spec, or at a ``pause: {}`` step with no duration (a timed pause ends by itself)."""
    if rollout.get("spec", {}).get("paused"):
        return True
    steps = _steps(rollout)
    if index is None or not 0 <= index < len(steps) or not rollout.get("status", {}).get("pauseConditions"):
        return False
    pause = steps[index].get("pause")
    return isinstance(pause, dict) and not pause.get("duration")


def run_canary(driver: RolloutDriver, container: str, image: str, *, timeout: float = 600.0,
               poll: float = 2.0, promote_pauses: bool = True,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
               ) -> ArgoCanaryResult:
    """Set ``image``, follow the Rollout until Healthy at its last step, Degraded, or ``timeout``.

    A failed, errored or inconclusive AnalysisRun, or a Degraded phase, aborts and rolls back. An
    indefinite pause step is promoted when ``promote_pauses`` (the analyses decide, not a human);
    otherwise the run waits there until the timeout. A timed pause is left to run out. A timeout
    aborts too: a canary left half-way serves two versions for as long as nobody looks.
    """
    started = clock()
    stable_image, stable_template = driver.set_image(container, image)
    result = ArgoCanaryResult(decision="timed_out", reason="", stable_image=stable_image, candidate_image=image)
    last: tuple[Any, ...] | None = None
    while True:
        rollout, runs = driver.get(), driver.analysis_runs()
        status = rollout.get("status", {})
        phase, index = status.get("phase", "Progressing"), status.get("currentStepIndex")
        step = RolloutStep(seconds=round(clock() - started, 3), phase=phase, step_index=index,
                           paused=_paused(rollout), analysis=runs)
        failed = sorted(name for name, p in runs.items() if p in FAILED_ANALYSIS)
        if failed or phase == "Degraded":
            driver.abort(stable_template)
            step.action = "aborted"
            result.steps.append(step)
            why = f"analysis {', '.join(f'{n} {runs[n]}' for n in failed)}" if failed else \
                f"rollout Degraded: {status.get('message', '')}".strip()
            return result.model_copy(update={"decision": "aborted", "reason": why})
        if phase == "Healthy" and (index is None or index >= len(_steps(rollout))):
            result.steps.append(step)
            return result.model_copy(update={"decision": "promoted", "reason": "every step passed; rollout Healthy"})
        if promote_pauses and not status.get("abort") and _waits_for_a_human(rollout, index):
            driver.promote()
            step.action = "promoted"
        key = (phase, index, step.paused, tuple(sorted(runs.items())), step.action)
        if key != last:
            result.steps.append(step)
            last = key
        if clock() - started >= timeout:
            driver.abort(stable_template)
            result.steps.append(step.model_copy(update={"action": "aborted"}))
            return result.model_copy(update={"decision": "timed_out",
                                             "reason": f"no verdict within {timeout:g} s; aborted and rolled back"})
        sleep(poll)
