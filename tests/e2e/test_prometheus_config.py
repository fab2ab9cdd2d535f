"""The shipped Prometheus rule and Alertmanager receiver are valid for the real tools, and agree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import need_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"

pytestmark = pytest.mark.timeout(60)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=DEPLOY, timeout=30, check=False)


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    promtool = need_binary("promtool")
    checked = _run(promtool, "check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = _run(promtool, "test", "rules", "rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_fails_the_unit_test_when_the_rule_stops_firing(tmp_path: Path) -> None:
    promtool = need_binary("promtool")
    rules = (DEPLOY / "rules.yml").read_text().replace(">= 1", ">= 2")
    (tmp_path / "rules.yml").write_text(rules)
    (tmp_path / "rules.test.yml").write_text((DEPLOY / "rules.test.yml").read_text())
    tested = subprocess.run([promtool, "test", "rules", "rules.test.yml"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=30, check=False)
    assert tested.returncode != 0


def test_the_prometheus_rule_resource_holds_the_same_rules() -> None:
    plain = yaml.safe_load((DEPLOY / "rules.yml").read_text())
    resource = yaml.safe_load((DEPLOY / "prometheusrule.yaml").read_text())
    assert resource["apiVersion"] == "monitoring.coreos.com/v1" and resource["kind"] == "PrometheusRule"
    assert resource["spec"]["groups"] == plain["groups"]
    rule = plain["groups"][0]["rules"][0]
    assert rule["alert"] == "KubePodCrashLooping"
    assert 'kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"' in rule["expr"]


def test_amtool_accepts_the_receiver_and_it_sends_what_healcrew_needs() -> None:
    amtool = need_binary("amtool")
    checked = _run(amtool, "check-config", "alertmanager.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    route = next(r for r in config["route"]["routes"] if r["receiver"] == "healcrew")
    assert {"group_by", "group_wait", "repeat_interval"} <= set(route)
    hook = next(r for r in config["receivers"] if r["name"] == "healcrew")["webhook_configs"][0]
    assert hook["send_resolved"] is True and hook["url"].endswith("/alerts")
    assert hook["http_config"]["authorization"]["type"] == "Bearer"
    assert "credentials" not in hook["http_config"]["authorization"]  # a file, never the token inline


def _readme_yaml(marker: str) -> dict[str, object]:
    text = (DEPLOY.parents[1] / "README.md").read_text()
    blocks = [b.split("\n", 1)[1] for b in text.split("```yaml")[1:]]
    block = next(b.split("```", 1)[0] for b in blocks if marker in b.split("```", 1)[0])
    loaded: dict[str, object] = yaml.safe_load(block)
    return loaded


def test_the_readme_snippets_say_what_the_shipped_files_say() -> None:
    shipped = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    readme = _readme_yaml("webhook_configs")
    ours = next(r for r in shipped["route"]["routes"] if r["receiver"] == "healcrew")
    theirs = next(r for r in readme["route"]["routes"] if r["receiver"] == "healcrew")  # type: ignore[index]
    assert {k: v for k, v in ours.items() if k != "matchers"} == {k: v for k, v in theirs.items() if k != "matchers"}
    hook = next(r for r in shipped["receivers"] if r["name"] == "healcrew")
    assert next(r for r in readme["receivers"] if r["name"] == "healcrew") == hook  # type: ignore[index]
    rule = yaml.safe_load((DEPLOY / "prometheusrule.yaml").read_text())["spec"]["groups"][0]["rules"][0]
    shown = _readme_yaml("PrometheusRule")["spec"]["groups"][0]["rules"][0]  # type: ignore[index]
    assert shown["expr"].strip() == rule["expr"].strip() and shown["for"] == rule["for"]
    assert shown["annotations"]["restarts"] == rule["annotations"]["restarts"]
