"""OOM repair: memory limits found in manifests and Helm values, raised minimally and bounded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crew.errors import BadInputError
from crew.handoffs import CrashEvidence, Termination
from crew.repair.config_repair import (
    MemoryPolicy,
    find_memory_limits,
    format_quantity,
    new_limit,
    parse_quantity,
    patch_scalars,
    plan_memory_raise,
    raise_memory_limit,
    sites_in_text,
)
from crew.repair.diffs import check_applies, unified_diff
from crew.repo import GitRepo

OOM = Termination(kind="oom_killed", reason="OOMKilled", exit_code=137)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "services"

MULTI = """\
# The web tier.
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
    - port: 80   # http
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app            # the service itself
          image: web:1.2
          resources:
            requests:
              memory: 128Mi
            limits:
              cpu: "1"
              memory: "256Mi"  # measured p99 is 180Mi
        - name: proxy
          image: envoy:1.30
          resources:
            limits:
              memory: 64Mi
"""

ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: api
spec:
  strategy:
    canary:
      steps:
        - setWeight: 20
  template:
    spec:
      containers:
        - name: api
          resources:
            limits: {memory: 1Gi, cpu: 500m}
"""

VALUES = """\
# Default values for the chart.
image:
  tag: "1.4.0"
resources:
  limits:
    memory: '512M'   # keep quotes
  requests:
    memory: 256M
worker:
  replicas: 2
  resources:
    limits:
      memory: 1e9
"""

TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: app
          resources:
            limits:
              memory: {{ .Values.resources.limits.memory }}
"""

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: report
              resources:
                limits:
                  memory: 1536Mi
"""


def make_repo(root: Path, files: dict[str, str]) -> GitRepo:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@example.com",
                                                "commit", "-qm", "deploy"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)
    return GitRepo(root)


def changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    a, b = old.splitlines(), new.splitlines()
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


# --------------------------------------------------------------------------- quantities


@pytest.mark.parametrize(("text", "expected"), [
    ("256Mi", 256 * 2**20), ("1Gi", 2**30), ("512M", 512_000_000), ("1e9", 10**9), ("1073741824", 2**30),
    ("64Ki", 65536), ("2Ti", 2**41), ("500k", 500_000), ("1.5Gi", 3 * 2**29), ("129e6", 129_000_000),
    ("1G", 10**9), (268435456, 2**28),
])
def test_parse_quantity(text: str, expected: int) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "12 Mi", "-1Gi", "1Zi", "Mi"])
def test_bad_quantity(text: str) -> None:
    with pytest.raises(BadInputError):
        parse_quantity(text)


def test_new_limit_doubles_rounds_and_caps() -> None:
    policy = MemoryPolicy()
    assert format_quantity(new_limit(parse_quantity("256Mi"), policy)) == "512Mi"
    assert format_quantity(new_limit(parse_quantity("512M"), policy)) == "977Mi"
    assert format_quantity(new_limit(parse_quantity("1e9"), policy)) == "1908Mi"
    assert format_quantity(new_limit(parse_quantity("1Gi"), policy)) == "2Gi"
    assert format_quantity(new_limit(parse_quantity("1536Mi"), policy)) == "2Gi"
    assert new_limit(parse_quantity("2Gi"), policy) == parse_quantity("2Gi")
    assert format_quantity(new_limit(parse_quantity("256Mi"), MemoryPolicy(factor=1.5, cap="4Gi"))) == "384Mi"
    assert format_quantity(new_limit(parse_quantity("1Gi"), MemoryPolicy(cap="1500M"))) == "1430Mi"


def test_policy_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        MemoryPolicy(cap="a lot")
    with pytest.raises(ValueError):
        MemoryPolicy(factor=10)
    with pytest.raises(ValueError):
        MemoryPolicy(limit="1Gi")  # type: ignore[call-arg]


# --------------------------------------------------------------------------- finding limits


def test_sites_in_multi_document_manifest() -> None:
    sites = sites_in_text("deploy/web.yaml", MULTI)
    assert [(s.kind, s.workload, s.container, s.limit.value, s.limit.line) for s in sites] == [
        ("Deployment", "web", "app", "256Mi", 25), ("Deployment", "web", "proxy", "64Mi", 30),
    ]
    assert sites[0].document == 1
    assert sites[0].request is not None and sites[0].request.value == "128Mi"


def test_sites_in_rollout_cronjob_and_helm_values_and_templates_skipped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {
        "k8s/rollout.yaml": ROLLOUT, "k8s/cron.yml": CRONJOB, "chart/values.yaml": VALUES,
        "chart/templates/deployment.yaml": TEMPLATE, "chart/Chart.yaml": "apiVersion: v2\nname: web\n",
        "other.yaml": "resources:\n  limits:\n    memory: 1Gi\n",  # not a values file, not a workload
        "broken.yaml": "a: [\n",
    })
    found = {(s.path, s.kind, s.workload, s.limit.value) for s in find_memory_limits(repo)}
    assert found == {
        ("k8s/rollout.yaml", "Rollout", "api", "1Gi"),
        ("k8s/cron.yml", "CronJob", "nightly", "1536Mi"),
        ("chart/values.yaml", "HelmValues", "(top level)", "512M"),
        ("chart/values.yaml", "HelmValues", "worker", "1e9"),
    }


def test_rollout_must_be_argo() -> None:
    assert sites_in_text("x.yaml", ROLLOUT.replace("argoproj.io/v1alpha1", "example.com/v1")) == []


# --------------------------------------------------------------------------- candidates


def test_container_filter_edits_only_that_value_and_keeps_comments(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"deploy/web.yaml": MULTI})
    candidates = raise_memory_limit(repo, OOM, MemoryPolicy(), container="app")
    assert len(candidates) == 1
    cand = candidates[0]
    assert cand.strategy == "raise-memory-limit"
    (edit,) = cand.edits
    assert changed_lines(edit.original, edit.updated) == [
        (" " * 14 + 'memory: "256Mi"  # measured p99 is 180Mi', " " * 14 + 'memory: "512Mi"  # measured p99 is 180Mi'),
    ]
    assert "# The web tier." in edit.updated and "# the service itself" in edit.updated
    for words in ("OOMKilled", "exit code 137", "256Mi", "512Mi", "2Gi", "deploy/web.yaml:25"):
        assert words in cand.rationale
    assert check_applies(repo.path, repo.commit, unified_diff(cand.edits)) is None


def test_without_a_container_name_every_container_of_the_workload_is_raised(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"deploy/web.yaml": MULTI})
    (cand,) = raise_memory_limit(repo, CrashEvidence(incident_id="i", source="f", termination=OOM))
    (edit,) = cand.edits
    assert [new.strip() for _, new in changed_lines(edit.original, edit.updated)] == [
        'memory: "512Mi"  # measured p99 is 180Mi', "memory: 128Mi",
    ]


def test_rollout_flow_mapping_is_raised_in_place(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"rollout.yaml": ROLLOUT})
    (cand,) = raise_memory_limit(repo, OOM, container="api")
    assert changed_lines(cand.edits[0].original, cand.edits[0].updated) == [
        ("            limits: {memory: 1Gi, cpu: 500m}", "            limits: {memory: 2Gi, cpu: 500m}"),
    ]


def test_helm_values_keep_quotes_and_comments(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"chart/values.yaml": VALUES, "chart/templates/deployment.yaml": TEMPLATE})
    candidates = raise_memory_limit(repo, OOM, container="worker")
    assert len(candidates) == 2  # the chart's main container (top level) and the worker block
    diffs = [changed_lines(c.edits[0].original, c.edits[0].updated) for c in candidates]
    assert [("    memory: '512M'   # keep quotes", "    memory: '977Mi'   # keep quotes")] in diffs
    assert [("      memory: 1e9", "      memory: 1908Mi")] in diffs
    assert all(c.edits[0].path == "chart/values.yaml" for c in candidates)


def test_cap_reached_gives_no_candidate_and_a_reason(tmp_path: Path) -> None:
    at_cap = MULTI.replace('"256Mi"', '"2Gi"').replace("memory: 64Mi", "memory: 3Gi")
    repo = make_repo(tmp_path, {"deploy/web.yaml": at_cap})
    plan = plan_memory_raise(repo, OOM, MemoryPolicy(cap="2Gi"))
    assert plan.candidates == []
    assert len(plan.reasons) == 2
    assert "already has memory limit 2Gi, at or above the cap 2Gi" in plan.reasons[0]


def test_cap_bounds_the_raise(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, {"cron.yaml": CRONJOB})
    (cand,) = raise_memory_limit(repo, OOM)
    assert changed_lines(cand.edits[0].original, cand.edits[0].updated)[0][1].strip() == "memory: 2Gi"


def test_request_above_the_new_limit_is_lowered_to_it(tmp_path: Path) -> None:
    odd = MULTI.replace("memory: 128Mi", "memory: 3Gi")
    repo = make_repo(tmp_path, {"deploy/web.yaml": odd})
    (cand,) = raise_memory_limit(repo, OOM, container="app")
    changes = [new.strip() for _, new in changed_lines(cand.edits[0].original, cand.edits[0].updated)]
    assert changes == ["memory: 512Mi", 'memory: "512Mi"  # measured p99 is 180Mi']


def test_unknown_container_or_no_manifest_explain_themselves(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a", {"deploy/web.yaml": MULTI})
    plan = plan_memory_raise(repo, OOM, container="nope")
    assert plan.candidates == [] and "no memory limit for container 'nope'" in plan.reasons[0]
    bare = make_repo(tmp_path / "b", {"app.py": "print(1)\n"})
    assert "no Kubernetes workload" in plan_memory_raise(bare, OOM).reasons[0]


def test_patch_check_refuses_an_edit_that_changes_structure() -> None:
    (site,) = sites_in_text("values.yaml", "resources:\n  limits:\n    memory: 1Gi\n")
    assert patch_scalars("resources:\n  limits:\n    memory: 1Gi\n", [(0, site.limit, "2Gi")]).endswith("2Gi\n")
    with pytest.raises(BadInputError):
        patch_scalars("resources:\n  limits:\n    memory: 1Gi\n", [(0, site.limit, "2Gi\n  extra: 1")])


def test_thumbnailer_example(tmp_path: Path) -> None:
    manifest = EXAMPLES / "thumbnailer" / "deploy" / "deployment.yaml"
    if not manifest.exists():
        pytest.skip("thumbnailer example not present")
    text = manifest.read_text()
    repo = make_repo(tmp_path, {"deploy/deployment.yaml": text})
    (cand,) = raise_memory_limit(repo, OOM, container="thumbnailer")
    (edit,) = cand.edits
    changes = changed_lines(edit.original, edit.updated)
    assert [(a.strip(), b.strip()) for a, b in changes] == [("memory: 256Mi", "memory: 512Mi")]
    assert "memory: 128Mi" in edit.updated  # the request is untouched
    assert check_applies(repo.path, repo.commit, unified_diff(cand.edits)) is None
