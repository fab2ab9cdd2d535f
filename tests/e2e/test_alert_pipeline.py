"""The monitoring half of the 2 AM path, with the real components: the flagship pod crash-loops under
the supervisor, Prometheus' KubePodCrashLooping rule fires, Alertmanager posts the webhook."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import POD, env_image, flagship_repo, monitoring_stack, pod_command, wait_until
from tests.e2e.webhook import webhook_receiver

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(300)]


def test_a_crash_looping_pod_fires_the_rule_and_alertmanager_posts_the_webhook(
    tmp_path: Path, docker_client: Any,
) -> None:
    cache = Path(os.environ.get("HEALCREW_CACHE") or tmp_path / "cache")
    _repo, pod_tree = flagship_repo(tmp_path)
    image = env_image(pod_tree, cache)
    token = secrets.token_urlsafe(24)
    with webhook_receiver() as hook, monitoring_stack(
        tmp_path, pod=lambda run_id: pod_command(image, pod_tree, run_id), webhook_url=hook.url, token=token,
        deadline=200,
    ) as stack:
        started = time.monotonic()
        firing = wait_until(stack.firing, 150, "the KubePodCrashLooping alert to fire")
        fired = time.monotonic()
        wait_until(lambda: hook.posts, 60, "Alertmanager's webhook")
        posted = time.monotonic()
        print(f"\npod start -> alert firing {fired - started:.1f} s; firing -> webhook {posted - fired:.1f} s")
    assert firing[0]["labels"]["reason"] == "CrashLoopBackOff"
    post = hook.posts[0]
    assert post.authorization == f"Bearer {token}"
    body = post.body
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "healcrew"
    alert = body["alerts"][0]
    assert {k: alert["labels"][k] for k in POD} == POD
    assert alert["labels"]["alertname"] == "KubePodCrashLooping" and alert["fingerprint"]
    assert int(alert["annotations"]["restarts"]) >= 1
    log = stack.log.read_text()
    assert "ZeroDivisionError: float division by zero" in log
    assert 'File "/app/app/pricing.py", line 27, in calc' in log
    assert log.count("liveness probe failed: HTTP 500") >= 2
