"""The 2 AM path end to end, with the real components: the flagship pod crash-loops under the local
supervisor, Prometheus' KubePodCrashLooping rule fires, Alertmanager posts to ``healcrew serve``,
which reads the pod's log, diagnoses, repairs, validates in Docker and delivers the PR bundle to a
local bare remote. Prints the time from the alert firing to the pull request."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from crew.audit import verify_chain
from tests.e2e.stack import (
    DEPLOYED,
    POD,
    ROOT,
    env_image,
    flagship_repo,
    free_port,
    git,
    monitoring_stack,
    pod_command,
    wait_until,
)

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(300)]

BUDGET = 240.0  # seconds for the whole path


def service_config(tmp: Path, repo: Path, log: Path, remote: Path) -> Path:
    """The service config for the flagship: the repo with its history, the pod's log, a bare remote."""
    policy = tmp / "repair-policy.yaml"
    # The example policy, acting from the first restart: the rule's hold is cut to seconds here, so the
    # alert fires after one or two restarts (the threshold itself is tested in tests/policy/).
    text = (ROOT / "examples" / "service" / "repair-policy.yaml").read_text()
    assert "failure_threshold: 3" in text
    policy.write_text(text.replace("failure_threshold: 3", "failure_threshold: 1"))
    config = {
        "services": [{
            "name": POD["service"], "namespace": POD["namespace"], "container": POD["container"],
            "repo": {"path": str(repo), "branch": DEPLOYED},
            "logs": {"file": str(log)},
            "test_command": "python -m pytest -q",
            "policy": str(policy),
            "deliver": "local",
            "delivery": {"remote_url": str(remote), "push": True},
        }],
        "out_dir": str(tmp / "runs"),
    }
    path = tmp / "healcrew-service.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_crash_looping_pod_becomes_a_pull_request(tmp_path: Path, docker_client: Any) -> None:
    began = time.monotonic()
    cache = Path(os.environ.get("HEALCREW_CACHE") or tmp_path / "cache")
    repo, pod_tree = flagship_repo(tmp_path)
    image = env_image(pod_tree, cache)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    token = secrets.token_urlsafe(24)
    audit = tmp_path / "audit.jsonl"
    log = tmp_path / "pod.log"
    config = service_config(tmp_path, repo, log, remote)
    port = free_port()
    env = {**os.environ, "HEALCREW_WEBHOOK_TOKEN": token, "HEALCREW_CACHE": str(cache)}
    serve_out = (tmp_path / "serve.out").open("wb")
    serve = subprocess.Popen([sys.executable, "-m", "crew.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                              "--config", str(config), "--state", f"sqlite:///{tmp_path / 'state.db'}",
                              "--audit-log", str(audit)], cwd=ROOT, env=env, stdout=serve_out,
                             stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        wait_until(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 30, "healcrew serve")
        with monitoring_stack(tmp_path, pod=lambda run_id: pod_command(image, pod_tree, run_id),
                              webhook_url=f"{base}/alerts", token=token, deadline=BUDGET) as stack:
            firing = wait_until(stack.firing, 120, "the KubePodCrashLooping alert to fire")
            fired = time.monotonic()

            def fixed() -> list[dict[str, Any]] | None:
                page = httpx.get(f"{base}/incidents", headers=auth, timeout=5).json()
                ended = [i for i in page["items"] if i["status"] in ("rejected", "failed", "no_fix")]
                assert not ended, f"the incident ended without a fix: {ended[0]['status']}: {ended[0]['reason']}"
                done = [i for i in page["items"] if i["status"] == "fixed" and i["pr_url"]]
                return done or None

            incidents = wait_until(fixed, BUDGET - (fired - began), "an incident to reach fixed", every=1)
            delivered = time.monotonic()
            runs = [i for i in httpx.get(f"{base}/incidents", headers=auth, timeout=5).json()["items"]
                    if not i["folded_into"]]
        print(f"\nalert firing -> PR delivered: {delivered - fired:.1f} s (pod start to PR {delivered - began:.1f} s)")
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait(timeout=10)
        serve_out.close()
    assert firing[0]["labels"]["pod"] == POD["pod"]
    assert len(incidents) == 1 and len(runs) == 1, runs
    branches = git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").splitlines()
    assert len(branches) == 1 and branches[0].startswith("healcrew/pricing-service-"), branches
    changed = git(remote, "diff", "--name-only", DEPLOYED, branches[0]).splitlines()
    assert "app/pricing.py" in changed and any(p.startswith("tests/") for p in changed), changed
    check = verify_chain(audit)
    assert check.ok, check.reason
    actions = [json.loads(line)["action"] for line in audit.read_text().splitlines()]
    for action in ("alert_received", "run_started", "policy_decision", "branch_pushed", "pr_opened"):
        assert action in actions, actions
    assert actions.count("pr_opened") == 1
