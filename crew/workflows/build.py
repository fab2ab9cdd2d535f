"""The Workflow of one incident, built with Hera: the DAG of stage steps in the healcrew image.

monitor → diagnose → repair → reflect → decide → deliver. Each step runs
``healcrew stage NAME`` on the previous step's ``FlowState`` artifact. ``decide`` is a suspend
node: the service takes the RepairPolicy decision (quota, approvals, dry-run) between the
report and the delivery, exactly where the local worker takes it, and resumes the node with
the delivery settings as its output parameter, or stops the Workflow. Retries (with
exponential backoff) cover transient failures only (``OnError``: the pod was evicted or
deleted, its node was lost, an init or wait container failed). A stage that fails on its input
records why in the state and its step succeeds, so it is never retried into the same failure;
a step that crashes (exit 3, a bug) fails the Workflow at once.

The repair step validates candidates with the ``kubernetes`` sandbox (``--sandbox kubernetes``):
a step's pod has no Docker engine, so each sandbox run is a locked-down pod of its own, made
through the API with the step's service account, in ``ArgoSettings.sandbox_namespace`` and
running ``ArgoSettings.sandbox_image``, both passed as the environment ``SandboxConfig`` reads.
"""

from __future__ import annotations

from typing import Any

from crew.workflows.settings import ArgoSettings

SCRATCH = "/tmp/healcrew"
"""Where each step reads and writes its records: an emptyDir, since the root filesystem is read-only."""



def workflow_name(incident_id: str) -> str:
    """A stable name per incident, so a resubmission is refused (409) instead of running twice."""
    import re

    slug = re.sub(r"[^a-z0-9-]+", "-", incident_id.lower()).strip("-")[:50] or "incident"
    return f"healcrew-{slug}"


def is_remote(repo: str) -> bool:
    """Whether the repo is a git URL the steps clone (Argo's git input artifact) rather than a mounted path."""
    return "://" in repo or repo.startswith("git@")


CANARY_BACKEND = "{{tasks.decide.outputs.parameters.canary_backend}}"
"""The canary the service planned when it resumed ``decide``: ``local``, ``argo``, or ``off`` to skip the step
(its settings JSON is the ``canary`` parameter; a ``when`` compares only the plain word)."""


def build_workflow(incident: Any, settings: ArgoSettings) -> Any:
    """The Hera ``Workflow`` for ``incident`` (an ``Incident``)."""
    from hera.workflows import (
        DAG,
        Artifact,
        Container,
        EmptyDirVolume,
        Env,
        GitArtifact,
        Parameter,
        RawArtifact,
        RetryStrategy,
        Suspend,
        Workflow,
        models,
    )

    def state_in() -> Any:
        return Artifact(name="state", path=f"{SCRATCH}/in.json")

    q = models.Quantity

    def step(name: str, *, first: bool = False, extra: list[str] | None = None,
             inputs: list[Any] | None = None, more: list[Any] | None = None,
             env: dict[str, str] | None = None) -> Any:
        args = ["stage", name, "--in", f"{SCRATCH}/in.json", "--out", f"{SCRATCH}/out.json",
                "--params", f"{SCRATCH}/params", "--report", f"{SCRATCH}/report.json", *(extra or [])]
        if remote:
            args += ["--repo", f"{SCRATCH}/repo"]
        params = ["signature", "stopped_at", "outcome", "verdict"]
        return Container(
            name=name, image=settings.image, image_pull_policy="IfNotPresent", command=["healcrew"], args=args,
            inputs=[*(inputs if inputs is not None else ([] if first else [state_in()])), *checkout],
            outputs=[Artifact(name="state", path=f"{SCRATCH}/out.json"),
                     Artifact(name="report", path=f"{SCRATCH}/report.json"), *(more or []),
                     *(Parameter(name=p, value_from=models.ValueFrom(path=f"{SCRATCH}/params/{p}", default=""))
                       for p in params)],
            env=[Env(name="HEALCREW_CORRELATION_ID", value=incident.correlation_id or incident.id),
                 *(Env(name=k, value=v) for k, v in (env or {}).items())],
            env_from=[models.EnvFromSource(secret_ref=models.SecretEnvSource(name=settings.secret, optional=True))],
            volumes=[EmptyDirVolume(name="scratch", mount_path=SCRATCH, size_limit=q("1Gi"))],
            security_context=models.SecurityContext(
                run_as_non_root=True, read_only_root_filesystem=True, allow_privilege_escalation=False,
                capabilities=models.Capabilities(drop=["ALL"]),
                seccomp_profile=models.SeccompProfile(type="RuntimeDefault")),
            resources=models.ResourceRequirements(requests={"cpu": q("250m"), "memory": q("512Mi")},
                                                  limits={"cpu": q("2"), "memory": q("2Gi")}),
            active_deadline_seconds=settings.step_deadline_seconds,
            retry_strategy=RetryStrategy(
                limit=settings.retries, retry_policy="OnError",
                backoff=models.Backoff(duration=settings.backoff, factor=models.IntOrString(2), max_duration="5m")),
        )

    remote = is_remote(incident.repo)
    checkout = [GitArtifact(name="repo", path=f"{SCRATCH}/repo", repo=incident.repo, revision=incident.commit,
                            single_branch=False)] if remote else []
    name = workflow_name(incident.id)
    with Workflow(
        name=name, namespace=settings.namespace, entrypoint="heal",
        labels={"app.kubernetes.io/name": "healcrew", "healcrew.dev/incident": incident.correlation_id or incident.id},
        annotations={"healcrew.dev/service": incident.service},
        service_account_name=settings.service_account,
        active_deadline_seconds=settings.active_deadline_seconds,
        ttl_strategy=models.TTLStrategy(seconds_after_completion=settings.ttl_after_completion),
        pod_gc=models.PodGC(strategy="OnPodSuccess"),
        arguments=[Parameter(name="incident", value=incident.model_dump_json())],
        security_context=models.PodSecurityContext(run_as_non_root=True, run_as_user=10001, fs_group=10001),
    ) as workflow:
        monitor = step("monitor", first=True, inputs=[RawArtifact(
            name="incident", path=f"{SCRATCH}/in.json", data="{{workflow.parameters.incident}}")])
        diagnose, reflect = step("diagnose"), step("reflect")
        repair = step("repair", extra=["--sandbox", "kubernetes"], env=settings.sandbox_env())  # it validates
        supplied = models.ValueFrom(supplied=models.SuppliedValueFrom())  # set by the service when it resumes
        decide = Suspend(name="decide", outputs=[Parameter(name=p, value_from=supplied)
                                                 for p in ("delivery", "canary", "canary_backend")])
        deliver = step("deliver", inputs=[state_in(), Parameter(name="delivery")],
                       extra=["--delivery", "{{inputs.parameters.delivery}}", "--bundle-dir", f"{SCRATCH}/bundle"],
                       more=[Artifact(name="bundle", path=f"{SCRATCH}/bundle", optional=True)])
        canary = step("canary", inputs=[state_in(), Parameter(name="canary")],
                      extra=["--canary", "{{inputs.parameters.canary}}"])
        with DAG(name="heal"):
            t_monitor = monitor(name="monitor")
            t_diagnose = diagnose(name="diagnose", arguments=[t_monitor.get_artifact("state").with_name("state")])
            t_repair = repair(name="repair", arguments=[t_diagnose.get_artifact("state").with_name("state")])
            t_reflect = reflect(name="reflect", arguments=[t_repair.get_artifact("state").with_name("state")])
            t_decide = decide(name="decide")
            t_deliver = deliver(name="deliver", arguments=[
                t_reflect.get_artifact("state").with_name("state"),
                Parameter(name="delivery", value="{{tasks.decide.outputs.parameters.delivery}}")])
            t_canary = canary(name="canary", when=f"{CANARY_BACKEND} != off", arguments=[
                t_deliver.get_artifact("state").with_name("state"),
                Parameter(name="canary", value="{{tasks.decide.outputs.parameters.canary}}")])
            t_monitor >> t_diagnose >> t_repair >> t_reflect >> t_decide >> t_deliver >> t_canary
    return workflow


def render(incident: Any, settings: ArgoSettings) -> str:
    """The Workflow as the YAML that would be submitted."""
    import yaml

    return str(yaml.safe_dump(build_workflow(incident, settings).to_dict(), sort_keys=False))
