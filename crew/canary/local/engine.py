"""The local canary run: the Rollout's steps executed against two real pods, a router and Prometheus.

Order of a run: check out both refs and build their environment images; start the restart
exporter, the router's metrics and Prometheus, and wait until Prometheus has scraped them (so a
first restart is seen as an increase); start both pods and wait for stable to be ready; start
the traffic; then the steps. ``setWeight`` moves the router's split (waiting first, bounded,
for the canary to answer or to have crashed: a crash-looping canary still gets its share, and
the analysis judges it); ``pause`` waits its scaled duration (an indefinite pause has no one to
promote it and ends at once: the analysis and the judge decide); ``analysis`` runs the
templates. After each pause and analysis the judge compares the step's windows. A failed
analysis or a failing verdict aborts: the weight goes back to 0, the candidate is stopped, and a
short check records that traffic is back on stable. Past the global deadline the run ends
``timed_out`` the same way. Everything is torn down in ``finally``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crew.canary.local import judging
from crew.canary.local.analysis import AnalysisOutcome, resolve_args, run_analysis, substitute
from crew.canary.local.bridge import EXIT_LINE as BRIDGE_EXIT
from crew.canary.local.builds import Build, check_out, ensure_image, repo_root, resolve_ref
from crew.canary.local.dockerfile import read_image_config
from crew.canary.local.pods import Pod, PodSpec, RestartExporter, remove_run_containers
from crew.canary.local.prometheus import SCRAPE_INTERVAL, Prometheus, serve_registry
from crew.canary.local.router import Router
from crew.canary.local.scaling import check_scale
from crew.canary.local.spec import (
    RolloutSpec,
    Step,
    TemplateSpec,
    parse_rollout,
    parse_template,
    read_manifest,
    start_command,
)
from crew.canary.local.traffic import RecordedRequest, TrafficDriver, TrafficPlan
from crew.errors import BadInputError, SandboxError
from crew.handoffs import CanaryResult, CanaryStep, JudgeVerdict
from sandbox.config import SandboxConfig

DEFAULT_TIME_SCALE = 0.08
"""Pauses of 2 min become 9.6 s, a 1 min interval 4.8 s: the flagship's steps take about 45 s."""
MIN_RANGE = 4 * SCRAPE_INTERVAL
READY_TIMEOUT = 60.0
"""Seconds a pod may take to answer its readiness probe (real seconds: start-up is not scaled)."""
ABORT_CHECK = 2.0
"""Seconds of traffic observed after an abort, to show that it is all on stable again."""
STARTUP_ALLOWANCE = 180.0
TRAFFIC_FILE = Path("deploy") / "canary-traffic.yaml"


class _Stopped(Exception):
    """The global deadline passed."""


@dataclass
class _Pieces:
    """What a run started, for the teardown."""

    tmp: Path
    client: Any = None
    builds: tuple[Build, ...] = ()
    pods: tuple[Pod, ...] = ()
    router: Router | None = None
    servers: tuple[Any, ...] = ()
    prometheus: Prometheus | None = None
    driver: TrafficDriver | None = None
    run_id: str = ""


def planned_seconds(spec: RolloutSpec, template: TemplateSpec, scale: float) -> float:
    """Scaled wall time of the steps when every analysis runs to its count."""
    total = 0.0
    for step in spec.steps:
        if step.kind == "pause" and step.pause:
            total += step.pause * scale
        elif step.kind == "analysis":
            total += max(((m.count - 1) * (m.interval or 0) + m.initial_delay) * scale for m in template.metrics)
        total += judging.WINDOW if step.kind != "setWeight" else 0.0
    return total


def default_traffic(service_dir: Path, spec: RolloutSpec) -> TrafficPlan:
    """The service's own traffic file when it has one, else its readiness path alone."""
    if (service_dir / TRAFFIC_FILE).is_file():
        return TrafficPlan.from_file(service_dir / TRAFFIC_FILE)
    path = spec.readiness.path if spec.readiness else "/"
    return TrafficPlan(requests=[RecordedRequest(method="GET", path=path)])


def _pod_name(rollout: str, build: Build, side: str) -> str:
    suffix = hashlib.sha256(f"{side}{build.commit}".encode()).hexdigest()[:5]
    return f"{rollout}-{build.pod_hash}-{suffix}"


class LocalCanary:
    """One run (see the module docstring)."""

    def __init__(self, service_dir: Path, stable_ref: str, candidate_ref: str, spec: RolloutSpec,
                 template: TemplateSpec, scale: float, plan: TrafficPlan, say: Callable[[str], None]) -> None:
        self.service_dir = service_dir
        self.refs = {"stable": stable_ref, "canary": candidate_ref}
        self.spec = spec
        self.template = template
        self.scale = scale
        self.plan = plan
        self.say = say
        self.steps: list[CanaryStep] = []
        self.origin = time.monotonic()
        self._prom: Prometheus | None = None
        self.deadline = self.origin + STARTUP_ALLOWANCE + 3 * planned_seconds(spec, template, scale)

    # ------------------------------------------------------------------ the run

    def run(self) -> CanaryResult:
        started = time.monotonic()
        pieces = _Pieces(tmp=Path(tempfile.mkdtemp(prefix="healcrew-canary-")), run_id=uuid.uuid4().hex[:12])
        try:
            result = self._run(pieces)
        finally:
            self._teardown(pieces)
        result.seconds = round(time.monotonic() - started, 2)
        return result

    def _run(self, p: _Pieces) -> CanaryResult:
        from sandbox.docker_backend import connect
        from sandbox.errors import SandboxError as SandboxFailure

        try:
            p.client = connect(timeout=120, ping_timeout=5)
        except SandboxFailure as exc:
            raise SandboxError(f"the local canary needs Docker: {exc}") from None
        top, sub = repo_root(self.service_dir)
        builds = []
        for side in ("stable", "canary"):
            self.say(f"checking out {side} {self.refs[side]}")
            builds.append(check_out(top, sub, self.refs[side]))
            p.builds = tuple(builds)
        config = SandboxConfig()
        for side, build in zip(("stable", "canary"), builds, strict=True):
            self.say(f"environment image of {side} {build.commit[:12]}")
            ensure_image(p.client, build, config, self.say)
        hashes = {"stable": builds[0].pod_hash, "canary": builds[1].pod_hash}
        names = {side: _pod_name(self.spec.name, b, side) for side, b in zip(("stable", "canary"), builds, strict=True)}
        exporter = RestartExporter()
        counters = {side: exporter.series(self.spec.namespace, names[side], self.spec.container) for side in names}
        sockets = {}
        for side in names:
            folder = p.tmp / f"{side}-sock"
            folder.mkdir()
            os.chmod(folder, 0o777)  # the container's user (not ours) creates the socket here
            sockets[side] = folder
        router = p.router = Router({s: f / "svc.sock" for s, f in sockets.items()},
                                   {"stable": self.spec.stable_service, "canary": self.spec.canary_service},
                                   self.spec.namespace, seed=self.plan.seed, timeout=self.plan.timeout)
        mesh_server, mesh_port = serve_registry(router.registry)
        ksm_server, ksm_port = serve_registry(exporter.registry)
        p.servers = (mesh_server, ksm_server)
        (p.tmp / "prometheus").mkdir()
        targets = {"istio-mesh": mesh_port, "kube-state-metrics": ksm_port}
        prom = p.prometheus = Prometheus(p.tmp / "prometheus", targets)
        self._prom = prom
        self.say("starting prometheus")
        prom.start()
        prom.wait_for_series('kube_pod_container_status_restarts_total{job="kube-state-metrics"}', 2, 30)
        lifetime = self.deadline - time.monotonic() + 60
        pods = []
        for side, build in zip(("stable", "canary"), builds, strict=True):
            pods.append(Pod(p.client, self._pod_spec(side, build, names[side], sockets[side], p.run_id, lifetime),
                            counters[side], self.say))
        p.pods = tuple(pods)
        for pod in pods:
            pod.start()
        stable, canary = pods
        probe = self.spec.readiness.path if self.spec.readiness else "/"
        self.say(f"waiting for stable {names['stable']} to be ready")
        if not self._wait(lambda: stable.ready(probe), READY_TIMEOUT):
            return self._result("not_run", f"the stable build {self.refs['stable']} never answered {probe} within "
                                f"{READY_TIMEOUT:g} s{_last_line(stable.last_logs)}")
        p.driver = TrafficDriver(self.plan, router.serve())
        p.driver.start()
        self.origin = time.monotonic()
        self.say(f"traffic at {self.plan.rate:g} req/s; running {len(self.spec.steps)} steps (time scale "
                 f"{self.scale:g})")
        return self._steps(router, canary, hashes, probe)

    def _pod_spec(self, side: str, build: Build, pod: str, sockets: Path, run_id: str, lifetime: float) -> PodSpec:
        image = read_image_config(build.service_path / "Dockerfile")
        command = start_command(self.spec.pod_container, image.entrypoint, image.cmd)
        if not command:
            raise BadInputError(f"{build.ref}: no start command (the Rollout's container has no command and the "
                                "Dockerfile no CMD)")
        port = self.spec.port or image.port
        if port is None:
            raise BadInputError(f"{build.ref}: no port (no containerPort in the Rollout, no EXPOSE in the Dockerfile)")
        workdir = str(self.spec.pod_container.get("workingDir") or image.workdir)
        return PodSpec(side=side, pod=pod, namespace=self.spec.namespace, container=self.spec.container,
                       image=build.image, checkout=build.service_path, workdir="/app" if workdir == "/" else workdir,
                       command=command, port=port, socket_dir=sockets, run_id=run_id, lifetime=lifetime,
                       time_scale=self.scale, memory_bytes=self.spec.memory_bytes, cpus=self.spec.cpus,
                       env=image.env)

    # ------------------------------------------------------------------ steps

    def _steps(self, router: Router, canary: Pod, hashes: dict[str, str], probe: str) -> CanaryResult:
        try:
            for step in self.spec.steps:
                failure = self._step(step, router, canary, hashes, probe)
                if failure:
                    return self._abort(router, canary, "aborted", failure)
                if time.monotonic() > self.deadline:
                    raise _Stopped
        except _Stopped:
            return self._abort(router, canary, "timed_out", "the canary passed its deadline of "
                               f"{self.deadline - self.origin:.0f} s")
        if router.weight != 100:
            router.set_weight(100)
        overall = judging.judge_all(router.between(self.origin, time.monotonic()), self.origin)
        score = f"; judge score {overall.score:.0f}" if overall else ""
        return self._result("promoted", f"all {len(self.steps)} steps passed{score}", judge=overall, final_weight=100)

    def _step(self, step: Step, router: Router, canary: Pod, hashes: dict[str, str], probe: str) -> str | None:
        start = time.monotonic()
        note = ""
        analysis: AnalysisOutcome | None = None
        if step.kind == "setWeight":
            assert step.weight is not None
            if step.weight > 0 and router.weight == 0:
                self._wait(lambda: canary.ready(probe) or canary.restarts > 0, READY_TIMEOUT)
            router.set_weight(step.weight)
            self.say(f"step {step.index}: setWeight {step.weight}")
            self.steps.append(CanaryStep(index=step.index, kind="setWeight", weight=step.weight,
                                         started=round(start - self.origin, 3),
                                         seconds=round(time.monotonic() - start, 3)))
            return None
        if step.kind == "pause":
            if step.indefinite:
                note = "indefinite pause promoted automatically: no one to promote it here, the analysis decides"
            else:
                assert step.pause is not None
                self.say(f"step {step.index}: pause {step.pause * self.scale:.1f} s")
                if not self._sleep(step.pause * self.scale):
                    raise _Stopped
        else:
            self.say(f"step {step.index}: analysis {', '.join(step.templates)}")
            analysis = self._analysis(step, hashes)
        end = time.monotonic()
        observed = router.between(start, end)
        metrics, verdict = judging.judge_step(observed, self.origin)
        requests = {side: sum(1 for o in observed if o.side == side) for side in ("canary", "stable")}
        idle = [side for side, n in requests.items() if n == 0]
        if verdict is None and idle and step.kind != "setWeight":
            note = "; ".join(filter(None, [note, f"not judged: {idle[0]} served no traffic in this step"]))
        failure = None
        if analysis is not None and analysis.phase != "Successful":
            failure = f"step {step.index} (analysis {', '.join(step.templates)}): {analysis.message}"
        elif verdict is not None and verdict.verdict == "fail":
            failure = f"step {step.index} ({step.kind}): judge {verdict.reason}"
        self.steps.append(CanaryStep(
            index=step.index, kind=step.kind, weight=router.weight, started=round(start - self.origin, 3),
            seconds=round(end - start, 3), requests=requests, metrics=metrics,
            analysis=analysis.measurements if analysis else [], judge=verdict,
            outcome="failed" if failure else "passed", note=note))
        if failure:
            self.say(f"step {step.index}: failed: {failure}")
        elif verdict is not None:
            self.say(f"step {step.index}: {verdict.reason}")
        return failure

    def _analysis(self, step: Step, hashes: dict[str, str]) -> AnalysisOutcome:
        for name in step.templates:
            if name != self.template.name:
                raise BadInputError(f"step {step.index} names AnalysisTemplate {name}, but the template given is "
                                    f"{self.template.name}")
        args = resolve_args(self.template, step.args, rollout=self.spec.name, namespace=self.spec.namespace,
                            hashes=hashes)
        metrics = [(self.template.name, m, substitute(m.query, args)) for m in self.template.metrics]
        prom = self._prom
        assert prom is not None
        return run_analysis(metrics, prom.query, time_scale=self.scale, min_range=MIN_RANGE,
                            clock=lambda: time.monotonic() - self.origin, sleep=self._sleep)

    def _abort(self, router: Router, canary: Pod, decision: str, reason: str) -> CanaryResult:
        router.set_weight(0)
        mark = time.monotonic()
        if canary.restarts:  # the metrics say what the traffic saw; this says why
            reason += (f"; the canary restarted {canary.restarts} time(s) (last exit code {canary.exits[-1]})"
                       f"{_last_line(canary.last_logs)}")
        self.say(f"abort: all traffic back on stable; {reason}")
        canary.stop()
        overall = judging.judge_all(router.between(self.origin, mark), self.origin)
        time.sleep(ABORT_CHECK)
        after = router.between(mark, time.monotonic())
        counts = {side: sum(1 for o in after if o.side == side) for side in ("canary", "stable")}
        return self._result(decision, reason, judge=overall, final_weight=0, after_abort=counts)

    # ------------------------------------------------------------------ helpers

    def _result(self, decision: str, reason: str, *, judge: JudgeVerdict | None = None, final_weight: int = 0,
                after_abort: dict[str, int] | None = None) -> CanaryResult:
        return CanaryResult(backend="local", decision=decision, reason=reason,  # type: ignore[arg-type]
                            stable=self.refs["stable"], candidate=self.refs["canary"], time_scale=self.scale,
                            steps=self.steps, judge=judge, final_weight=final_weight, after_abort=after_abort or {})

    def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False (at once) when the global deadline comes first."""
        end = time.monotonic() + seconds
        if end > self.deadline:
            time.sleep(max(0.0, self.deadline - time.monotonic()))
            return False
        time.sleep(max(0.0, seconds))
        return True

    def _wait(self, check: Callable[[], bool], timeout: float) -> bool:
        end = min(time.monotonic() + timeout, self.deadline)
        while time.monotonic() < end:
            if check():
                return True
            time.sleep(0.2)
        return check()

    def _teardown(self, p: _Pieces) -> None:
        steps: list[Callable[[], Any]] = []
        if p.driver is not None:
            steps.append(p.driver.stop)
        steps += [pod.stop for pod in p.pods]
        if p.client is not None and p.run_id:
            steps.append(lambda: remove_run_containers(p.client, p.run_id))
        if p.router is not None:
            steps.append(p.router.close)
        for server in p.servers:
            steps += [server.shutdown, server.server_close]
        if p.prometheus is not None:
            steps.append(p.prometheus.stop)
        steps += [b.workspace.close for b in p.builds]
        if p.client is not None:
            steps.append(p.client.close)
        for stop in steps:
            with contextlib.suppress(Exception):
                stop()
        shutil.rmtree(p.tmp, ignore_errors=True)


def _last_line(logs: str) -> str:
    """The service's last log line (the bridge's own closing line, which says only the exit code, left out)."""
    lines = [ln for ln in logs.splitlines() if ln.strip() and not ln.startswith(BRIDGE_EXIT)]
    return f"; last log line: {lines[-1][:200]}" if lines else ""


def prepare(service_dir: Path, stable_ref: str, candidate_ref: str, rollout: Path | None,
            analysis_template: Path | None, time_scale: float | None, traffic: TrafficPlan | None,
            progress: Callable[[str], None] | None) -> LocalCanary:
    """Every input checked (manifests, refs, scale) before anything heavy starts."""
    scale = check_scale(DEFAULT_TIME_SCALE if time_scale is None else time_scale)
    service_dir = Path(service_dir)
    top, _sub = repo_root(service_dir)
    spec = parse_rollout(read_manifest(rollout or service_dir / "deploy" / "rollout.yaml", "Rollout"))
    template = parse_template(read_manifest(analysis_template or service_dir / "deploy" / "analysis-template.yaml",
                                            "AnalysisTemplate"))
    for ref in (stable_ref, candidate_ref):
        resolve_ref(top, ref)
    say = progress or (lambda _line: None)
    for line in spec.skipped:
        say(line)
    return LocalCanary(service_dir, stable_ref, candidate_ref, spec, template, scale,
                       traffic or default_traffic(service_dir, spec), say)
