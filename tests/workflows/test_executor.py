"""The argo executor against a loopback Argo Server: submit, follow, retry, fail, refuse a second run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from crew.service.metrics import Metrics
from crew.workflows.executor import ArgoPipeline, WorkflowError
from crew.workflows.settings import ArgoSettings
from tests.replay_server import ReplayServer
from tests.workflows.argo_replay import FakeArgo

Seen = list[tuple[str, dict[str, Any]]]


def _pipeline(server: ReplayServer, tmp_path: Path, seen: Seen | None = None) -> ArgoPipeline:
    settings = ArgoSettings(server=server.url, namespace="healcrew", poll_seconds=0.05, retries=2)
    progress = (lambda incident_id, p: seen.append((incident_id, p))) if seen is not None else None
    return ArgoPipeline(settings, tmp_path / "out", Metrics(), progress=progress)


def _wait_phase(fake: FakeArgo, name: str, phase: str) -> None:
    deadline = time.monotonic() + 30
    while fake.workflows[("healcrew", name)]["status"]["phase"] != phase:
        assert time.monotonic() < deadline, fake.workflows[("healcrew", name)]["status"]
        time.sleep(0.05)


def test_monitor_submits_and_returns_the_monitor_steps_signature(argo: tuple[FakeArgo, ReplayServer],
                                                                 tmp_path: Path, incident: Any) -> None:
    fake, server = argo
    seen: Seen = []
    pipe = _pipeline(server, tmp_path, seen)
    run, signature = pipe.monitor(incident)
    from crew.agents.monitoring import monitor

    local = monitor(incident)  # the same stage, run here: the step computed the same signature
    assert signature == local.groups[0].signature
    post = next(r for r in server.requests if r.method == "POST")
    assert post.path == "/api/v1/workflows/healcrew"
    assert seen and seen[-1][0] == incident.correlation_id and seen[-1][1]["name"] == run.name
    assert any(n["name"] == "monitor" and n["phase"] == "Succeeded" for n in seen[-1][1]["nodes"])
    pipe.discard(run, "test over")
    assert fake.workflows[("healcrew", run.name)]["status"]["phase"] == "Failed"
    assert "Stopped" in fake.workflows[("healcrew", run.name)]["status"]["message"]


def test_a_resubmission_gets_409_and_adopts_a_running_workflow_but_never_reruns_a_finished_one(
        argo: tuple[FakeArgo, ReplayServer], tmp_path: Path, incident: Any) -> None:
    fake, server = argo
    pipe = _pipeline(server, tmp_path)
    first = pipe.submit(incident)
    again = pipe.submit(incident)  # the same incident, e.g. after an approval re-queued it
    assert again.name == first.name and fake.created == 1
    assert sum(r.method == "POST" for r in server.requests) == 2
    pipe.discard(first, "test over")
    with pytest.raises(WorkflowError, match="already ran .*not run twice"):
        pipe.submit(incident)
    assert fake.created == 1


def test_an_evicted_step_is_retried_and_the_attempts_show(argo: tuple[FakeArgo, ReplayServer], tmp_path: Path,
                                                           incident: Any) -> None:
    fake, server = argo
    fake.evict = {"monitor": 1}
    seen: Seen = []
    pipe = _pipeline(server, tmp_path, seen)
    run, signature = pipe.monitor(incident)
    assert signature
    nodes = {n["displayName"]: n["phase"] for n in fake.workflows[("healcrew", run.name)]["status"]["nodes"].values()}
    assert nodes["monitor(0)"] == "Error" and nodes["monitor(1)"] == "Succeeded" and nodes["monitor"] == "Succeeded"
    pipe.discard(run, "test over")


def test_a_failed_step_fails_the_run_with_the_step_and_its_reason(argo: tuple[FakeArgo, ReplayServer],
                                                                  tmp_path: Path, incident: Any) -> None:
    fake, server = argo
    fake.corrupt = {"diagnose"}  # the step gets a broken record: it fails for real, and is not retried
    seen: Seen = []
    pipe = _pipeline(server, tmp_path, seen)
    run, _ = pipe.monitor(incident)
    with pytest.raises(WorkflowError) as caught:
        pipe.finish(run)
    message = str(caught.value)
    assert "Failed: step diagnose" in message and "exit code 2" in message and "is not a flow state" in message
    assert len(message.splitlines()) == 1
    attempts = [n for n in fake.workflows[("healcrew", run.name)]["status"]["nodes"].values()
                if n["displayName"].startswith("diagnose(")]
    assert len(attempts) == 1  # OnError: a step's own failure is not retried
    assert seen[-1][1]["phase"] == "Failed"
    assert {"name": "diagnose", "phase": "Failed"}.items() <= next(
        n for n in seen[-1][1]["nodes"] if n["name"] == "diagnose").items()


def test_an_unreachable_argo_server_is_one_line(tmp_path: Path, incident: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pipe = ArgoPipeline(ArgoSettings(server=f"http://127.0.0.1:{port}"), tmp_path, Metrics())
    with pytest.raises(WorkflowError, match="did not answer|create failed"):
        pipe.monitor(incident)
    with pytest.raises(Exception, match="needs the Argo Server URL"):
        ArgoPipeline(ArgoSettings(), tmp_path, Metrics())


@pytest.mark.docker
def test_without_a_planned_canary_the_canary_step_is_skipped_and_the_workflow_succeeds(
        docker_client: Any, argo: tuple[FakeArgo, ReplayServer], tmp_path: Path, incident: Any) -> None:
    fake, server = argo
    pipe = _pipeline(server, tmp_path)
    run, _ = pipe.monitor(incident)
    assert pipe.finish(run).outcome == "fixed"
    pipe.plan_canary(run, None)
    link, _summary, _pushed = pipe.deliver(run, "local", {"push": False})
    assert link
    _wait_phase(fake, run.name, "Succeeded")
    nodes = {n["displayName"]: n for n in fake.workflows[("healcrew", run.name)]["status"]["nodes"].values()}
    assert nodes["canary"]["type"] == "Skipped" and nodes["canary"]["phase"] == "Skipped"
    decide = {p["name"]: p["value"] for p in nodes["decide"]["outputs"]["parameters"]}
    assert decide["canary_backend"] == "off" and decide["canary"] == "{}"
    with pytest.raises(Exception, match="canary step was skipped"):
        pipe.canary(run, "argo", None, None)
