"""The canary stage of a run: the delivered fix against the deployed commit, then its outcome on the PR.

The pull request exists before the canary runs, so its outcome is added afterwards where the
reviewer looks: a local review bundle's ``PR.md`` is rendered again with the result, a GitHub
pull request gets a comment. A canary that cannot start (no local canary in this build, no
cluster credentials) is a ``not_run`` result with the reason, not a failed run: the fix stands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crew.canary.run import ArgoTarget, CanaryError, LocalRunner, fix_checkout, run_argo, run_canary_backend
from crew.handoffs import CanaryResult, RunReport


def fill_image(argo: dict[str, Any], commit: str | None, branch: str | None) -> dict[str, Any]:
    """``argo`` with ``{commit}`` and ``{branch}`` in its image replaced by the delivered fix's.

    The operator's CI builds the fix branch's image; its tag is known only once the fix is pushed.
    A template naming what the delivery does not have raises ``CanaryError``: a Rollout must never
    get a half-filled image name.
    """
    image = str(argo.get("image") or "")
    for key, value in (("commit", commit), ("branch", branch)):
        if "{" + key + "}" in image:
            if not value:
                raise CanaryError(f"the fix has no {key} on a remote (not pushed), so there is no image "
                                  f"{image!r} of it for the argo canary")
            image = image.replace("{" + key + "}", value)
    return {**argo, "image": image}


def planned_canary(state: Any, backend: str, time_scale: float | None, argo: dict[str, Any] | None) -> None:
    """Set the canary the service planned (it asked the policy) on a delivered ``FlowState``.

    An argo image it cannot fill makes the canary ``not_run`` with the reason, set here.
    """
    state.canary_backend, state.canary_allowed, state.canary_time_scale = backend, True, time_scale
    if argo is not None and state.delivery is not None:
        try:
            argo = fill_image(argo, state.delivery.commit, state.delivery.branch)
        except CanaryError as exc:
            state.canary = CanaryResult(backend="argo", decision="not_run", reason=str(exc),
                                        stable=state.delivery.base_commit, candidate=argo.get("image") or "?")
            state.canary_backend = "off"
    state.canary_argo = argo


def canary_after_delivery(
    report: RunReport, backend: str, *, time_scale: float | None = None, argo: dict[str, Any] | None = None,
    runner: LocalRunner | None = None, api_client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> CanaryResult:
    """Run the canary of ``report``'s delivered fix on ``backend``."""
    record = report.delivery
    stable = (record.base_commit if record is not None else report.incident.commit) or "?"
    candidate = (record.commit if record is not None else None) or "?"
    try:
        if backend == "argo":
            if argo is None:
                raise CanaryError("the argo canary needs --canary-image and the Rollout's namespace and name")
            return run_argo(ArgoTarget.model_validate(argo), api_client=api_client, progress=progress)
        with fix_checkout(report) as (service_dir, stable, candidate):
            if progress:
                progress(f"local canary: {stable[:12]} (stable) against {candidate[:12]} (the fix)")
            return run_canary_backend("local", service_dir=service_dir, stable=stable, candidate=candidate,
                                      time_scale=time_scale, runner=runner, progress=progress)
    except CanaryError as exc:
        return CanaryResult(backend="argo" if backend == "argo" else "local", decision="not_run", reason=str(exc),
                            stable=stable, candidate=candidate)
