"""The Kubernetes pod sandbox: every restriction in the pod spec, and runs through a replayed API.

The replayed API answers as the Kubernetes API documents (create, read, log, delete of pods and
ConfigMaps). Its "kubelet" runs the pod's real command, the wrapper, on a tiny repo this test
writes itself (trusted code, not a repo under repair), so the framed result the backend parses
is the one the wrapper really prints. The same replayed API serves ``Sandbox`` with the
``kubernetes`` backend, reached through a kubeconfig as a user would reach a cluster.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.api import choose_backend, prepare
from sandbox.config import SandboxConfig
from sandbox.errors import EngineUnavailableError, SandboxError
from sandbox.k8s_backend import INPUT, KubernetesBackend, egress_policy, sandbox_pod
from tests.replay_server import ReplayServer, Reply, Request, serving
from tests.sandbox.conftest import make_git_repo

NS = "healcrew"


def _serialize(obj: Any) -> dict[str, Any]:
    from kubernetes import client

    return client.ApiClient().sanitize_for_serialization(obj)  # type: ignore[no-any-return]


def _validate(doc: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_pod_spec_holds_every_restriction_and_validates() -> None:
    config = SandboxConfig(memory_mb=512, cpus=1.5)
    doc = _serialize(sandbox_pod("p1", "sbx:1", ["python", "-m", "pytest"], config, 120, "p1"))
    _validate(doc)
    spec = doc["spec"]
    assert spec["automountServiceAccountToken"] is False and spec["enableServiceLinks"] is False
    assert spec["activeDeadlineSeconds"] == 180 and spec["restartPolicy"] == "Never"
    assert not spec["hostNetwork"] and not spec["hostPID"] and not spec["hostIPC"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = spec["containers"]
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65534
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["resources"]["limits"] == {"cpu": "1.5", "memory": "512Mi", "ephemeral-storage": "1024Mi"}
    assert doc["metadata"]["labels"]["healcrew.dev/sandbox"] == "true"
    writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/work", "/tmp"}  # emptyDirs with size limits; nothing else is writable
    assert all(v.get("emptyDir", {}).get("sizeLimit") for v in spec["volumes"] if "emptyDir" in v)


def test_the_network_policy_denies_all_egress_of_sandbox_pods() -> None:
    doc = _serialize(egress_policy(NS))
    _validate(doc)
    assert doc["spec"]["podSelector"] == {"matchLabels": {"healcrew.dev/sandbox": "true"}}
    assert set(doc["spec"]["policyTypes"]) == {"Egress", "Ingress"}
    assert doc["spec"]["egress"] == [] and doc["spec"]["ingress"] == []


class FakeKube:
    """Pods and ConfigMaps in one namespace; a created pod's command runs at once (see the module doc)."""

    def __init__(self, tmp: Path, oom: bool = False, refuse_pods: int | None = None) -> None:
        self.tmp, self.oom, self.refuse_pods = tmp, oom, refuse_pods
        self.configmaps: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, str] = {}
        self.deleted: list[str] = []

    def __call__(self, req: Request) -> Reply:
        base = f"/api/v1/namespaces/{NS}/"
        kind, _, name = req.path.removeprefix(base).partition("/")
        if req.method == "POST" and kind == "configmaps":
            body = json.loads(req.body)
            self.configmaps[body["metadata"]["name"]] = body
            return 201, {"Content-Type": "application/json"}, req.body
        if req.method == "POST" and kind == "pods":
            if self.refuse_pods:
                return self.refuse_pods, {"Content-Type": "application/json"}, json.dumps(
                    {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": self.refuse_pods}).encode()
            body = json.loads(req.body)
            self._kubelet(body)
            return 201, {"Content-Type": "application/json"}, req.body
        if req.method == "GET" and kind == "pods" and name.endswith("/log"):
            return 200, {"Content-Type": "text/plain"}, self.logs[name.removesuffix("/log")].encode()
        if req.method == "GET" and kind == "pods" and name in self.pods:
            return 200, {"Content-Type": "application/json"}, json.dumps(self.pods[name]).encode()
        if req.method == "DELETE" and name:
            self.deleted.append(f"{kind}/{name}")
            (self.pods if kind == "pods" else self.configmaps).pop(name, None)
            return 200, {"Content-Type": "application/json"}, b'{"kind":"Status","status":"Success"}'
        return 404, {"Content-Type": "application/json"}, b'{"kind":"Status","code":404,"reason":"NotFound"}'

    def _kubelet(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        (c,) = pod["spec"]["containers"]
        folder = self.tmp / name
        work, inp = folder / "work", folder / "input"
        work.mkdir(parents=True)
        inp.mkdir()
        cm = self.configmaps[pod["spec"]["volumes"][2]["configMap"]["name"]]
        (inp / "repo.tar").write_bytes(base64.b64decode(cm["binaryData"]["repo.tar"]))
        argv = [sys.executable if a == "python3" else a for a in c["command"]]
        # python3 -I -c WRAPPER workdir cap timeout junit input command...: the pod's paths, here
        assert argv[4] == "/work" and argv[8] == INPUT
        argv[4], argv[8] = str(work), str(inp)
        if argv[7].startswith("/work/"):
            argv[7] = str(work) + argv[7].removeprefix("/work")
        if self.oom:
            log, state = "", {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
        else:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                  env={"PATH": "/usr/bin:/bin", "TMPDIR": str(folder)})
            log, state = done.stdout, {"terminated": {"exitCode": done.returncode, "reason": "Completed"}}
        self.logs[name] = log
        pod["status"] = {"phase": "Failed" if self.oom else "Succeeded",
                         "containerStatuses": [{"name": "run", "ready": False, "restartCount": 0, "image": c["image"],
                                                "imageID": "", "state": state}]}
        self.pods[name] = pod


def _repo_tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeKube, ReplayServer]]:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeKube(tmp_path)
    with serving(fake) as server:
        yield fake, server


def _backend(server: ReplayServer, **config: Any) -> KubernetesBackend:
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host, cfg.retries = server.url, 0
    return KubernetesBackend(client.CoreV1Api(client.ApiClient(cfg)), NS, SandboxConfig(**config), poll=0.01)


def test_a_run_returns_typed_results_and_leaves_no_pod_or_configmap(kube: tuple[FakeKube, ReplayServer]) -> None:
    fake, server = kube
    tar = _repo_tar({"calc.py": "import sys\nprint('out ' * 10)\nprint('oops', file=sys.stderr)\nsys.exit(3)\n"})
    result, junit = _backend(server).run(tar, "sbx:1", [sys.executable, "calc.py"], timeout=30)
    assert result.backend == "kubernetes" and result.exit_code == 3 and not result.ok
    assert result.stdout.startswith("out out") and result.stderr == "oops\n" and result.stdout_bytes == 41
    assert not result.timed_out and not result.oom_killed and junit is None
    created = [r for r in server.requests if r.method == "POST" and r.path.endswith("/pods")]
    assert len(created) == 1
    assert json.loads(created[0].body)["spec"]["automountServiceAccountToken"] is False
    assert sorted(x.split("/")[0] for x in fake.deleted) == ["configmaps", "pods"] and not fake.pods


def test_output_is_capped_head_and_tail_and_junit_comes_back(kube: tuple[FakeKube, ReplayServer]) -> None:
    _fake, server = kube
    script = ("print('A' * 3000 + 'B' * 3000)\n"
              "open('junit.xml', 'w').write('<testsuite><testcase name=\"t\"/></testsuite>')\n")
    result, junit = _backend(server, output_cap_bytes=2048).run(
        _repo_tar({"big.py": script}), "sbx:1", [sys.executable, "big.py"], timeout=30, junit_path="junit.xml")
    assert result.exit_code == 0 and result.stdout_truncated and result.stdout_bytes == 6001
    assert result.stdout.startswith("A" * 1024) and result.stdout.rstrip().endswith("B" * 1000)
    assert junit is not None and b"<testcase" in junit


def test_an_oom_kill_is_reported_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with serving(FakeKube(tmp_path, oom=True)) as server:
        result, _ = _backend(server).run(_repo_tar({"x.py": "x"}), "sbx:1", ["python", "x.py"], timeout=30)
    assert result.oom_killed and result.exit_code is None and not result.ok


def test_api_refusals_and_oversized_repos_are_one_line_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeKube(tmp_path, refuse_pods=403)
    with serving(fake) as server:
        with pytest.raises(SandboxError, match=r"^kubernetes API: 403 Forbidden$"):
            _backend(server).run(_repo_tar({"x.py": "x"}), "sbx:1", ["python", "x.py"], timeout=30)
        assert not fake.configmaps  # the ConfigMap made before the refusal was deleted
        with pytest.raises(SandboxError, match="at most 1000000"):
            _backend(server).run(b"x" * 1_000_001, "sbx:1", ["python"], timeout=30)


def _kubeconfig(path: Path, server: str, namespace: str | None = None) -> Path:
    context: dict[str, Any] = {"cluster": "replay", "user": "replay", **({"namespace": namespace} if namespace else {})}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "replay",
        "clusters": [{"name": "replay", "cluster": {"server": server}}],
        "contexts": [{"name": "replay", "context": context}],
        "users": [{"name": "replay", "user": {"token": "t0ken"}}]}), encoding="utf-8")
    return path


@pytest.fixture
def no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Not in a pod, no kubeconfig anywhere the client looks, no sandbox settings from the environment."""
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "HEALCREW_SANDBOX_IMAGE",
                 "HEALCREW_SANDBOX_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(home / "missing-kubeconfig"))
    return home


def test_a_sandbox_on_the_kubernetes_backend_runs_pytest_in_pods_and_leaves_none(
        kube: tuple[FakeKube, ReplayServer], no_cluster: Path, tmp_path: Path) -> None:
    fake, server = kube
    repo, _first = make_git_repo(tmp_path)
    config = SandboxConfig(backend="kubernetes", pod_image="pricing-tests:1.4", timeout=60,
                           kubeconfig=_kubeconfig(tmp_path / "kubeconfig", server.url, namespace=NS))
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=.junit.xml"]
    with prepare(repo, config=config) as box:
        assert box.backend == "kubernetes" and box.choice.namespace == NS  # the context's namespace
        assert box.image == "pricing-tests:1.4" and box.images == [] and box.python is None  # nothing built
        passing = box.run([*pytest_cmd, "tests/test_calc.py::test_ok"])
        failing = box.run([*pytest_cmd, "tests/test_calc.py::test_zero"])
    assert passing.backend == "kubernetes" and passing.ok and passing.exit_code == 0
    assert [(t.test_id, t.outcome) for t in passing.tests] == [("tests/test_calc.py::test_ok", "passed")]
    assert failing.exit_code == 1 and not failing.ok and not failing.timed_out
    (case,) = failing.tests
    assert (case.test_id, case.outcome, case.exc_type) == ("tests/test_calc.py::test_zero", "failed",
                                                           "ZeroDivisionError")
    assert "1 failed" in failing.stdout
    created = [json.loads(r.body) for r in server.requests if r.method == "POST" and r.path.endswith("/pods")]
    assert len(created) == 2
    assert {c["spec"]["containers"][0]["image"] for c in created} == {"pricing-tests:1.4"}
    assert all(r.path.startswith(f"/api/v1/namespaces/{NS}/") for r in server.requests)
    assert all(r.headers.get("authorization") == "Bearer t0ken" for r in server.requests)
    assert not fake.pods and not fake.configmaps
    assert sorted(x.split("/")[0] for x in fake.deleted) == ["configmaps"] * 2 + ["pods"] * 2


def test_the_kubernetes_backend_without_a_cluster_is_a_one_line_error(no_cluster: Path, tmp_path: Path) -> None:
    with pytest.raises(SandboxError) as caught:
        choose_backend("kubernetes", config=SandboxConfig(pod_image="svc-tests:1"))
    assert str(caught.value).startswith("the kubernetes sandbox needs a cluster: not running in one")
    assert "\n" not in str(caught.value)
    broken = tmp_path / "broken-kubeconfig"
    broken.write_text("clusters: [\n", encoding="utf-8")
    with pytest.raises(SandboxError, match=r"^cannot use the kubeconfig .*broken-kubeconfig: [^\n]+$"):
        choose_backend("kubernetes", config=SandboxConfig(pod_image="svc-tests:1", kubeconfig=broken))
    with pytest.raises(SandboxError, match=r"^the kubernetes sandbox needs an image .*HEALCREW_SANDBOX_IMAGE"):
        choose_backend("kubernetes", config=SandboxConfig())  # checked before the cluster: nothing to run without it
    with pytest.raises(SandboxError, match="needs a cluster"):  # prepare goes through the same choice
        prepare(make_git_repo(tmp_path)[0], config=SandboxConfig(backend="kubernetes", pod_image="svc-tests:1"))


def test_the_sandbox_settings_come_from_the_environment_the_workflow_step_sets(
        no_cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALCREW_SANDBOX_IMAGE", "svc-tests:2")
    monkeypatch.setenv("HEALCREW_SANDBOX_NAMESPACE", "repairs")
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", "elsewhere")))
    config = SandboxConfig(backend="kubernetes")
    assert (config.pod_image, config.kube_namespace) == ("svc-tests:2", "repairs")
    choice, api = choose_backend("kubernetes", config=config)
    try:
        assert choice.name == "kubernetes" and choice.namespace == "repairs"  # the setting beats the context's
        assert api.configuration.host == "http://127.0.0.1:9"
    finally:
        api.close()


def test_auto_never_picks_kubernetes_even_in_a_cluster(
        no_cluster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox.docker_backend

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")  # as in a pod
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "9")
    monkeypatch.setenv("KUBECONFIG", str(_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", NS)))
    monkeypatch.setenv("HEALCREW_SANDBOX_IMAGE", "svc-tests:1")

    def no_engine(*_: Any, **__: Any) -> Any:
        raise EngineUnavailableError("no engine answered")

    monkeypatch.setattr(sandbox.docker_backend, "connect", no_engine)
    with pytest.raises(EngineUnavailableError, match="--sandbox auto needs a Docker engine"):
        choose_backend("auto")

    class Engine:
        def close(self) -> None:
            pass

    monkeypatch.setattr(sandbox.docker_backend, "connect", lambda *_, **__: Engine())
    choice, client = choose_backend("auto")
    assert choice.name == "docker" and isinstance(client, Engine)
