"""The flagship example: the pricing service and its zero-division incident bundle.

The bundle must tell one consistent story: the example's history materializes to the commit
the bundle says was deployed, the service's own suite passes on that (buggy) commit, the crash
really happens on a 0.0 discount, blame names the commit that introduced it, and the alert,
the Loki logs and the Kubernetes manifests have the shapes the real systems produce.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from crew.bundle import BundleSpec, load_bundle
from crew.handoffs import RootCause
from crew.history import load_history, materialize
from crew.repo import GitRepo
from crew.sources.alertmanager import parse_webhook

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SERVICE = EXAMPLES / "pricing-service"
BUNDLE = EXAMPLES / "incidents" / "pricing-zero-division"
SITE = "/usr/local/lib/python3.11/site-packages/"
FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)$')
CRASH_CART = {"items": [{"sku": "MUG-0", "price": 12.5, "quantity": 1, "discount": 0.0}]}

# Runs inside the materialized repository: the crash through the real ASGI stack, reported
# as the exception type and the deepest frame inside the repository.
REPRODUCE = r"""
import json, os, sys, traceback
sys.path.insert(0, os.getcwd())
from fastapi.testclient import TestClient
from app.main import app

client = TestClient(app, raise_server_exceptions=True)
ok = client.post("/quote", json={"items": [{"sku": "TEE-1", "quantity": 2}]})
assert ok.status_code == 200, ok.text
try:
    client.post("/quote", json=json.loads(sys.argv[1]))
except Exception as exc:
    root = os.getcwd() + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root)]
    last = frames[-1]
    print(json.dumps({"exc_type": type(exc).__name__, "message": str(exc),
                      "path": os.path.relpath(last.filename), "line": last.lineno,
                      "function": last.name, "code": last.line}))
else:
    print(json.dumps({"exc_type": None}))
"""


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def spec() -> BundleSpec:
    return BundleSpec.model_validate(_yaml(BUNDLE / "incident.yaml"))


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    data = _yaml(BUNDLE / "expected.yaml")
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialize(SERVICE, tmp_path_factory.mktemp("flagship-cache"))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1"}


# --------------------------------------------------------------------------- the repository


def test_history_materializes_to_the_deployed_commit(repo: Path, spec: BundleSpec) -> None:
    assert spec.repo.path == "../../pricing-service"
    assert _git(repo, "rev-parse", "HEAD").strip() == spec.repo.commit
    log = _git(repo, "log", "--format=%H%x1f%an%x1f%aI%x1f%s").splitlines()
    subjects = [row.split("\x1f")[3] for row in log]
    assert subjects == [
        "Report the service version on /health", "Apply per-item discount divisor", "Add pricing service",
    ]
    assert [row.split("\x1f")[1] for row in log] == ["Maya Lindqvist", "Tom Okafor", "Maya Lindqvist"]
    assert all(row.split("\x1f")[2].startswith("2026-1") for row in log)
    assert _git(repo, "status", "--porcelain") == ""


def test_materialized_tip_is_the_example_tree(repo: Path) -> None:
    tracked = sorted(_git(repo, "ls-files").splitlines())
    on_disk = sorted(
        p.relative_to(SERVICE).as_posix() for p in SERVICE.rglob("*")
        if p.is_file() and p.name != ".history.yaml"
        and not {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"} & set(p.relative_to(SERVICE).parts)
    )
    assert tracked == on_disk
    for rel in tracked:
        assert _git(repo, "show", f"HEAD:{rel}") == (SERVICE / rel).read_text(encoding="utf-8"), rel


def test_materializing_inside_another_checkout_gives_the_same_commits(
    repo: Path, tmp_path: Path
) -> None:
    # A cache dir inside a git checkout must not change what git apply does.
    outer = tmp_path / "checkout"
    outer.mkdir()
    _git(outer, "init", "-q")
    again = materialize(SERVICE, outer / ".cache" / "repos")
    assert _git(again, "log", "--format=%H") == _git(repo, "log", "--format=%H")


def test_blame_of_the_fault_line_names_the_suspect_commit(
    repo: Path, spec: BundleSpec, expected: dict[str, Any]
) -> None:
    fault = expected["fault"]
    git = GitRepo(repo, spec.repo.commit)
    source = git.read(fault["path"])
    assert source is not None
    assert source.splitlines()[fault["line"] - 1].strip() == "return p / d" == expected["fault_code"]
    suspect = git.blame_line(fault["path"], fault["line"])
    assert suspect is not None
    assert suspect.sha == expected["suspect_commit"]
    assert suspect.summary == "Apply per-item discount divisor" and suspect.author.startswith("Tom Okafor")
    # git log -L over the line names the same commit first, and the deployed tip is not it.
    touching = git.commits_touching(fault["path"], fault["line"], fault["line"])
    assert touching[0].sha == expected["suspect_commit"] != spec.repo.commit
    before = _git(repo, "show", f"{expected['suspect_commit']}~1:{fault['path']}")
    assert "return p / d" not in before and "return p * d" in before


def test_history_records_three_commits_with_patches() -> None:
    history = load_history(SERVICE)
    assert len(history.commits) == 3
    assert history.commits[0].patch is None
    assert all(c.patch and c.patch.startswith("diff --git ") for c in history.commits[1:])
    assert all(c.date.tzinfo is not None for c in history.commits)
    assert "-    return p * d\n+    return p / d\n" in (history.commits[1].patch or "")


# --------------------------------------------------------------------------- the service


def test_service_suite_passes_on_the_deployed_commit(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=repo,
        capture_output=True, text=True, timeout=120, env=_env(),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    match = re.search(r"(\d+) passed", proc.stdout)
    assert match and 8 <= int(match.group(1)) <= 12, proc.stdout[-500:]
    assert "failed" not in proc.stdout


def test_suite_never_prices_a_zero_discount() -> None:
    for test_file in (SERVICE / "tests").glob("test_*.py"):
        text = test_file.read_text(encoding="utf-8")
        assert "MUG-0" not in text and "0.0)" not in text and '"discount": 0' not in text


def test_zero_discount_crashes_the_request_at_the_fault_line(repo: Path, expected: dict[str, Any]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", REPRODUCE, json.dumps(CRASH_CART)], cwd=repo,
        capture_output=True, text=True, timeout=60, env=_env(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["exc_type"] == expected["exc_type"] == "ZeroDivisionError"
    assert got["message"] == expected["exc_message"]
    fault = expected["fault"]
    assert (got["path"], got["line"], got["function"]) == (fault["path"], fault["line"], fault["function"])
    assert got["code"] == "return p / d"


def test_catalog_holds_the_zero_discount_item_the_logs_name(repo: Path) -> None:
    catalog = (repo / "app" / "catalog.py").read_text(encoding="utf-8")
    assert 'Item("MUG-0", "Enamel mug", 12.5, 0.0)' in catalog
    pricing = (repo / "app" / "pricing.py").read_text(encoding="utf-8")
    assert "def calc(p, d):" in pricing and '"no discount configured"' in pricing


def test_dockerfile_runs_uvicorn_as_non_root_from_app(repo: Path) -> None:
    dockerfile = (repo / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("FROM python:3.11-slim")
    assert "WORKDIR /app" in dockerfile and "COPY app ./app" in dockerfile
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile, re.M)
    assert '"uvicorn", "app.main:app"' in dockerfile
    requirements = (repo / "requirements.txt").read_text(encoding="utf-8").split()
    assert {re.split(r"[<>=!~]", r)[0] for r in requirements} == {"fastapi", "uvicorn", "httpx", "pytest"}
    assert not any("==" in r for r in requirements)


# --------------------------------------------------------------------------- the manifests


def _manifests() -> dict[tuple[str, str], dict[str, Any]]:
    docs: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((SERVICE / "deploy").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def test_manifests_have_the_expected_kinds() -> None:
    docs = _manifests()
    assert sorted(docs) == [
        ("AnalysisTemplate", "pricing-service-health"),
        ("Rollout", "pricing-service"),
        ("Service", "pricing-service"),
        ("Service", "pricing-service-canary"),
        ("Service", "pricing-service-stable"),
    ]
    for (kind, _), doc in docs.items():
        assert doc["apiVersion"] == ("v1" if kind == "Service" else "argoproj.io/v1alpha1")
        assert doc["metadata"]["namespace"] == "shop"


def test_rollout_canary_steps_and_pod_spec(spec: BundleSpec) -> None:
    docs = _manifests()
    rollout = docs[("Rollout", "pricing-service")]["spec"]
    canary = rollout["strategy"]["canary"]
    steps = canary["steps"]
    assert [next(iter(step)) for step in steps[:6]] == [
        "setWeight", "pause", "analysis", "setWeight", "pause", "analysis",
    ]
    assert [s["setWeight"] for s in steps if "setWeight" in s][:2] == [20, 50]
    for step in steps:
        if "analysis" in step:
            names = {t["templateName"] for t in step["analysis"]["templates"]}
            assert names <= {name for kind, name in docs if kind == "AnalysisTemplate"}
    assert ("Service", canary["canaryService"]) in docs and ("Service", canary["stableService"]) in docs
    assert rollout["selector"]["matchLabels"] == rollout["template"]["metadata"]["labels"]
    for kind, name in docs:
        if kind == "Service":
            assert docs[(kind, name)]["spec"]["selector"].items() <= rollout["template"]["metadata"]["labels"].items()
    (container,) = rollout["template"]["spec"]["containers"]
    assert container["name"] == spec.container
    assert container["resources"]["limits"]["memory"] == "256Mi"
    assert container["resources"]["requests"]["memory"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    assert rollout["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert spec.pod.startswith(docs[("Rollout", "pricing-service")]["metadata"]["name"] + "-")


def test_analysis_template_queries_prometheus_for_success_rate_and_restarts() -> None:
    docs = _manifests()
    template = docs[("AnalysisTemplate", "pricing-service-health")]["spec"]
    metrics = {m["name"]: m for m in template["metrics"]}
    assert set(metrics) == {"success-rate", "restarts"}
    declared = {a["name"] for a in template["args"]}
    for metric in metrics.values():
        prometheus = metric["provider"]["prometheus"]
        assert prometheus["address"].startswith("http")
        assert set(re.findall(r"\{\{args\.([\w-]+)\}\}", prometheus["query"])) <= declared
        assert metric["successCondition"]
    assert "restarts_total" in metrics["restarts"]["provider"]["prometheus"]["query"]
    # Every argument without a default is given by each analysis step of the Rollout.
    required = {a["name"] for a in template["args"] if "value" not in a}
    steps = docs[("Rollout", "pricing-service")]["spec"]["strategy"]["canary"]["steps"]
    for step in steps:
        if "analysis" in step:
            assert required <= {a["name"] for a in step["analysis"]["args"]}


# --------------------------------------------------------------------------- the bundle


def test_bundle_loads_into_an_incident(tmp_path: Path, spec: BundleSpec) -> None:
    incident = load_bundle(BUNDLE, tmp_path)
    assert incident.id == "pricing-zero-division" == spec.id
    assert (incident.service, incident.namespace, incident.pod, incident.container) == (
        "pricing-service", "shop", "pricing-service-6f9c7d8b5-x2kqp", "pricing")
    assert _git(Path(incident.repo), "rev-parse", incident.commit).strip() == spec.repo.commit
    assert incident.logs is not None and incident.logs.file and incident.logs.file.endswith("logs.json")
    assert incident.alerts[0].alertname == "KubePodCrashLooping"
    assert incident.test_command == "python -m pytest -q"


def test_expected_answer_key(expected: dict[str, Any]) -> None:
    assert RootCause(expected["root_cause"]) is RootCause.DIVISION_BY_ZERO
    assert expected["fault"] == {"path": "app/pricing.py", "line": 27, "function": "calc"}
    assert re.fullmatch(r"[0-9a-f]{40}", expected["suspect_commit"])
    assert expected["fixable"] is True


def test_alert_is_an_alertmanager_v4_webhook(spec: BundleSpec) -> None:
    assert spec.alert == "alert.json"
    payload = json.loads((BUNDLE / spec.alert).read_text(encoding="utf-8"))
    assert set(payload) == {
        "receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
        "externalURL", "version", "groupKey", "truncatedAlerts",
    }
    assert payload["version"] == "4" and payload["status"] == "firing" and payload["truncatedAlerts"] == 0
    (alert,) = payload["alerts"]
    assert set(alert) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert re.fullmatch(r"[0-9a-f]{16}", alert["fingerprint"])
    labels = alert["labels"]
    assert labels["alertname"] == "KubePodCrashLooping" and labels["job"] == "kube-state-metrics"
    assert (labels["namespace"], labels["pod"], labels["container"], labels["service"]) == (
        spec.namespace, spec.pod, spec.container, spec.service)
    assert labels["severity"] in {"warning", "critical"}
    assert {"description", "summary", "runbook_url"} <= set(alert["annotations"])
    assert payload["groupLabels"].items() <= labels.items()
    (parsed,) = parse_webhook(payload)
    assert parsed.status == "firing" and parsed.starts_at is not None and parsed.starts_at.year == 2026


def _streams() -> list[dict[str, Any]]:
    body = json.loads((BUNDLE / "logs.json").read_text(encoding="utf-8"))
    assert body["status"] == "success" and body["data"]["resultType"] == "streams"
    result = body["data"]["result"]
    assert isinstance(result, list)
    return result


def _crashing_lines(spec: BundleSpec) -> list[str]:
    (stream,) = [s for s in _streams() if s["stream"]["pod"] == spec.pod]
    return [line for _, line in reversed(stream["values"])]  # oldest first


def test_logs_are_a_backward_loki_query_range_response(spec: BundleSpec) -> None:
    streams = _streams()
    assert len(streams) >= 1
    for stream in streams:
        assert set(stream["stream"]) == {"namespace", "pod", "container", "app"}
        assert stream["stream"]["namespace"] == spec.namespace
        assert stream["stream"]["container"] == spec.container
        values = stream["values"]
        assert values and all(
            isinstance(ts, str) and ts.isdigit() and len(ts) == 19 and isinstance(line, str)
            for ts, line in values
        )
        stamps = [int(ts) for ts, _ in values]
        assert stamps == sorted(stamps, reverse=True), "direction=backward: newest first"
    text = (BUNDLE / "logs.json").read_text(encoding="utf-8")
    assert "/work/" not in text and "/tmp/" not in text and "/root/" not in text


def test_logs_show_three_crashes_of_one_pod_with_restarts(spec: BundleSpec) -> None:
    lines = _crashing_lines(spec)
    starts = [i for i, line in enumerate(lines) if line == "INFO:     Started server process [1]"]
    crashes = [i for i, line in enumerate(lines) if line == "ERROR:    Exception in ASGI application"]
    ends = [i for i, line in enumerate(lines) if line == "ZeroDivisionError: float division by zero"]
    assert len(starts) == len(crashes) == len(ends) == 3
    assert "INFO:     Application startup complete." in lines
    for start, crash, end in zip(starts, crashes, ends, strict=True):
        assert start < crash < end
        assert lines[crash + 1] == "Traceback (most recent call last):"
        before = lines[start:crash]
        request = [line for line in before if "quote request: " in line][-1]
        cart = json.loads(request.split("quote request: ", 1)[1])
        assert any(item["discount"] == 0.0 for item in cart["items"])
        assert before[-1].endswith('"POST /quote HTTP/1.1" 500 Internal Server Error')
        # another request's access line lands inside the traceback
        assert any(line.startswith("INFO:     10.") for line in lines[crash:end])
    assert any(line.endswith('"GET /health HTTP/1.1" 200 OK') for line in lines)


def test_traceback_frames_match_the_deployed_source(repo: Path, spec: BundleSpec, expected: dict[str, Any]) -> None:
    lines = _crashing_lines(spec)
    frames: list[tuple[str, int, str, str]] = []
    for i, line in enumerate(lines):
        match = FRAME.match(line)
        if match:
            code = next(nxt for nxt in lines[i + 1:] if not nxt.startswith("INFO:"))
            frames.append((match["file"], int(match["line"]), match["function"], code.strip()))
    assert len(frames) % 3 == 0 and frames
    app_frames = [f for f in frames if f[0].startswith("/app/")]
    library = [f for f in frames if not f[0].startswith("/app/")]
    assert library and all(f[0].startswith(SITE) for f in library)
    assert {f[0][len(SITE):].split("/")[0] for f in library} >= {"uvicorn", "starlette", "fastapi", "anyio"}
    for file, number, function, code in app_frames:
        path = file.removeprefix("/app/")
        source = _git(repo, "show", f"{spec.repo.commit}:{path}").splitlines()
        assert source[number - 1].strip() == code, (file, number)
        assert re.search(rf"def {re.escape(function)}\(", "\n".join(source[:number]))
    fault = expected["fault"]
    assert frames[-1] == (f"/app/{fault['path']}", fault["line"], fault["function"], "return p / d")
    assert [f[0] for f in app_frames[:3]] == ["/app/app/main.py", "/app/app/pricing.py", "/app/app/pricing.py"]
