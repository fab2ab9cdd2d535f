"""The Workflow an incident becomes: Argo's schema (Hera's models), the DAG, the guardrails of each step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from crew.errors import BadInputError
from crew.workflows.build import build_workflow, render, workflow_name
from crew.workflows.settings import ArgoSettings
from tests.workflows.conftest import BUNDLE, ROOT


def _spec(incident: Any, **settings: Any) -> dict[str, Any]:
    from hera.workflows.models import Workflow

    doc = yaml.safe_load(render(incident, ArgoSettings.model_validate(settings)))
    Workflow.model_validate(doc)  # Argo's schema as Hera models it; extra or mistyped fields fail here
    return doc


def test_the_dag_runs_the_stages_in_order_with_the_records_as_artifacts(incident: Any) -> None:
    doc = _spec(incident)
    spec = doc["spec"]
    dag = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])["dag"]
    tasks = {t["name"]: t for t in dag["tasks"]}
    assert list(tasks) == ["monitor", "diagnose", "repair", "reflect", "decide", "deliver", "canary"]
    for before, after in [("monitor", "diagnose"), ("diagnose", "repair"), ("repair", "reflect"),
                          ("reflect", "decide"), ("decide", "deliver"), ("deliver", "canary")]:
        assert tasks[after]["depends"] == before
    assert tasks["repair"]["arguments"]["artifacts"] == [
        {"name": "state", "from": "{{tasks.diagnose.outputs.artifacts.state}}"}]
    assert tasks["deliver"]["arguments"]["parameters"] == [
        {"name": "delivery", "value": "{{tasks.decide.outputs.parameters.delivery}}"}]
    templates = {t["name"]: t for t in spec["templates"]}
    assert "suspend" in templates["decide"]
    for name in ("monitor", "diagnose", "repair", "reflect", "deliver", "canary"):
        assert templates[name]["container"]["args"][:2] == ["stage", name]


def test_the_canary_step_follows_delivery_only_when_the_service_planned_one(incident: Any) -> None:
    spec = _spec(incident)["spec"]
    dag = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])["dag"]
    tasks = {t["name"]: t for t in dag["tasks"]}
    templates = {t["name"]: t for t in spec["templates"]}
    supplied = [p["name"] for p in templates["decide"]["outputs"]["parameters"]]
    assert supplied == ["delivery", "canary", "canary_backend"]
    assert tasks["canary"]["when"] == "{{tasks.decide.outputs.parameters.canary_backend}} != off"
    assert tasks["canary"]["arguments"] == {
        "artifacts": [{"name": "state", "from": "{{tasks.deliver.outputs.artifacts.state}}"}],
        "parameters": [{"name": "canary", "value": "{{tasks.decide.outputs.parameters.canary}}"}]}
    args = templates["canary"]["container"]["args"]
    assert args[args.index("--canary") + 1] == "{{inputs.parameters.canary}}"


def test_deadlines_ttl_retries_and_pod_restrictions(incident: Any) -> None:
    doc = _spec(incident, active_deadline_seconds=900, ttl_after_completion=3600, retries=2)
    spec = doc["spec"]
    assert spec["activeDeadlineSeconds"] == 900
    assert spec["ttlStrategy"] == {"secondsAfterCompletion": 3600}
    assert doc["metadata"]["name"] == workflow_name(incident.id) == "healcrew-pricing-zero-division"
    for t in spec["templates"]:
        if "container" not in t:
            continue
        assert t["retryStrategy"]["retryPolicy"] == "OnError"  # transient failures only
        assert t["retryStrategy"]["limit"] == 2
        assert t["retryStrategy"]["backoff"]["factor"] == 2
        assert t["activeDeadlineSeconds"] > 0
        sc = t["container"]["securityContext"]
        assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
        assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert t["container"]["resources"]["limits"]["memory"]
        assert t["container"]["envFrom"][0]["secretRef"]["name"] == "healcrew-tokens"


def test_a_repo_url_is_cloned_by_a_git_artifact(incident: Any) -> None:
    remote = incident.model_copy(update={"repo": "https://git.example.test/shop/pricing.git"})
    workflow = build_workflow(remote, ArgoSettings()).to_dict()
    monitor = next(t for t in workflow["spec"]["templates"] if t["name"] == "monitor")
    git = next(a for a in monitor["inputs"]["artifacts"] if "git" in a)
    assert git["git"]["repo"] == remote.repo and git["git"]["revision"] == remote.commit
    assert monitor["container"]["args"][-2:] == ["--repo", "/tmp/healcrew/repo"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crew.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_workflow_render_prints_a_valid_workflow_for_the_flagship_bundle() -> None:
    from hera.workflows.models import Workflow

    done = _cli("workflow", "render", str(BUNDLE), "--image", "healcrew:test")
    assert done.returncode == 0, done.stderr
    workflow = Workflow.model_validate(yaml.safe_load(done.stdout))
    assert workflow.kind == "Workflow" and workflow.spec.templates is not None
    assert {t.container.image for t in workflow.spec.templates if t.container} == {"healcrew:test"}


def test_render_and_stage_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    done = _cli("workflow", "render", str(tmp_path / "nope"))
    assert done.returncode == 2 and "bundle not found" in done.stderr and len(done.stderr.splitlines()) == 1
    bad = tmp_path / "state.json"
    bad.write_text("{not json")
    done = _cli("stage", "diagnose", "--in", str(bad), "--out", str(tmp_path / "out.json"))
    assert done.returncode == 2 and "is not a flow state" in done.stderr and "Traceback" not in done.stderr
    done = _cli("stage", "teleport", "--in", str(bad), "--out", str(tmp_path / "out.json"))
    assert done.returncode == 2 and "unknown stage 'teleport'" in done.stderr


def _templates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc["spec"]["templates"]}


def test_the_repair_step_validates_in_the_kubernetes_sandbox_with_the_configured_image(incident: Any) -> None:
    templates = _templates(_spec(incident, namespace="shop", sandbox_image="pricing-tests:1.4"))
    repair = templates["repair"]["container"]
    assert repair["args"][repair["args"].index("--sandbox") + 1] == "kubernetes"
    env = {e["name"]: e["value"] for e in repair["env"]}
    assert env["HEALCREW_SANDBOX_IMAGE"] == "pricing-tests:1.4"
    assert env["HEALCREW_SANDBOX_NAMESPACE"] == "shop"  # the Workflow's namespace unless told otherwise
    assert repair["image"] != "pricing-tests:1.4"  # the step itself runs healcrew; only its sandbox pods do not
    for name in ("monitor", "diagnose", "reflect", "deliver"):  # they run no repo code
        assert "--sandbox" not in templates[name]["container"]["args"]
        assert not any(e["name"].startswith("HEALCREW_SANDBOX_") for e in templates[name]["container"]["env"])
    doc = _spec(incident, sandbox_namespace="sandboxes")
    assert doc["spec"]["serviceAccountName"] == "healcrew-stage"  # granted pods and configmaps in deploy/
    env = {e["name"]: e["value"] for e in _templates(doc)["repair"]["container"]["env"]}
    assert env == {**env, "HEALCREW_SANDBOX_IMAGE": ArgoSettings().image, "HEALCREW_SANDBOX_NAMESPACE": "sandboxes"}


def test_workflow_render_names_the_sandbox_image() -> None:
    done = _cli("workflow", "render", str(BUNDLE), "--sandbox-image", "pricing-tests:2")
    assert done.returncode == 0, done.stderr
    repair = _templates(yaml.safe_load(done.stdout))["repair"]["container"]
    assert {"name": "HEALCREW_SANDBOX_IMAGE", "value": "pricing-tests:2"} in repair["env"]
    assert repair["args"][repair["args"].index("--sandbox"):][:2] == ["--sandbox", "kubernetes"]


def test_the_repair_stage_runs_its_sandbox_where_the_step_says(
        incident: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a cluster the pod sandbox cannot start: the stage says so in the state, as any failed stage does."""
    from crew.workflows.stages import run_stage, write

    for name in ("KUBERNETES_SERVICE_HOST", "HEALCREW_SANDBOX_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HEALCREW_SANDBOX_IMAGE", "pricing-tests:1")
    src = tmp_path / "incident.json"
    src.write_text(incident.model_dump_json(), encoding="utf-8")
    state = run_stage("monitor", src)
    assert state.sandbox == "auto"
    write(state, tmp_path / "monitor.json")
    write(run_stage("diagnose", tmp_path / "monitor.json"), tmp_path / "diagnose.json")
    state = run_stage("repair", tmp_path / "diagnose.json", sandbox="kubernetes")
    assert state.sandbox == "kubernetes" and state.stopped_at == "repair"
    assert "the kubernetes sandbox needs a cluster" in (state.error or ""), state.error
    with pytest.raises(BadInputError, match="--sandbox must be docker, process, kubernetes or auto, not 'pod'"):
        run_stage("repair", tmp_path / "diagnose.json", sandbox="pod")
