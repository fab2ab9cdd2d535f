"""The Kustomize base in deploy/kubernetes and its canary overlay, rendered and checked.

There is no kustomize binary here, so ``render`` is a loader of exactly the two features the
manifests use: ``resources`` (files, and folders holding a kustomization.yaml) and ``patches``
whose patch is a JSON6902 list (add, remove, replace, test) with a ``target``. Any other field
of a kustomization, or a strategic-merge patch, is refused, so a manifest that starts using a
feature this loader does not resolve fails here instead of being rendered wrong. Every object is
then validated, strictly, against the Kubernetes schemas of a fixed version.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from crew.service.auth import secrets_from_env
from crew.workflows.settings import ArgoSettings

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes"
CANARY = BASE / "overlays" / "canary"
PROMETHEUS = ROOT / "deploy" / "prometheus"
KUBERNETES_VERSION = "1.34.0"
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "patches"}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# ------------------------------------------------------------------ the loader


class Unsupported(Exception):
    """The kustomization uses something this loader does not resolve."""


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise Unsupported(f"JSON pointer {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _apply_op(doc: Any, op: dict[str, Any]) -> None:
    *parents, last = _pointer(op["path"])
    node = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    kind = op["op"]
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if kind == "add":
            node.insert(index, copy.deepcopy(op["value"]))
        elif kind == "remove":
            del node[index]
        elif kind == "replace":
            node[index] = copy.deepcopy(op["value"])
        elif kind == "test":
            assert node[index] == op["value"], f"JSON6902 test failed at {op['path']}"
        else:
            raise Unsupported(f"JSON6902 op {kind!r}")
    else:
        if kind in ("add", "replace"):
            if kind == "replace" and last not in node:
                raise KeyError(op["path"])
            node[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del node[last]
        elif kind == "test":
            assert node[last] == op["value"], f"JSON6902 test failed at {op['path']}"
        else:
            raise Unsupported(f"JSON6902 op {kind!r}")


def _matches(obj: dict[str, Any], target: dict[str, Any]) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    wanted = {"group": group, "version": version, "kind": obj["kind"], "name": obj["metadata"]["name"]}
    unknown = set(target) - set(wanted)
    if unknown:
        raise Unsupported(f"patch target fields {sorted(unknown)}")
    return all(wanted[k] == v for k, v in target.items())


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl apply -k folder`` would apply, for the features described above."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    if unknown:
        raise Unsupported(f"{folder}: kustomization fields {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = (folder / entry).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for patch in kustomization.get("patches", []):
        if set(patch) - {"target", "patch", "path"} or "target" not in patch:
            raise Unsupported(f"{folder}: only JSON6902 patches with a target are resolved")
        ops = yaml.safe_load(patch["patch"] if "patch" in patch else (folder / patch["path"]).read_text())
        if not isinstance(ops, list):
            raise Unsupported(f"{folder}: a strategic-merge patch")
        hits = [obj for obj in objects if _matches(obj, patch["target"])]
        assert len(hits) == 1, f"patch target {patch['target']} matches {len(hits)} objects"
        for op in ops:
            _apply_op(hits[0], op)
    keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys)), f"duplicate objects in {folder}: {keys}"
    return objects


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(BASE)


@pytest.fixture(scope="module")
def canary() -> list[dict[str, Any]]:
    return render(CANARY)


# ------------------------------------------------------------------ the loader itself


def test_the_loader_refuses_what_it_does_not_resolve(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(Unsupported, match="namePrefix"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\npatches:\n  - target: {kind: Role}\n    patch: 'metadata: {name: x}'\n")
    with pytest.raises(Unsupported, match="strategic-merge"):
        render(tmp_path)


def test_json6902_ops_apply_as_the_rfc_says() -> None:
    doc: dict[str, Any] = {"a": [1, 2], "b": {"c/d": 1}}
    for op in ({"op": "add", "path": "/a/-", "value": 3}, {"op": "add", "path": "/a/0", "value": 0},
               {"op": "replace", "path": "/b/c~1d", "value": 2}, {"op": "remove", "path": "/a/1"},
               {"op": "test", "path": "/a", "value": [0, 2, 3]}):
        _apply_op(doc, op)
    assert doc == {"a": [0, 2, 3], "b": {"c/d": 2}}


# ------------------------------------------------------------------ schemas


@pytest.mark.parametrize("folder", [BASE, CANARY], ids=["base", "canary"])
def test_every_object_validates_strictly(folder: Path) -> None:
    import kubernetes_validate

    objects = render(folder)
    assert objects
    for obj in objects:
        try:  # raises on the first error; strict: no field the schema does not know
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_the_base_holds_the_service_and_what_its_workflows_need(base: list[dict[str, Any]]) -> None:
    assert sorted((o["kind"], o["metadata"]["name"]) for o in base) == sorted([
        ("ServiceAccount", "healcrew"), ("ServiceAccount", "healcrew-stage"),
        ("Role", "healcrew"), ("Role", "healcrew-stage"),
        ("RoleBinding", "healcrew"), ("RoleBinding", "healcrew-stage"),
        ("Secret", "healcrew-argo-token"), ("ConfigMap", "healcrew-config"),
        ("Deployment", "healcrew"), ("Service", "healcrew"),
        ("NetworkPolicy", "healcrew"), ("NetworkPolicy", "healcrew-sandbox-deny-all"),
    ])
    # Namespace-agnostic: `kubectl apply -n` or an overlay chooses it.
    assert all("namespace" not in o["metadata"] for o in base)
    for binding in (o for o in base if o["kind"] == "RoleBinding"):
        assert all("namespace" not in s for s in binding["subjects"])


def test_the_prometheus_rule_is_applied_from_its_own_folder_not_copied() -> None:
    (rule,) = render(PROMETHEUS)
    assert rule["kind"] == "PrometheusRule"
    assert rule == yaml.safe_load((PROMETHEUS / "prometheusrule.yaml").read_text())
    assert not any(o["kind"] == "PrometheusRule" for o in render(BASE))


# ------------------------------------------------------------------ the pod


def _pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = _one(objects, "Deployment", "healcrew")["spec"]["template"]["spec"]
    return spec


def test_the_pod_is_locked_down(base: list[dict[str, Any]]) -> None:
    pod = _pod(base)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user, and the Workflow pods'
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(c["resources"]["requests"]) >= {"cpu", "memory"} and set(c["resources"]["limits"]) >= {"cpu", "memory"}


def test_only_the_workflow_steps_get_a_service_account_token(base: list[dict[str, Any]]) -> None:
    assert _one(base, "ServiceAccount", "healcrew")["automountServiceAccountToken"] is False
    assert _one(base, "ServiceAccount", "healcrew-stage")["automountServiceAccountToken"] is True
    assert _pod(base)["serviceAccountName"] == "healcrew"
    assert ArgoSettings().service_account == "healcrew-stage"  # the name the Workflows run as


def test_every_written_path_is_an_emptydir_and_the_config_is_mounted(base: list[dict[str, Any]]) -> None:
    pod = _pod(base)
    (c,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/var/lib/healcrew"]["name"]]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    config_mount = mounts["/etc/healcrew"]
    assert config_mount["readOnly"] is True
    assert volumes[config_mount["name"]]["configMap"]["name"] == "healcrew-config"
    args = dict(a.removeprefix("--").split("=", 1) for a in c["args"][1:])
    assert args["state"] == "sqlite:////var/lib/healcrew/state.db"
    assert args["audit-log"].startswith("/var/lib/healcrew/")
    assert args["config"] == "/etc/healcrew/service.yaml"


def test_the_args_are_real_serve_options_and_the_image_is_this_version(base: list[dict[str, Any]]) -> None:
    import typer

    from crew.cli_serve import serve_app

    command = typer.main.get_command(serve_app)
    known = {opt for p in command.params for opt in p.opts}
    (c,) = _pod(base)["containers"]
    assert c["args"][0] == "serve"
    for arg in c["args"][1:]:
        assert arg.split("=", 1)[0] in known, arg
    args = dict(a.split("=", 1) for a in c["args"][1:])
    assert args["--executor"] == "argo" and args["--host"] == "0.0.0.0"
    assert c["image"] == args["--image"] == f"healcrew/healcrew:{VERSION}"
    # $(POD_NAMESPACE) is expanded by the kubelet from the container's own env.
    assert args["--argo-namespace"] == "$(POD_NAMESPACE)"
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_the_probes_are_the_service_routes(base: list[dict[str, Any]], tmp_path: Path) -> None:
    from tests.service.helpers import RecordingPipeline, make

    routes = {getattr(r, "path", None) for r in make(tmp_path, RecordingPipeline(), start_workers=False).routes}
    (c,) = _pod(base)["containers"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {"/healthz", "/readyz"} <= routes
    (port,) = c["ports"]
    assert port["name"] == "http" and port["containerPort"] == 8080


# ------------------------------------------------------------------ secrets


SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)


def test_secrets_are_references_never_literals(base: list[dict[str, Any]], canary: list[dict[str, Any]],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for objects in (base, canary):
        for secret in (o for o in objects if o["kind"] == "Secret"):
            assert not secret.get("data") and not secret.get("stringData"), secret["metadata"]["name"]
            assert secret["type"] == "kubernetes.io/service-account-token"  # the API fills it in
        (c,) = _pod(objects)["containers"]
        for var in c["env"]:
            if SECRET_NAME.search(var["name"]):
                assert "value" not in var and "secretKeyRef" in var["valueFrom"], var["name"]
        assert all("value" not in v or not SECRET_NAME.search(str(v["value"])) for v in c["env"])
    env = {e["name"]: e for e in _pod(base)["containers"][0]["env"]}
    # The names the code reads: the webhook's secrets (crew.service.auth) and the Argo token.
    monkeypatch.delenv("HEALCREW_WEBHOOK_HMAC_KEY", raising=False)
    monkeypatch.setenv("HEALCREW_WEBHOOK_TOKEN", "t")
    assert secrets_from_env().token == "t"
    assert env["HEALCREW_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "healcrew-service",
                                                                          "key": "webhook-token"}
    assert env["HEALCREW_WEBHOOK_HMAC_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    token = env[ArgoSettings().token_env]["valueFrom"]["secretKeyRef"]
    argo_token = _one(base, "Secret", token["name"])
    assert argo_token["metadata"]["annotations"]["kubernetes.io/service-account.name"] == "healcrew"
    assert token["key"] == "token"


def test_the_example_config_loads_as_the_service_would(base: list[dict[str, Any]], tmp_path: Path) -> None:
    from crew.policy.repair_policy import load_repair_policy
    from crew.service.config import load_service_config

    data = _one(base, "ConfigMap", "healcrew-config")["data"]
    for name, text in data.items():
        (tmp_path / name).write_text(text)
        # Tokens are read from the environment; no key of the config holds one.
        assert not re.search(r"(?im)^\s*-?\s*\w*(token|password|secret)\w*\s*:", text), name
    config = load_service_config(tmp_path / "service.yaml")
    assert config.out_dir.startswith("/var/lib/healcrew/")
    (entry,) = config.services
    assert entry.logs.kubernetes and entry.repo.url and entry.policy == str(tmp_path / "repair-policy.yaml")
    load_repair_policy(Path(entry.policy))


# ------------------------------------------------------------------ RBAC


def _rules(objects: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(o["metadata"]["name"], res, rule) for o in objects if o["kind"] in ("Role", "ClusterRole")
            for rule in o["rules"] for res in rule["resources"]]


@pytest.mark.parametrize("folder", [BASE, CANARY], ids=["base", "canary"])
def test_roles_are_namespaced_and_have_no_wildcards(folder: Path) -> None:
    objects = render(folder)
    assert not any(o["kind"] in ("ClusterRole", "ClusterRoleBinding") for o in objects)
    for _role, _resource, rule in _rules(objects):
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field] and not any("*" in x for x in rule[field]), rule
        assert not rule.get("resourceNames") or "*" not in rule["resourceNames"]
    roles = {o["metadata"]["name"] for o in objects if o["kind"] == "Role"}
    accounts = {o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"}
    for binding in (o for o in objects if o["kind"] == "RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] in roles
        assert {s["name"] for s in binding["subjects"]} <= accounts


def _grants(objects: list[dict[str, Any]], role: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, resource, rule in _rules(objects):
        if name == role:
            for group in rule["apiGroups"]:
                out.setdefault(f"{resource}.{group}" if group else resource, set()).update(rule["verbs"])
    return out


def test_each_role_grants_what_its_code_calls_and_nothing_more(base: list[dict[str, Any]]) -> None:
    # The service: Hera's create, get, set (resume) and stop of a Workflow, through the Argo Server.
    assert _grants(base, "healcrew") == {"workflows.argoproj.io": {"create", "get", "list", "watch", "update",
                                                                    "patch"}}
    # The steps: the Kubernetes log source and the pod sandbox (sandbox/k8s_backend.py), Argo's executor.
    assert _grants(base, "healcrew-stage") == {
        "pods": {"get", "list", "watch", "create", "delete"}, "pods/log": {"get"},
        "configmaps": {"create", "delete"}, "workflowtaskresults.argoproj.io": {"create", "patch"}}


def test_rollouts_are_patched_only_with_the_canary_overlay(base: list[dict[str, Any]],
                                                           canary: list[dict[str, Any]]) -> None:
    assert not any("rollouts" in res or "analysisruns" in res for _n, res, _r in _rules(base))
    grants = _grants(canary, "healcrew-stage")
    assert grants["rollouts.argoproj.io"] == {"get", "patch"}
    assert grants["rollouts/status.argoproj.io"] == {"patch"}
    assert grants["analysisruns.argoproj.io"] == {"list"}
    assert _grants(canary, "healcrew") == _grants(base, "healcrew")
    # Everything else is the base, unchanged.
    rest = [o for o in canary if (o["kind"], o["metadata"]["name"]) != ("Role", "healcrew-stage")]
    assert rest == [o for o in base if (o["kind"], o["metadata"]["name"]) != ("Role", "healcrew-stage")]


# ------------------------------------------------------------------ network


def test_the_service_selects_the_pods_and_alertmanager_can_reach_it(base: list[dict[str, Any]]) -> None:
    labels = _one(base, "Deployment", "healcrew")["spec"]["template"]["metadata"]["labels"]
    service = _one(base, "Service", "healcrew")
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    receiver = yaml.safe_load((PROMETHEUS / "alertmanager.yml").read_text())["receivers"]
    (url,) = [w["url"] for r in receiver for w in r.get("webhook_configs", [])]
    assert re.fullmatch(rf"http://{service['metadata']['name']}\.[a-z0-9-]+\.svc:{port['port']}/alerts", url)


def test_the_service_network_policy_opens_its_port_and_only_dns_and_argo(base: list[dict[str, Any]]) -> None:
    labels = _one(base, "Deployment", "healcrew")["spec"]["template"]["metadata"]["labels"]
    policy = _one(base, "NetworkPolicy", "healcrew")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": 8080}]
    egress_ports = sorted((p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"])
    assert egress_ports == [("TCP", 53), ("TCP", 2746), ("UDP", 53)]
    assert all(rule.get("to") for rule in policy["egress"])  # no rule open to everywhere
    server = _pod(base)["containers"][0]["env"]
    (argo,) = [e["value"] for e in server if e["name"] == "ARGO_SERVER"]
    assert argo.endswith(":2746")


def test_the_sandbox_policy_is_the_one_the_pod_backend_expects(base: list[dict[str, Any]]) -> None:
    from kubernetes import client

    from sandbox.k8s_backend import egress_policy

    expected = client.ApiClient().sanitize_for_serialization(egress_policy("any"))
    del expected["metadata"]["namespace"]
    shipped = _one(base, "NetworkPolicy", "healcrew-sandbox-deny-all")
    assert shipped == expected
