"""``healcrew canary`` and ``--canary`` on run/replay: inputs checked first, one line per error, the documented
exit codes, canary.json and canary.html written; the canary stage after a delivery, with its runner injected."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crew.canary.manifests import canary_steps, load_manifests
from crew.cli_canary import CanaryOptions, run_command
from crew.flow import FlowState, Stages
from crew.handoffs import CanaryResult, CanaryStep, DeliveryRecord, RunReport, StepMetric
from tests.canary.test_argo_driver import PROGRESS, FakeArgo, _driver, _timed_pause_ends
from tests.replay_server import ReplayServer, serving

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "examples" / "incidents" / "pricing-zero-division"
FIXTURE = ROOT / "tests" / "delivery" / "fixtures" / "flagship_report.json"
DEPLOYED = "755d4d7d14f8272059b2183deb61df1f37d217ef"
GUARD = "    if not d:\n        return p\n"


def healcrew(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "HEALCREW_DEBUG"}
    return subprocess.run([sys.executable, "-m", "crew.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**environ, "HEALCREW_CACHE": str(tmp_path / "cache"), **env}, check=False)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The flagship example as a git repository, with a branch holding the known fix: (repo, fix sha)."""
    from crew.history import materialize

    repo = materialize(ROOT / "examples" / "pricing-service", tmp_path_factory.mktemp("materialized"))
    work = tmp_path_factory.mktemp("work") / "pricing-service"
    git(repo.parent, "clone", "-q", str(repo), str(work))
    pricing = work / "app" / "pricing.py"
    pricing.write_text(pricing.read_text().replace("    return p / d\n", GUARD + "    return p / d\n", 1))
    git(work, "commit", "-qam", "Guard the zero divisor")
    return work, git(work, "rev-parse", "HEAD")


class GitRunner:
    """A runner with the local canary's signature that reads both refs from git and walks the Rollout's steps.

    It stands in for the engine's traffic: the candidate "serves errors" unless its ``calc`` guards the zero
    divisor, read from the candidate commit itself, so the decision follows what the refs really hold.
    """

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, service_dir: Path, stable_ref: str, candidate_ref: str, *, rollout: Path | None = None,
                 analysis_template: Path | None = None, time_scale: float | None = None, traffic: Any = None,
                 progress: Any = None) -> CanaryResult:
        self.calls.append({"service": service_dir, "stable": stable_ref, "candidate": candidate_ref,
                           "time_scale": time_scale})
        fixed = GUARD in git(service_dir, "show", f"{candidate_ref}:app/pricing.py")
        git(service_dir, "cat-file", "-e", f"{stable_ref}^{{commit}}")
        steps_spec = canary_steps(load_manifests(service_dir).rollouts[0].body)
        steps, weight = [], 0
        for i, spec in enumerate(steps_spec):
            weight = spec.get("setWeight", weight)
            bad = not fixed and "analysis" in spec
            steps.append(CanaryStep(index=i, kind=next(iter(spec)), weight=weight, started=i, seconds=1.0,  # type: ignore[arg-type]
                                    metrics=[StepMetric(name="error_rate", canary=0.2 if not fixed else 0.0,
                                                        stable=0.05)],
                                    outcome="failed" if bad else "passed"))
            if progress:
                progress(f"step {i + 1}: {next(iter(spec))}")
            if bad:
                return CanaryResult(backend="local", decision="aborted", reason=f"analysis failed at step {i + 1}",
                                    stable=stable_ref, candidate=candidate_ref, steps=steps, time_scale=time_scale or 1)
        return CanaryResult(backend="local", decision="promoted", reason="every step passed", stable=stable_ref,
                            candidate=candidate_ref, steps=steps, time_scale=time_scale or 1.0)


# --------------------------------------------------------------------------- healcrew canary


def test_a_fixed_candidate_promotes_and_the_deployed_one_aborts(service: tuple[Path, str], tmp_path: Path) -> None:
    repo, fix = service
    runner, said = GitRunner(), []
    opts = CanaryOptions(service=repo, stable=DEPLOYED, candidate=fix, out_dir=tmp_path / "ok", time_scale=0.05)
    assert run_command(opts, runner=runner, say=said.append) == 0
    assert runner.calls == [{"service": repo, "stable": DEPLOYED, "candidate": fix, "time_scale": 0.05}]
    result = CanaryResult.model_validate_json((tmp_path / "ok" / "canary.json").read_text())
    assert result.decision == "promoted" and [s.weight for s in result.steps] == [20, 20, 20, 50, 50, 50, 100, 100]
    assert "8 of 8 step(s) passed" in (tmp_path / "ok" / "canary.html").read_text()
    assert said[0].startswith("the canary manifests have 3 problem(s)") and said[-1].startswith("canary promoted")
    bad = dataclasses.replace(opts, candidate=DEPLOYED, out_dir=tmp_path / "bad")
    assert run_command(bad, runner=GitRunner(), say=said.append) == 1
    assert json.loads((tmp_path / "bad" / "canary.json").read_text())["decision"] == "aborted"


def test_the_argo_backend_gives_the_same_record(service: tuple[Path, str], tmp_path: Path) -> None:
    with serving() as server:
        fake = FakeArgo(copy.deepcopy(PROGRESS))
        _timed_pause_ends(fake)
        server.handler = fake
        opts = CanaryOptions(backend="argo", service=service[0], image="pricing:1.3.1", out_dir=tmp_path, timeout=60,
                             poll=0.01)
        code = run_command(opts, api_client=_fast_client(server))
    assert code == 0
    result = CanaryResult.model_validate_json((tmp_path / "canary.json").read_text())
    assert result.backend == "argo" and result.stable == "pricing:1.3.0" and result.candidate == "pricing:1.3.1"
    assert [(s.index, s.kind, s.weight) for s in result.steps] == [
        (0, "setWeight", 20), (1, "pause", 20), (2, "analysis", 20), (3, "setWeight", 50), (4, "pause", 50),
        (5, "setWeight", 100)]
    assert result.steps[2].analysis == [] and result.steps[3].analysis[0].phase == "Successful"
    assert all(s.outcome == "passed" for s in result.steps)


def _fast_client(server: ReplayServer) -> Any:
    driver = _driver(server)
    return driver.api.api_client


def test_an_argo_analysis_failure_is_an_aborted_canary_with_the_failed_step(tmp_path: Path) -> None:
    from crew.canary.run import ArgoTarget, run_argo

    with serving() as server:
        server.handler = FakeArgo([{"phase": "Progressing", "currentStepIndex": 0},
                                   {"phase": "Progressing", "currentStepIndex": 2, "runs": {"h-1": "Failed"}}])
        target = ArgoTarget(namespace="shop", rollout="pricing-service", container="pricing", image="p:2", poll=0.01)
        result = run_argo(target, api_client=_fast_client(server))
    assert result.decision == "aborted" and "h-1 Failed" in result.reason
    assert [(s.index, s.outcome) for s in result.steps] == [(0, "passed"), (2, "failed")]
    assert result.steps[-1].analysis[0].phase == "Failed"


@pytest.mark.parametrize(("args", "message"), [
    (["canary", "--backend", "k8s"], "healcrew: --backend must be local or argo, not 'k8s'"),
    (["canary", "--service", "nowhere", "--stable", "a", "--candidate", "b"], "healcrew: --service nowhere is not a "
                                                                              "folder"),
    (["canary", "--service", "examples/pricing-service", "--stable", "HEAD"],
     "healcrew: the local canary needs --candidate"),
    (["canary", "--backend", "argo", "--service", "examples/pricing-service"],
     "healcrew: the argo canary needs --image (or a --service whose manifests name them)"),
    (["canary", "--time-scale", "0", "--service", "x"], "healcrew: Invalid value for '--time-scale'"),
    (["canary", "check", "nowhere"], "healcrew: nowhere is not a folder"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = healcrew(args, tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr


def test_a_ref_that_is_not_a_commit_and_missing_credentials_are_one_line(service: tuple[Path, str],
                                                                        tmp_path: Path) -> None:
    proc = healcrew(["canary", "--service", str(service[0]), "--stable", "no-such-ref", "--candidate", "HEAD"],
                    tmp_path)
    assert proc.returncode == 2 and proc.stderr == "healcrew: --stable 'no-such-ref' is not a commit of " \
                                                   "pricing-service\n"
    proc = healcrew(["canary", "--backend", "argo", "--service", str(service[0]), "--image", "p:2"], tmp_path,
                    HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "none"), KUBERNETES_SERVICE_HOST="")
    assert proc.returncode == 2 and proc.stderr.startswith("healcrew: ") and proc.stderr.count("\n") == 1
    assert "kube" in proc.stderr.lower() and not (tmp_path / "out").exists()


def test_check_lists_the_problems_and_init_writes_a_pair_that_passes(tmp_path: Path) -> None:
    from crew.canary.manifests import find_crds

    proc = healcrew(["canary", "check", "examples/pricing-service"], tmp_path)
    assert proc.returncode == 1 and len(proc.stdout.splitlines()) == 3
    assert all(line.startswith("deploy/analysis-template.yaml (AnalysisTemplate pricing-service-health): ")
               for line in proc.stdout.splitlines())
    (tmp_path / "svc").mkdir()
    init = healcrew(["canary", "init", str(tmp_path / "svc"), "--name", "ledger", "--namespace", "money"], tmp_path)
    assert init.returncode == 0 and init.stderr.count("wrote ") == 2
    proc = healcrew(["canary", "check", str(tmp_path / "svc"), "--json"], tmp_path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"problems": [], "schema_checked": find_crds() is not None}
    again = healcrew(["canary", "init", str(tmp_path / "svc")], tmp_path)
    assert again.returncode == 2 and "does not overwrite" in again.stderr


# --------------------------------------------------------------------------- --canary on run and replay


@pytest.mark.parametrize(("extra", "message"), [
    (["--canary", "sometimes"], "healcrew: --canary must be local, argo or off, not 'sometimes'"),
    (["--canary", "argo"], "healcrew: --canary argo needs --canary-image"),
    (["--canary", "argo", "--canary-image", "pricing:1.3.1"], "healcrew: no Kubernetes credentials for the argo "
                                                             "canary: Invalid kube-config file. No configuration "
                                                             "found."),
    (["--canary", "local", "--deliver", "none"], "healcrew: --canary local runs after delivery; it cannot run with "
                                                 "--deliver none"),
])
def test_replay_checks_the_canary_options_before_any_work(extra: list[str], message: str, tmp_path: Path) -> None:
    proc = healcrew(["replay", str(BUNDLE), "--out", str(tmp_path / "out"), *extra], tmp_path, HOME=str(tmp_path),
                    KUBECONFIG=str(tmp_path / "none"), KUBERNETES_SERVICE_HOST="")
    assert proc.returncode == 2 and proc.stderr == message + "\n" and proc.stdout == ""
    assert not (tmp_path / "out").exists()


def _delivered(service: tuple[Path, str], tmp_path: Path, **record: Any) -> FlowState:
    report = RunReport.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    report.incident.repo = str(service[0])
    values: dict[str, Any] = {"incident_id": report.incident.id, "forge": "local", "branch": "healcrew/x",
                              "base_commit": DEPLOYED}
    delivery = DeliveryRecord(**(values | record))
    (tmp_path / "PR.md").write_text("as delivered\n")
    return FlowState(id="r", incident=report.incident, evidence=report.evidence, diagnosis=report.diagnosis,
                     attempts=report.attempts, accepted=report.accepted, repair_enabled=True, deliver="local",
                     delivery=delivery, out_dir=str(tmp_path), canary_backend="local", canary_time_scale=0.1)


def test_the_canary_stage_runs_the_delivered_fix_against_the_deployed_commit(service: tuple[Path, str],
                                                                             tmp_path: Path) -> None:
    """Nothing pushed: the validated patch is committed on the deployed commit in a clone healcrew owns."""
    state, runner = _delivered(service, tmp_path), GitRunner()
    Stages(state, canary_runner=runner).canary()
    (call,) = runner.calls
    assert call["stable"] == DEPLOYED and call["candidate"] != DEPLOYED and call["time_scale"] == 0.1
    assert call["service"] != service[0] and not Path(call["service"]).exists()  # a temp clone, gone after
    assert state.canary is not None and state.canary.decision == "promoted"
    assert [t.stage for t in state.timings] == ["canary"] and state.timings[0].status == "ok"
    assert "- **Canary:** promoted on the local canary after 8 of 8 step(s) passed" in (tmp_path / "PR.md").read_text()
    assert state.delivery is not None and state.delivery.notes == ["PR.md is rendered again with the canary's outcome"]
    assert git(service[0], "status", "--porcelain") == ""  # the operator's repository is untouched


def test_a_pushed_branch_is_fetched_and_the_policy_can_hold_the_canary(service: tuple[Path, str],
                                                                       tmp_path: Path) -> None:
    repo, fix = service
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "push", "-q", str(remote), f"{fix}:refs/heads/healcrew/x")
    origin = tmp_path / "origin"
    git(tmp_path, "clone", "-q", str(repo), str(origin))
    git(origin, "reset", "-q", "--hard", DEPLOYED)  # the operator's repo does not hold the fix; the remote does
    state = _delivered((origin, fix), tmp_path, commit=fix, pushed=True, remote=str(remote))
    runner = GitRunner()
    Stages(state, canary_runner=runner).canary()
    assert runner.calls[0]["candidate"] == fix and state.canary is not None and state.canary.decision == "promoted"
    held = _delivered((origin, fix), tmp_path, commit=fix, pushed=True, remote=str(remote))
    held.canary_allowed = False
    Stages(held, canary_runner=runner).canary()
    assert held.canary is None and len(runner.calls) == 1
    assert held.policy_decisions == ["canary not started: the policy does not let a canary start by itself"]


def test_a_canary_that_cannot_start_is_not_run_not_a_failed_fix(service: tuple[Path, str], tmp_path: Path) -> None:
    state = _delivered(service, tmp_path)
    state.canary_backend = "argo"  # without the Rollout's target
    Stages(state).canary()
    assert state.canary is not None and state.canary.decision == "not_run" and state.stopped_at is None
    assert "needs --canary-image" in state.canary.reason
    assert (tmp_path / "PR.md").read_text() == "as delivered\n"  # nothing ran, nothing claimed


# --------------------------------------------------------------------------- the whole run


@pytest.mark.docker
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_replaying_the_flagship_with_a_local_canary_promotes_its_fix(docker_client: Any, tmp_path: Path) -> None:
    """The issue's bar: the replay exits 0 and report.json holds a promoted canary with per-step metrics."""
    import importlib.util

    if importlib.util.find_spec("crew.canary.local") is None:
        if os.environ.get("CI") == "true" or os.environ.get("HEALCREW_REQUIRE_DOCKER") == "1":
            pytest.fail("this build has no local canary (crew.canary.local)")
        pytest.skip("this build has no local canary (crew.canary.local)")
    out = tmp_path / "out"
    proc = healcrew(["replay", str(BUNDLE), "--canary", "local", "--out", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = RunReport.model_validate_json((out / "report.json").read_text())
    assert report.outcome == "fixed" and report.canary is not None and report.canary.decision == "promoted"
    assert report.canary.stable == DEPLOYED and report.canary.candidate == report.delivery.commit  # type: ignore[union-attr]
    assert report.canary.steps and any(s.metrics for s in report.canary.steps)  # per-step metrics
    assert "- **Canary:** promoted on the local canary" in (out / "PR.md").read_text()
    assert '<section id="canary">' in (out / "report.html").read_text()
