"""Run a canary on either backend and get one ``CanaryResult``: the local canary, or Argo Rollouts.

The local backend is the embedded canary (``crew.canary.local.run_local_canary``); the Argo
backend sets the candidate image on the cluster's Rollout through ``crew.canary.argo`` and its
``ArgoCanaryResult`` is turned into the same record, step by step, so the report, the chart, the
PR and the exit code do not care which backend ran. Both runners are parameters, so tests give
a real runner of their own instead of patching this module.

After a delivery, the candidate is the fix branch's commit: fetched from the remote the branch
was pushed to, or, when nothing was pushed, the validated patch committed on the deployed commit
in a clone healcrew owns (the operator's repository is never written).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from crew.errors import BadInputError, HealcrewError
from crew.handoffs import AnalysisMeasurement, CanaryResult, CanaryStep, RunReport

Backend = Literal["local", "argo"]
BACKENDS = ("local", "argo")
_ANALYSIS_PHASES = {"Successful", "Failed", "Error", "Inconclusive"}


class CanaryError(HealcrewError):
    """The canary could not start (a missing backend, no cluster credentials, no candidate)."""

    exit_code = 2


class LocalRunner(Protocol):
    """``run_local_canary``'s signature."""

    def __call__(self, service_dir: Path, stable_ref: str, candidate_ref: str, *, rollout: Path | None = None,
                 analysis_template: Path | None = None, time_scale: float | None = None, traffic: Any = None,
                 progress: Callable[[str], None] | None = None) -> CanaryResult: ...


class ArgoTarget(BaseModel):
    """Where the Argo backend finds the Rollout, and what it ships."""

    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(description="The Rollout's namespace.")
    rollout: str = Field(description="The Rollout's name.")
    container: str = Field(description="The container of the pod template that gets the candidate image.")
    image: str = Field(description="The candidate image (built from the fix branch by the operator's CI).")
    kubeconfig: str | None = Field(default=None, description="Kubeconfig file; default: $KUBECONFIG, "
                                   "~/.kube/config, else the in-cluster service account.")
    context: str | None = Field(default=None, description="Kubeconfig context; default: the current one.")
    timeout: float = Field(default=900.0, gt=0, description="Seconds before an undecided canary is aborted.")
    poll: float = Field(default=2.0, gt=0, description="Seconds between two looks at the Rollout.")


def local_runner() -> LocalRunner:
    """The embedded local canary; a one-line error when this build has none."""
    try:
        from crew.canary.local import run_local_canary  # type: ignore[attr-defined]
    except ImportError:
        raise CanaryError("the local canary is not part of this healcrew build") from None
    runner: LocalRunner = run_local_canary
    return runner


def kubernetes_client(target: ArgoTarget) -> Any:
    """An ``ApiClient`` from the kubeconfig (or in-cluster config); one-line ``CanaryError`` when there is none."""
    from kubernetes import client, config

    try:
        if target.kubeconfig or not _in_cluster():
            api: Any = config.new_client_from_config(config_file=target.kubeconfig, context=target.context)
            return api
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException as exc:
        raise CanaryError(f"no Kubernetes credentials for the argo canary: {' '.join(str(exc).split())}") from None
    except (OSError, ValueError, TypeError) as exc:
        raise CanaryError(f"cannot read the kubeconfig: {' '.join(str(exc).split())}") from None


def _in_cluster() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG") and not (
        Path.home() / ".kube" / "config").is_file()


def from_argo(argo: Any, steps_spec: list[dict[str, Any]], seconds: float) -> CanaryResult:
    """The Argo driver's ``ArgoCanaryResult`` as a ``CanaryResult``: one ``CanaryStep`` per Rollout step seen.

    A step's weight is the last ``setWeight`` at or before it; its time runs until the next step
    was first seen; the AnalysisRuns that had ended while it ran are its measurements; the step
    where the driver aborted failed, and steps never reached are left out.
    """
    seen: dict[int, list[Any]] = {}
    for poll in argo.steps:
        if poll.step_index is not None and 0 <= poll.step_index < len(steps_spec):
            seen.setdefault(poll.step_index, []).append(poll)
    order = sorted(seen)
    out: list[CanaryStep] = []
    weight = 0
    for i in range(len(steps_spec)):
        if "setWeight" in steps_spec[i]:
            weight = int(steps_spec[i]["setWeight"])
        if i not in seen:
            continue
        polls = seen[i]
        later = [seen[j][0].seconds for j in order if j > i]
        end = later[0] if later else polls[-1].seconds
        kind = next((k for k in ("setWeight", "pause", "analysis") if k in steps_spec[i]), "pause")
        analysis = [AnalysisMeasurement(metric=name, seconds=p.seconds, phase=phase)
                    for p in polls for name, phase in p.analysis.items() if phase in _ANALYSIS_PHASES]
        unique = {(a.metric, a.phase): a for a in analysis}
        failed = any(p.action == "aborted" for p in polls) or any(a.phase != "Successful" for a in unique.values())
        out.append(CanaryStep(index=i, kind=kind, weight=weight, started=polls[0].seconds,  # type: ignore[arg-type]
                              seconds=round(max(0.0, end - polls[0].seconds), 3), analysis=list(unique.values()),
                              outcome="failed" if failed else "passed"))
    return CanaryResult(backend="argo", decision=argo.decision, reason=argo.reason, stable=argo.stable_image,
                        candidate=argo.candidate_image, steps=out, seconds=round(seconds, 3))


def run_argo(target: ArgoTarget, *, api_client: Any = None,
             progress: Callable[[str], None] | None = None) -> CanaryResult:
    """Ship ``target.image`` through the cluster's Rollout and wait for promote, abort or the timeout."""
    from crew.canary.argo import RolloutDriver, run_canary

    started = time.perf_counter()
    driver = RolloutDriver(api_client if api_client is not None else kubernetes_client(target), target.namespace,
                           target.rollout)
    from crew.canary.manifests import canary_steps

    steps = canary_steps(driver.get())
    if progress:
        progress(f"argo: setting {target.image} on {target.namespace}/{target.rollout} ({len(steps)} steps)")
    argo = run_canary(driver, target.container, target.image, timeout=target.timeout, poll=target.poll)
    return from_argo(argo, steps, time.perf_counter() - started)


def run_canary_backend(backend: str, *, service_dir: Path | None = None, stable: str | None = None,
                       candidate: str | None = None, time_scale: float | None = None,
                       rollout: Path | None = None, analysis_template: Path | None = None,
                       argo: ArgoTarget | None = None, runner: LocalRunner | None = None, api_client: Any = None,
                       progress: Callable[[str], None] | None = None) -> CanaryResult:
    """One canary on ``backend``; ``runner`` (local) and ``api_client`` (argo) default to the real ones."""
    if backend == "local":
        if service_dir is None or not stable or not candidate:
            raise BadInputError("the local canary needs the service folder, a stable and a candidate ref")
        run = runner or local_runner()
        return run(service_dir, stable, candidate, rollout=rollout, analysis_template=analysis_template,
                   time_scale=time_scale, progress=progress)
    if backend == "argo":
        if argo is None:
            raise BadInputError("the argo canary needs the namespace, rollout, container and candidate image")
        return run_argo(argo, api_client=api_client, progress=progress)
    raise BadInputError(f"unknown canary backend {backend!r} (choose {' or '.join(BACKENDS)})")


# --------------------------------------------------------------------------- after a delivery


def _git(args: list[str], cwd: Path, *, remote: bool = False) -> str:
    from sandbox import safegit

    proc = safegit.run_git(args, cwd, timeout=120, operator_config=remote)
    if proc.returncode != 0:
        raise CanaryError(f"git {args[0]} for the canary failed: {safegit.first_line(proc.stderr)}")
    return proc.stdout.decode(errors="replace").strip()


@contextmanager
def fix_checkout(report: RunReport) -> Iterator[tuple[Path, str, str]]:
    """(a clone of the service healcrew owns, the deployed commit, the fix's commit) for a canary after delivery."""
    from sandbox import safegit

    record, accepted = report.delivery, report.accepted
    if accepted is None or record is None:
        raise CanaryError("no delivered fix to run a canary of")
    deployed = record.base_commit if record.base_kind == "deployed" else (report.incident.commit or "HEAD")
    with tempfile.TemporaryDirectory(prefix="healcrew-canary-") as tmp:
        work = Path(tmp) / "service"
        cloned = safegit.clone(Path(report.incident.repo), work, timeout=120)
        if cloned.returncode != 0:
            raise CanaryError(f"cannot clone the service for the canary: {safegit.first_line(cloned.stderr)}")
        if record.pushed and record.remote and record.commit:
            _git(["fetch", "-q", "--no-tags", record.remote, f"refs/heads/{record.branch}"], work, remote=True)
            candidate = record.commit
        else:
            from crew.delivery.gitops import fix_patch

            _git(["checkout", "-q", "--detach", deployed], work)
            (Path(tmp) / "fix.patch").write_text(fix_patch(report), encoding="utf-8")
            _git(["apply", "--index", "--whitespace=nowarn", str(Path(tmp) / "fix.patch")], work)
            _git(["-c", "user.name=healcrew", "-c", "user.email=healcrew@localhost", "commit", "-q", "--no-verify",
                  "-m", f"healcrew canary candidate for {report.incident.id}"], work)
            candidate = _git(["rev-parse", "HEAD"], work)
        _git(["checkout", "-q", "--detach", deployed], work)
        yield work, _git(["rev-parse", deployed], work), candidate
