"""Canary manifests checked against Argo's real CRD schemas and the pitfalls Argo's users hit; the default pair."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from crew.canary import manifests as m
from crew.errors import BadInputError

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "examples" / "pricing-service"


@pytest.fixture(scope="module")
def crds() -> Path:
    folder = m.find_crds()
    if folder is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the Argo Rollouts CRDs are not found (set HEALCREW_ARGO_CRDS)")
        pytest.skip("the Argo Rollouts CRDs are not on this machine (set HEALCREW_ARGO_CRDS)")
    return folder


def _service(tmp_path: Path, rollout: dict, template: dict) -> Path:
    deploy = tmp_path / "svc" / "deploy"
    deploy.mkdir(parents=True)
    (deploy / "rollout.yaml").write_text(yaml.safe_dump(rollout))
    (deploy / "analysis-template.yaml").write_text(yaml.safe_dump(template))
    return deploy.parent


def test_the_crds_are_found_from_the_env_and_beside_an_origin_clone(crds: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(m.CRD_ENV, str(tmp_path))
    assert m.find_crds() is None  # a folder without the three files is not taken
    monkeypatch.delenv(m.CRD_ENV)
    # A fresh clone elsewhere finds them beside the checkout its origin points at.
    checkout = tmp_path / "box" / "checkout"
    (tmp_path / "box" / m.CRD_FOLDER).mkdir(parents=True)
    for name in set(m.CRD_FILES.values()):
        shutil.copy(crds / name, tmp_path / "box" / m.CRD_FOLDER / name)
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    clone = tmp_path / "elsewhere" / "clone"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "remote", "add", "origin", str(checkout)], check=True)
    assert m.find_crds(clone) == tmp_path / "box" / m.CRD_FOLDER
    assert m.find_crds(tmp_path / "elsewhere") is None  # not a clone: no origin to follow


def test_the_default_pair_is_valid_and_has_no_pitfall(crds: Path, tmp_path: Path) -> None:
    written = m.write_default_manifests(tmp_path / "svc", "ledger", "money", container="api", image="ledger:2")
    assert [p.name for p in written] == ["rollout.yaml", "analysis-template.yaml"]
    found = m.load_manifests(tmp_path / "svc")
    assert m.check_manifests(found, crds) == []
    steps = m.canary_steps(found.rollouts[0].body)
    assert [next(iter(s)) for s in steps] == ["setWeight", "pause", "analysis", "setWeight", "pause", "analysis",
                                             "setWeight"]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [20, 50, 100]
    metrics = {x["name"]: x for x in found.templates["ledger-health"].body["spec"]["metrics"]}
    assert "istio_request_duration_milliseconds_bucket" in metrics["latency-p90"]["provider"]["prometheus"]["query"]
    assert "histogram_quantile(0.9" in metrics["latency-p90"]["provider"]["prometheus"]["query"]
    assert "istio_requests_total" in metrics["error-rate"]["provider"]["prometheus"]["query"]
    with pytest.raises(BadInputError, match="does not overwrite"):
        m.write_default_manifests(tmp_path / "svc", "ledger", "money")


def test_a_typo_and_a_wrong_type_break_the_crd_schema(crds: Path) -> None:
    rollout = m.default_rollout("svc", "ns", container="svc", image="svc:1")
    bad = copy.deepcopy(rollout)
    bad["spec"]["strategy"]["canary"]["steps"][0] = {"setWieght": 20}
    bad["spec"]["replicas"] = "four"
    found = m.schema_problems(bad, crds)
    assert any("steps[0]" in line and "'setWieght' was unexpected" in line for line in found)
    assert any(line.startswith("schema: spec.replicas: 'four' is not of type 'integer'") for line in found)
    template = m.default_analysis_template("svc", "ns")
    template["spec"]["metrics"][0]["provider"] = {"prometheus": {"address": 9090}}
    assert any("provider.prometheus.address" in line for line in m.schema_problems(template, crds))
    assert m.schema_problems({**rollout, "apiVersion": "argoproj.io/v1"}, crds) == [
        "apiVersion 'argoproj.io/v1' is not argoproj.io/v1alpha1"]


def test_references_args_and_limits_are_checked(crds: Path, tmp_path: Path) -> None:
    rollout = m.default_rollout("svc", "ns", container="svc", image="svc:1")
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    steps[2]["analysis"]["templates"][0]["templateName"] = "gone"
    steps[5]["analysis"]["args"] = []
    steps[1]["pause"]["duration"] = "two minutes"
    template = m.default_analysis_template("svc", "ns")
    metric = template["spec"]["metrics"][0]
    metric.update(failureLimit=3, consecutiveErrorLimit=5, successCondition="result[0] <= 0.01")
    metric["provider"]["prometheus"]["query"] += ' + on() vector({{args.extra}})'
    found = m.check_manifests(m.load_manifests(_service(tmp_path, rollout, template)), crds)
    text = "\n".join(found)
    assert "steps[2].analysis: AnalysisTemplate 'gone' is not in the service's manifests" in text
    assert "steps[5].analysis: template 'svc-health' needs arg 'service-name', which the step does not give" in text
    assert "steps[1].pause.duration 'two minutes' is not a duration" in text
    assert "error-rate: failureLimit 3 is not below count 3" in text
    assert "error-rate: consecutiveErrorLimit 5 is not below count 3" in text
    assert "error-rate: successCondition errors on an empty result" in text
    assert "the metrics use {{args.extra}}, which spec.args does not declare" in text
    assert all(line.startswith("deploy/") for line in found)
    assert not any("latency-p90" in line for line in found)  # the untouched metric stays clean


def test_a_rollout_without_a_canary_or_analysis_is_refused(crds: Path, tmp_path: Path) -> None:
    rollout = m.default_rollout("svc", "ns", container="svc", image="svc:1")
    rollout["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 50}, {"pause": {}}]
    found = m.check_manifests(m.load_manifests(_service(tmp_path, rollout, m.default_analysis_template("svc", "ns"))),
                              crds)
    assert any("nothing judges the canary" in line for line in found)
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert m.check_manifests(m.load_manifests(empty), crds) == [f"{empty}: no Argo Rollout in the service's manifests"]


def test_the_flagship_manifests_pass_the_schema_and_show_their_known_pitfalls(crds: Path) -> None:
    found = m.check_manifests(m.load_manifests(FLAGSHIP), crds)
    assert not any("schema:" in line for line in found)
    assert not any("Rollout" in line.split(":")[0] for line in found)  # references and args are sound
    assert {line.split(": ")[1] for line in found} == {"success-rate", "restarts"}
