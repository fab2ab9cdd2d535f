"""A service's Argo Rollout and AnalysisTemplate: load them, check them, or generate a default pair.

The check is what Argo's users learn the hard way, before the canary runs: a canary strategy with
steps, every analysis template it names present with its arguments given, every metric's
conditions safe on an empty, NaN and +Inf result (``analysis_lint``), failure limits that let a
failing or all-errored metric fail, and each document valid against the real Argo Rollouts CRD
schemas. The CRDs are data published by the Argo project; they are read where they are installed
(``HEALCREW_ARGO_CRDS``, or a ``shared/data/argo-rollouts`` folder beside the checkout), never
copied into this repository. The schemas are applied strictly, as ``kubectl apply`` with strict
field validation does: a field the schema does not know (a typo such as ``setWieght``) is an
error, not silently pruned.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from crew.canary.analysis_lint import lint_analysis_template
from crew.errors import BadInputError

CRD_ENV = "HEALCREW_ARGO_CRDS"
CRD_FOLDER = Path("shared") / "data" / "argo-rollouts"
CRD_FILES = {"Rollout": "rollout-crd.yaml", "AnalysisTemplate": "analysis-template-crd.yaml",
             "ClusterAnalysisTemplate": "analysis-template-crd.yaml", "AnalysisRun": "analysis-run-crd.yaml"}
ARGO_API = "argoproj.io/v1alpha1"
MAX_FILE_BYTES = 1_000_000
MAX_FILES = 200
MAX_SCHEMA_ERRORS = 10
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^\d+$")
_ARG_USE = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


@dataclass
class Document:
    """One Kubernetes object read from a manifest file."""

    path: Path
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    def where(self, root: Path) -> str:
        """``deploy/rollout.yaml (Rollout pricing-service)``, relative to ``root`` when inside it."""
        try:
            shown = self.path.relative_to(root)
        except ValueError:
            shown = self.path
        return f"{shown} ({self.kind} {self.name or '?'})"


@dataclass
class Manifests:
    """The Argo documents of one service folder."""

    root: Path
    rollouts: list[Document] = field(default_factory=list)
    templates: dict[str, Document] = field(default_factory=dict)
    cluster_templates: dict[str, Document] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- CRDs


def _origin_path(repo_root: Path) -> Path | None:
    """The folder the local ``origin`` remote points at, when it is a path (a clone of a checkout)."""
    try:
        proc = subprocess.run(["git", "-C", str(repo_root), "config", "--get", "remote.origin.url"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    url = proc.stdout.strip()
    if proc.returncode != 0 or not url:
        return None
    url = url.removeprefix("file://")
    if "://" in url or (":" in url.split("/", 1)[0] and not url.startswith("/")):
        return None  # a network remote (https, ssh, scp-like): nothing on this disk
    path = Path(url) if Path(url).is_absolute() else (repo_root / url)
    return path.resolve() if path.exists() else None


def _has_crds(folder: Path) -> bool:
    return all((folder / name).is_file() for name in set(CRD_FILES.values()))


def find_crds(repo_root: Path | None = None) -> Path | None:
    """The folder holding the Argo Rollouts CRDs, or None.

    ``$HEALCREW_ARGO_CRDS`` first; else ``shared/data/argo-rollouts`` under any ancestor of
    healcrew's checkout; else under any ancestor of the folder its ``origin`` remote points at (a
    fresh clone in CI points at the checkout it was cloned from).
    """
    env = os.environ.get(CRD_ENV)
    if env:
        return Path(env) if _has_crds(Path(env)) else None
    root = (repo_root or Path(__file__).resolve().parents[2]).resolve()
    starts = [root]
    origin = _origin_path(root)
    if origin is not None:
        starts.append(origin)
    for start in starts:
        for ancestor in (start, *start.parents):
            if _has_crds(ancestor / CRD_FOLDER):
                return ancestor / CRD_FOLDER
    return None


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused where Kubernetes would prune them (strict field validation)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@lru_cache(maxsize=8)
def _schema(folder: str, filename: str) -> dict[str, Any]:
    path = Path(folder) / filename
    try:
        crd = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        version = next(v for v in crd["spec"]["versions"] if v.get("name") == "v1alpha1")
        schema = version["schema"]["openAPIV3Schema"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration) as exc:
        raise BadInputError(f"{path.name} is not an Argo Rollouts CRD with a v1alpha1 schema: {exc}") from None
    strict: dict[str, Any] = _strict(schema)
    return strict


def _path_words(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def schema_problems(body: dict[str, Any], crds: Path) -> list[str]:
    """Where ``body`` breaks its kind's CRD schema, one line each (at most ``MAX_SCHEMA_ERRORS``)."""
    from jsonschema import Draft7Validator

    kind = str(body.get("kind", ""))
    if kind not in CRD_FILES:
        return [f"kind {kind!r} is not an Argo Rollouts kind"]
    if body.get("apiVersion") != ARGO_API:
        return [f"apiVersion {body.get('apiVersion')!r} is not {ARGO_API}"]
    validator = Draft7Validator(_schema(str(crds), CRD_FILES[kind]))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    lines = [f"schema: {_path_words(e.absolute_path)}: {e.message}" for e in errors[:MAX_SCHEMA_ERRORS]]
    if len(errors) > MAX_SCHEMA_ERRORS:
        lines.append(f"schema: {len(errors) - MAX_SCHEMA_ERRORS} more error(s)")
    return lines


# --------------------------------------------------------------------------- loading


def _manifest_files(folder: Path) -> list[Path]:
    base = folder / "deploy" if (folder / "deploy").is_dir() else folder
    files = sorted(p for p in base.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file() and not p.is_symlink())
    return files[:MAX_FILES]


def load_manifests(folder: Path) -> Manifests:
    """Every Rollout and (Cluster)AnalysisTemplate under ``folder/deploy`` (or ``folder`` itself)."""
    if not folder.is_dir():
        raise BadInputError(f"{folder} is not a folder")
    found = Manifests(root=folder)
    for path in _manifest_files(folder):
        if path.stat().st_size > MAX_FILE_BYTES:
            found.unreadable.append(f"{path.relative_to(folder)}: larger than {MAX_FILE_BYTES} bytes; not read")
            continue
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            found.unreadable.append(f"{path.relative_to(folder)}: not YAML: {' '.join(str(exc).split())[:160]}")
            continue
        for body in docs:
            if not str(body.get("apiVersion", "")).startswith("argoproj.io/"):
                continue
            doc = Document(path, body)
            if doc.kind == "Rollout":
                found.rollouts.append(doc)
            elif doc.kind == "AnalysisTemplate":
                found.templates[doc.name] = doc
            elif doc.kind == "ClusterAnalysisTemplate":
                found.cluster_templates[doc.name] = doc
    return found


def load_yaml_object(path: Path, kind: str) -> dict[str, Any]:
    """The single ``kind`` document of ``path`` (an explicit --rollout / --analysis-template file)."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read {path}: {' '.join(str(exc).split())[:160]}") from None
    matching = [d for d in docs if d.get("kind") == kind]
    if len(matching) != 1:
        raise BadInputError(f"{path} holds {len(matching)} {kind} documents; expected one")
    return matching[0]


# --------------------------------------------------------------------------- checks


def canary_steps(rollout: dict[str, Any]) -> list[dict[str, Any]]:
    """``spec.strategy.canary.steps`` (empty when absent)."""
    canary = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    steps = canary.get("steps") if isinstance(canary, dict) else None
    return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []


def _analysis_refs(rollout: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, analysis block) of every analysis step and of the background analysis."""
    refs = [(f"steps[{i}].analysis", s["analysis"]) for i, s in enumerate(canary_steps(rollout))
            if isinstance(s.get("analysis"), dict)]
    background = (((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}).get("analysis")
    if isinstance(background, dict):
        refs.append(("canary.analysis", background))
    return refs


def _template_args(template: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(every declared arg, args with no default that the Rollout must give)."""
    declared, needed = set(), set()
    for arg in (template.get("spec") or {}).get("args") or []:
        if isinstance(arg, dict) and arg.get("name"):
            declared.add(str(arg["name"]))
            if "value" not in arg and "valueFrom" not in arg:
                needed.add(str(arg["name"]))
    return declared, needed


def _limits(template: dict[str, Any]) -> list[str]:
    """A ``failureLimit`` that lets every measurement fail, so the metric can never fail the run."""
    found = []
    for metric in (template.get("spec") or {}).get("metrics") or []:
        if not isinstance(metric, dict):
            continue
        name, count, limit = metric.get("name", "?"), metric.get("count"), metric.get("failureLimit", 0)
        if isinstance(count, int) and isinstance(limit, int) and count > 0 and limit >= count:
            found.append(f"{name}: failureLimit {limit} is not below count {count}, so every measurement can "
                         "fail and the metric still succeeds")
        interval = metric.get("interval")
        if interval is not None and not _DURATION.match(str(interval)):
            found.append(f"{name}: interval {interval!r} is not a duration (30s, 1m, 1h)")
        if not metric.get("successCondition") and not metric.get("failureCondition"):
            found.append(f"{name}: neither successCondition nor failureCondition: every measurement succeeds")
    return found


def _template_uses(template: dict[str, Any]) -> set[str]:
    """The ``{{args.x}}`` names its metrics use."""
    return set(_ARG_USE.findall(yaml.safe_dump((template.get("spec") or {}).get("metrics") or [])))


def _check_rollout(doc: Document, found: Manifests) -> list[str]:
    problems: list[str] = []
    steps = canary_steps(doc.body)
    if not (((doc.body.get("spec") or {}).get("strategy") or {}).get("canary")):
        return ["no canary strategy (spec.strategy.canary)"]
    if not steps:
        return ["the canary strategy has no steps"]
    for i, step in enumerate(steps):
        pause = step.get("pause")
        if isinstance(pause, dict) and pause.get("duration") is not None and not _DURATION.match(
                str(pause["duration"])):
            problems.append(f"steps[{i}].pause.duration {pause['duration']!r} is not a duration (30s, 2m, 1h)")
        weight = step.get("setWeight")
        if weight is not None and not (isinstance(weight, int) and 0 <= weight <= 100):
            problems.append(f"steps[{i}].setWeight {weight!r} is not a percentage from 0 to 100")
    refs = _analysis_refs(doc.body)
    if not refs:
        problems.append("no analysis step and no background analysis: nothing judges the canary")
    for where, analysis in refs:
        given = {str(a.get("name")) for a in analysis.get("args") or [] if isinstance(a, dict)}
        for ref in analysis.get("templates") or []:
            if not isinstance(ref, dict) or not ref.get("templateName"):
                problems.append(f"{where}: a template reference without templateName")
                continue
            name = str(ref["templateName"])
            pool = found.cluster_templates if ref.get("clusterScope") else found.templates
            template = pool.get(name)
            if template is None:
                kind = "ClusterAnalysisTemplate" if ref.get("clusterScope") else "AnalysisTemplate"
                problems.append(f"{where}: {kind} {name!r} is not in the service's manifests")
                continue
            _, needed = _template_args(template.body)
            for arg in sorted(needed - given):
                problems.append(f"{where}: template {name!r} needs arg {arg!r}, which the step does not give")
    return problems


def _check_template(doc: Document) -> list[str]:
    body = doc.body
    problems = lint_analysis_template(body) + _limits(body)
    declared, _ = _template_args(body)
    for arg in sorted(_template_uses(body) - declared):
        problems.append(f"the metrics use {{{{args.{arg}}}}}, which spec.args does not declare")
    if not (body.get("spec") or {}).get("metrics"):
        problems.append("no metrics")
    return problems


def check_manifests(found: Manifests, crds: Path | None) -> list[str]:
    """Every problem of the service's canary manifests, one line each, prefixed by file and object.

    ``crds`` is the CRD folder (``find_crds``); None skips the schema validation, which the caller
    must then say.
    """
    problems = list(found.unreadable)
    if not found.rollouts:
        problems.append(f"{found.root}: no Argo Rollout in the service's manifests")
    docs = [*found.rollouts, *found.templates.values(), *found.cluster_templates.values()]
    for doc in docs:
        where = doc.where(found.root)
        own = _check_rollout(doc, found) if doc.kind == "Rollout" else _check_template(doc)
        if crds is not None:
            own += schema_problems(doc.body, crds)
        problems.extend(f"{where}: {line}" for line in own)
    return problems


# --------------------------------------------------------------------------- generation

_SAFE = "len(result) == 0 || (!isNaN(result[0]) && !isInf(result[0]) && result[0] {op} {bound})"


def default_analysis_template(service: str, namespace: str, *, max_error_rate: float = 0.01,
                              max_latency_p90_ms: float = 500.0,
                              prometheus: str = "http://prometheus.monitoring.svc:9090") -> dict[str, Any]:
    """Error rate and latency p90 of the canary service from istio's metrics, with safe conditions.

    Both conditions pass an empty result (no traffic yet is no evidence) and fail NaN and +Inf;
    ``consecutiveErrorLimit`` below ``count`` makes a metric whose every query errored fail.
    """
    selector = ('reporter="destination", destination_service_name="{{args.service-name}}", '
                'destination_service_namespace="{{args.namespace}}"')
    measure = {"interval": "1m", "count": 3, "failureLimit": 1, "consecutiveErrorLimit": 2}
    return {
        "apiVersion": ARGO_API, "kind": "AnalysisTemplate",
        "metadata": {"name": f"{service}-health", "namespace": namespace},
        "spec": {
            "args": [{"name": "service-name"}, {"name": "namespace", "value": namespace}],
            "metrics": [
                {"name": "error-rate", **measure,
                 "successCondition": _SAFE.format(op="<=", bound=max_error_rate),
                 "provider": {"prometheus": {"address": prometheus, "query": (
                     f'sum(rate(istio_requests_total{{{selector}, response_code=~"5.*"}}[2m]))\n/\n'
                     f"sum(rate(istio_requests_total{{{selector}}}[2m]))\n")}}},
                {"name": "latency-p90", **measure,
                 "successCondition": _SAFE.format(op="<=", bound=f"{max_latency_p90_ms:g}"),
                 "provider": {"prometheus": {"address": prometheus, "query": (
                     "histogram_quantile(0.9,\n  sum by (le) (rate(istio_request_duration_milliseconds_bucket"
                     f"{{{selector}}}[2m])))\n")}}},
            ],
        },
    }


def default_rollout(service: str, namespace: str, *, container: str, image: str, port: int = 8080,
                    replicas: int = 4) -> dict[str, Any]:
    """A canary Rollout: 20 %, pause, analysis, 50 %, pause, analysis, 100 %."""
    analysis = {"analysis": {"templates": [{"templateName": f"{service}-health"}],
                             "args": [{"name": "service-name", "value": f"{service}-canary"}]}}
    return {
        "apiVersion": ARGO_API, "kind": "Rollout",
        "metadata": {"name": service, "namespace": namespace, "labels": {"app": service}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": service}},
            "template": {"metadata": {"labels": {"app": service}}, "spec": {"containers": [
                {"name": container, "image": image, "ports": [{"name": "http", "containerPort": port}]}]}},
            "strategy": {"canary": {
                "canaryService": f"{service}-canary", "stableService": f"{service}-stable",
                "steps": [{"setWeight": 20}, {"pause": {"duration": "2m"}}, copy.deepcopy(analysis),
                          {"setWeight": 50}, {"pause": {"duration": "2m"}}, copy.deepcopy(analysis),
                          {"setWeight": 100}],
            }},
        },
    }


def write_default_manifests(folder: Path, service: str, namespace: str, *, container: str | None = None,
                            image: str | None = None, port: int = 8080) -> list[Path]:
    """Write ``deploy/rollout.yaml`` and ``deploy/analysis-template.yaml``; never over an existing file."""
    deploy = folder / "deploy"
    targets = {deploy / "rollout.yaml": default_rollout(service, namespace, container=container or service,
                                                         image=image or f"{service}:latest", port=port),
               deploy / "analysis-template.yaml": default_analysis_template(service, namespace)}
    existing = [p for p in targets if p.exists()]
    if existing:
        raise BadInputError(f"{existing[0]} exists already; healcrew does not overwrite a manifest")
    deploy.mkdir(parents=True, exist_ok=True)
    for path, body in targets.items():
        path.write_text(f"# Generated by healcrew: the default canary for {service}.\n"
                        + yaml.safe_dump(body, sort_keys=False, width=110), encoding="utf-8")
    return list(targets)
