"""The Kubernetes backend: one validation run in its own locked-down pod, same typed results as Docker.

In the cluster the Workflow's steps have no Docker engine, so the untrusted code runs in a pod
of its own: non-root, read-only root filesystem, every capability dropped, seccomp
``RuntimeDefault``, CPU/memory/PID-bounded by resource limits and ``activeDeadlineSeconds``,
no service-account token, no service links; a NetworkPolicy (``egress_policy``, shipped in
the deployment) denies it all traffic. The repo goes in as a ConfigMap holding its tar (the
API's 1 MiB object limit bounds it), and the results come back in the pod's log: the command's
own stdout and stderr go to files, and a small wrapper prints one framed JSON line at the end
with the exit code, the capped output and the JUnit XML. Pod and ConfigMap are always deleted.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.errors import SandboxError
from sandbox.results import RunResult

ISOLATION_NOTE = ("kubernetes pod: non-root, read-only root filesystem, all capabilities dropped, seccomp "
                  "RuntimeDefault, no service-account token, egress denied by NetworkPolicy; shares the node's kernel")
SANDBOX_LABEL = "healcrew.dev/sandbox"
MARKER = "HEALCREW-RESULT "
MAX_REPO_BYTES = 1_000_000  # a ConfigMap (an etcd object) holds at most 1 MiB
LIFETIME_SLACK = 60
INPUT = "/healcrew/input"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
NO_CLUSTER = ("the kubernetes sandbox needs a cluster: not running in one (no KUBERNETES_SERVICE_HOST) and "
              "no kubeconfig ($KUBECONFIG or ~/.kube/config)")
NO_IMAGE = ("the kubernetes sandbox needs an image holding python3 and the repo's runtime and test dependencies "
            "(e.g. the service's test image): set HEALCREW_SANDBOX_IMAGE (SandboxConfig.pod_image)")

WRAPPER = r"""
import base64, json, os, subprocess, sys, tarfile, tempfile, time
work, cap, timeout, junit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
with tarfile.open(os.path.join(sys.argv[5], "repo.tar")) as tar:
    tar.extractall(work, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
scratch = tempfile.mkdtemp()
out_path, err_path = os.path.join(scratch, "out"), os.path.join(scratch, "err")
out, err = open(out_path, "wb"), open(err_path, "wb")
start, code, timed_out = time.monotonic(), None, False
try:
    code = subprocess.run(sys.argv[6:], cwd=work, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                          timeout=timeout).returncode
except subprocess.TimeoutExpired:
    timed_out = True
duration = time.monotonic() - start
out.close(); err.close()
def capped(path):
    data = open(path, "rb").read()
    half = cap // 2
    kept = data if len(data) <= cap else data[:half] + data[-half:]
    return base64.b64encode(kept).decode(), len(data), len(data) > cap
found = None
junit = os.path.join(work, junit) if junit else junit
if junit and not timed_out and os.path.isfile(junit):
    found = base64.b64encode(open(junit, "rb").read()[:5_000_000]).decode()
o, e = capped(out_path), capped(err_path)
print("HEALCREW-RESULT " + json.dumps({"exit_code": code, "timed_out": timed_out, "duration": duration,
      "stdout": o, "stderr": e, "junit": found}), flush=True)
"""


def connect(config: SandboxConfig) -> tuple[Any, str, str]:
    """An ``ApiClient`` for the sandbox pods, their namespace, and where both came from.

    An explicit ``kubeconfig`` or ``kube_context`` is used as given; otherwise the in-cluster
    service account when running in a pod, else the default kubeconfig. Nothing is changed in
    the ``kubernetes`` package's global configuration. Failures are one-line ``SandboxError`` messages.
    """
    import yaml
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    if not config.pod_image:
        raise SandboxError(NO_IMAGE)
    settings = client.Configuration()
    namespace: str | None = None
    explicit = config.kubeconfig is not None or config.kube_context is not None
    where = ""
    if not explicit:
        try:
            kube_config.load_incluster_config(client_configuration=settings)
        except ConfigException:
            pass
        else:
            where = "the in-cluster service account"
            try:
                namespace = SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip() or None
            except OSError:
                namespace = None
    if not where:
        path = str(config.kubeconfig) if config.kubeconfig is not None else _default_kubeconfig()
        if path is None:
            raise SandboxError(NO_CLUSTER)
        try:
            kube_config.load_kube_config(config_file=path, context=config.kube_context,
                                         client_configuration=settings, persist_config=False)
            contexts, active = kube_config.list_kube_config_contexts(config_file=path)
        except (ConfigException, OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise SandboxError(f"cannot use the kubeconfig {path}: {detail}") from None
        chosen = next((c for c in contexts if c.get("name") == config.kube_context), active) \
            if config.kube_context else active
        namespace = ((chosen or {}).get("context") or {}).get("namespace")
        where = f"kubeconfig {path}, context {(chosen or {}).get('name', '?')}"
    namespace = config.kube_namespace or namespace or "default"
    return client.ApiClient(settings), namespace, where


def _default_kubeconfig() -> str | None:
    """``$KUBECONFIG`` (its files merged, as kubectl does) when one of them exists, else ``~/.kube/config``."""
    listed = os.environ.get("KUBECONFIG") or ""
    if any(Path(p).expanduser().is_file() for p in listed.split(os.pathsep) if p):
        return listed
    home = Path("~/.kube/config").expanduser()
    return str(home) if not listed and home.is_file() else None


def sandbox_pod(name: str, image: str, command: list[str], config: SandboxConfig, timeout: float,
                repo_configmap: str, junit_path: str | None = None, env: dict[str, str] | None = None) -> Any:
    """The V1Pod of one run: every restriction of the module docstring, and the wrapper as its command."""
    from kubernetes import client

    uid, _, gid = config.user.partition(":")
    limits = {"cpu": str(config.cpus), "memory": f"{config.memory_mb}Mi",
              "ephemeral-storage": f"{config.scratch_mb * 2}Mi"}
    container = client.V1Container(
        name="run", image=image, image_pull_policy="IfNotPresent",
        command=["python3", "-I", "-c", WRAPPER, config.workdir, str(config.output_cap_bytes), str(timeout),
                 junit_path or "", INPUT, *command],
        env=[client.V1EnvVar(name=k, value=v) for k, v in {**config.env, **(env or {})}.items()],
        working_dir="/", resources=client.V1ResourceRequirements(limits=limits, requests=limits),
        security_context=client.V1SecurityContext(
            run_as_non_root=True, run_as_user=int(uid), run_as_group=int(gid or uid),
            read_only_root_filesystem=True, allow_privilege_escalation=False, privileged=False,
            capabilities=client.V1Capabilities(drop=["ALL"]),
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")),
        volume_mounts=[client.V1VolumeMount(name="work", mount_path=config.workdir),
                       client.V1VolumeMount(name="tmp", mount_path="/tmp"),
                       client.V1VolumeMount(name="input", mount_path=INPUT, read_only=True)],
    )
    return client.V1Pod(
        api_version="v1", kind="Pod",
        metadata=client.V1ObjectMeta(name=name, labels={SANDBOX_LABEL: "true", **config.labels}),
        spec=client.V1PodSpec(
            containers=[container], restart_policy="Never",
            active_deadline_seconds=int(timeout) + LIFETIME_SLACK,
            automount_service_account_token=False, enable_service_links=False,
            host_network=False, host_pid=False, host_ipc=False,
            security_context=client.V1PodSecurityContext(
                run_as_non_root=True, fs_group=int(gid or uid),
                seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")),
            volumes=[
                client.V1Volume(name="work", empty_dir=client.V1EmptyDirVolumeSource(
                    size_limit=f"{config.scratch_mb}Mi")),
                client.V1Volume(name="tmp", empty_dir=client.V1EmptyDirVolumeSource(
                    size_limit=f"{config.scratch_mb}Mi")),
                client.V1Volume(name="input", config_map=client.V1ConfigMapVolumeSource(name=repo_configmap)),
            ],
        ),
    )


def egress_policy(namespace: str) -> Any:
    """The NetworkPolicy that denies sandbox pods all egress (and ingress): no rules, both types."""
    from kubernetes import client

    return client.V1NetworkPolicy(
        api_version="networking.k8s.io/v1", kind="NetworkPolicy",
        metadata=client.V1ObjectMeta(name="healcrew-sandbox-deny-all", namespace=namespace),
        spec=client.V1NetworkPolicySpec(
            pod_selector=client.V1LabelSelector(match_labels={SANDBOX_LABEL: "true"}),
            policy_types=["Ingress", "Egress"], ingress=[], egress=[]),
    )


class KubernetesBackend:
    """Runs commands in sandbox pods through the API (``CoreV1Api``); the pod never outlives ``run``."""

    isolation_note = ISOLATION_NOTE

    def __init__(self, api: Any, namespace: str, config: SandboxConfig, poll: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.api, self.namespace, self.config, self.poll, self.sleep = api, namespace, config, poll, sleep

    def run(self, tar: bytes, image: str, command: list[str], timeout: float, junit_path: str | None = None,
            env: dict[str, str] | None = None) -> tuple[RunResult, bytes | None]:
        """Run ``command`` on the repo in ``tar``; the result (tests not yet parsed) and the JUnit XML, if any."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        if len(tar) > MAX_REPO_BYTES:
            raise SandboxError(f"the repo is {len(tar)} bytes; a pod sandbox takes at most {MAX_REPO_BYTES} "
                               "(a ConfigMap's limit)")
        name = f"healcrew-sbx-{uuid.uuid4().hex[:12]}"
        try:
            try:
                self.api.create_namespaced_config_map(self.namespace, client.V1ConfigMap(
                    metadata=client.V1ObjectMeta(name=name, labels={SANDBOX_LABEL: "true"}),
                    binary_data={"repo.tar": base64.b64encode(tar).decode()}, immutable=True))
                self.api.create_namespaced_pod(self.namespace, sandbox_pod(
                    name, image, command, self.config, timeout, name, junit_path, env))
                pod = self._wait(name, timeout + LIFETIME_SLACK + 30)
                resp = self.api.read_namespaced_pod_log(name, self.namespace, container="run",
                                                        _preload_content=False)  # raw bytes, not a str() of them
                log = bytes(resp.data).decode("utf-8", "replace")
            finally:
                self._delete(name)
        except ApiException as exc:
            raise SandboxError(f"kubernetes API: {exc.status} {exc.reason}") from None
        return self._result(command, image, pod, log, junit_path)

    def _wait(self, name: str, limit: float) -> Any:
        deadline = time.monotonic() + limit
        while True:
            pod = self.api.read_namespaced_pod(name, self.namespace)
            if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
                return pod
            if time.monotonic() > deadline:
                raise SandboxError(f"sandbox pod {name} did not finish within {limit:.0f}s")
            self.sleep(self.poll)

    def _delete(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        for delete in (self.api.delete_namespaced_pod, self.api.delete_namespaced_config_map):
            try:
                delete(name, self.namespace, grace_period_seconds=0)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def _result(self, command: list[str], image: str, pod: Any, log: str,
                junit_path: str | None) -> tuple[RunResult, bytes | None]:
        terminated = None
        for status in (pod.status.container_statuses or []) if pod.status else []:
            if status.state is not None and status.state.terminated is not None:
                terminated = status.state.terminated
        oom = terminated is not None and terminated.reason == "OOMKilled"
        deadline = pod.status.reason == "DeadlineExceeded" if pod.status else False
        line = next((x for x in reversed(log.splitlines()) if x.startswith(MARKER)), None)
        if line is None:
            if not (oom or deadline):
                raise SandboxError(f"sandbox pod {pod.metadata.name} ended without a result "
                                   f"({pod.status.phase if pod.status else '?'})")
            found: dict[str, Any] = {"exit_code": None, "timed_out": deadline, "duration": 0.0,
                                     "stdout": ["", 0, False], "stderr": ["", 0, False], "junit": None}
        else:
            found = json.loads(line.removeprefix(MARKER))
        out, err = found["stdout"], found["stderr"]
        result = RunResult(
            command=command, backend="kubernetes", isolation_note=ISOLATION_NOTE, image=image,
            workdir=self.config.workdir, exit_code=None if found["timed_out"] or oom else found["exit_code"],
            stdout=base64.b64decode(out[0]).decode("utf-8", "replace"),
            stderr=base64.b64decode(err[0]).decode("utf-8", "replace"),
            stdout_bytes=out[1], stderr_bytes=err[1], stdout_truncated=out[2], stderr_truncated=err[2],
            duration=round(float(found["duration"]), 3), timed_out=bool(found["timed_out"]), oom_killed=oom,
            junit_path=junit_path)
        return result, base64.b64decode(found["junit"]) if found.get("junit") else None
