"""What the local canary reads from a service's manifests: the Rollout's steps and pod, the analysis.

Only the parts the local run acts on are kept, validated once with one-line errors: the canary
steps (``setWeight``, ``pause``, ``analysis``; other step kinds are listed as skipped), the
stable and canary service names, the first container's name, port, start command, resources
and readiness probe, and the AnalysisTemplate's metrics with their Prometheus queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from crew.canary.local.scaling import parse_duration
from crew.errors import BadInputError

MAX_MANIFEST_BYTES = 1 << 20


StepKind = Literal["setWeight", "pause", "analysis"]


@dataclass(frozen=True)
class Step:
    """One canary step: ``kind`` and its payload (weight, pause seconds or None, analysis block)."""

    index: int
    kind: StepKind
    weight: int | None = None
    pause: float | None = None
    indefinite: bool = False
    templates: tuple[str, ...] = ()
    args: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Probe:
    """An HTTP readiness probe (path on the container port)."""

    path: str = "/"
    period: float = 1.0


@dataclass(frozen=True)
class RolloutSpec:
    """The Rollout as the local canary uses it."""

    name: str
    namespace: str
    stable_service: str
    canary_service: str
    container: str
    port: int | None
    command: tuple[str, ...] | None
    steps: tuple[Step, ...]
    skipped: tuple[str, ...] = ()
    memory_bytes: int | None = None
    cpus: float | None = None
    readiness: Probe | None = None
    progress_deadline: float = 600.0
    pod_container: dict[str, Any] = field(default_factory=dict)
    """The first container of the pod template as written (its command, args, workingDir)."""


@dataclass(frozen=True)
class Metric:
    """One AnalysisTemplate metric with a Prometheus provider."""

    name: str
    query: str
    interval: float | None
    count: int
    success: str | None
    failure: str | None
    failure_limit: int
    inconclusive_limit: int
    consecutive_error_limit: int
    initial_delay: float = 0.0


@dataclass(frozen=True)
class TemplateSpec:
    """An AnalysisTemplate: its arguments (with defaults) and metrics."""

    name: str
    args: dict[str, str | None] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()


def read_manifest(path: Path, kind: str) -> dict[str, Any]:
    """The first document of ``kind`` in the YAML file ``path``; a one-line error otherwise."""
    if not path.is_file():
        raise BadInputError(f"{kind} manifest not found: {path}")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BadInputError(f"{path.name} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    kinds = (kind,) if kind != "AnalysisTemplate" else ("AnalysisTemplate", "ClusterAnalysisTemplate")
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") in kinds:
            return doc
    raise BadInputError(f"{path.name} holds no {kind}")


def _int(value: Any, what: str, low: int = 0, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise BadInputError(f"{what} must be an integer, not {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise BadInputError(f"{what} must be between {low} and {high}, not {number}")
    return number


def _memory(text: Any) -> int | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?", str(text or "").strip())
    if not match:
        return None
    mult = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "K": 1000, "M": 1000**2, "G": 1000**3, None: 1}
    return int(float(match.group(1)) * mult[match.group(2)])


def _cpus(text: Any) -> float | None:
    raw = str(text or "").strip()
    if raw.endswith("m") and raw[:-1].isdigit():
        return int(raw[:-1]) / 1000
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def _steps(raw_steps: list[Any], where: str) -> tuple[tuple[Step, ...], tuple[str, ...]]:
    steps: list[Step] = []
    skipped: list[str] = []
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict) or len(raw) != 1:
            raise BadInputError(f"{where} step {index} must be a mapping with one key")
        kind, body = next(iter(raw.items()))
        if kind == "setWeight":
            steps.append(Step(index, "setWeight", weight=_int(body, f"{where} step {index} setWeight", 0, 100)))
        elif kind == "pause":
            duration = (body or {}).get("duration") if isinstance(body, dict) or body is None else None
            if body is not None and not isinstance(body, dict):
                raise BadInputError(f"{where} step {index}: pause must be a mapping")
            seconds = None if duration is None else parse_duration(duration, f"{where} step {index} pause")
            steps.append(Step(index, "pause", pause=seconds, indefinite=seconds is None))
        elif kind == "analysis":
            if not isinstance(body, dict) or not body.get("templates"):
                raise BadInputError(f"{where} step {index}: analysis needs templates")
            names = tuple(str(t.get("templateName", "")) for t in body["templates"] if isinstance(t, dict))
            if not all(names):
                raise BadInputError(f"{where} step {index}: every analysis template needs a templateName")
            args = tuple(a for a in body.get("args") or [] if isinstance(a, dict))
            steps.append(Step(index, "analysis", templates=names, args=args))
        else:
            skipped.append(f"step {index} ({kind}) is not run by the local canary")
    return tuple(steps), tuple(skipped)


def start_command(container: dict[str, Any], entrypoint: tuple[str, ...], cmd: tuple[str, ...]) -> tuple[str, ...]:
    """The process a pod runs, as Kubernetes decides it: ``command`` replaces the image's ENTRYPOINT,
    ``args`` its CMD, and the image's CMD is dropped when ``command`` is given without ``args``."""
    command = [str(x) for x in container.get("command") or []]
    args = [str(x) for x in container.get("args") or []]
    if command:
        return (*command, *args)
    return (*entrypoint, *(args or cmd))


def parse_rollout(doc: dict[str, Any], image_entrypoint: tuple[str, ...] = (), image_cmd: tuple[str, ...] = (),
                  image_port: int | None = None) -> RolloutSpec:
    """The ``RolloutSpec`` of a Rollout document; the Dockerfile fills what the pod spec leaves out."""
    meta = doc.get("metadata") or {}
    name = str(meta.get("name") or "")
    if not name:
        raise BadInputError("the Rollout has no metadata.name")
    spec = doc.get("spec") or {}
    canary = ((spec.get("strategy") or {}).get("canary"))
    if not isinstance(canary, dict) or not canary.get("steps"):
        raise BadInputError(f"Rollout {name} has no canary steps (spec.strategy.canary.steps)")
    steps, skipped = _steps(list(canary["steps"]), f"Rollout {name}")
    if not steps:
        raise BadInputError(f"Rollout {name} has no setWeight, pause or analysis step")
    if canary.get("analysis"):
        skipped += ("the background analysis (strategy.canary.analysis) is not run by the local canary",)
    containers = (((spec.get("template") or {}).get("spec") or {}).get("containers")) or []
    if not containers or not isinstance(containers[0], dict):
        raise BadInputError(f"Rollout {name} has no container in spec.template.spec.containers")
    first = containers[0]
    ports = [p for p in first.get("ports") or [] if isinstance(p, dict) and p.get("containerPort")]
    port = _int(ports[0]["containerPort"], "containerPort", 1, 65535) if ports else image_port
    command = start_command(first, image_entrypoint, image_cmd) or None
    limits = ((first.get("resources") or {}).get("limits")) or {}
    probe = (first.get("readinessProbe") or {}).get("httpGet")
    readiness = None
    if isinstance(probe, dict):
        period = parse_duration((first.get("readinessProbe") or {}).get("periodSeconds", 1), "periodSeconds")
        readiness = Probe(path=str(probe.get("path") or "/"), period=period)
    return RolloutSpec(
        name=name, namespace=str(meta.get("namespace") or "default"),
        stable_service=str(canary.get("stableService") or f"{name}-stable"),
        canary_service=str(canary.get("canaryService") or f"{name}-canary"),
        container=str(first.get("name") or name), port=port, command=command, steps=steps, skipped=skipped,
        memory_bytes=_memory(limits.get("memory")), cpus=_cpus(limits.get("cpu")), readiness=readiness,
        progress_deadline=float(spec.get("progressDeadlineSeconds") or 600), pod_container=dict(first),
    )


def parse_template(doc: dict[str, Any]) -> TemplateSpec:
    """The ``TemplateSpec`` of an AnalysisTemplate; metrics without a Prometheus provider are refused."""
    name = str((doc.get("metadata") or {}).get("name") or "")
    spec = doc.get("spec") or {}
    args: dict[str, str | None] = {}
    for arg in spec.get("args") or []:
        if isinstance(arg, dict) and arg.get("name"):
            args[str(arg["name"])] = None if arg.get("value") is None else str(arg["value"])
    metrics = []
    for raw in spec.get("metrics") or []:
        if not isinstance(raw, dict):
            continue
        mname = str(raw.get("name") or "?")
        prom = ((raw.get("provider") or {}).get("prometheus")) or {}
        if not prom.get("query"):
            raise BadInputError(f"AnalysisTemplate {name} metric {mname}: only the prometheus provider runs locally")
        where = f"AnalysisTemplate {name} metric {mname}"
        interval = raw.get("interval")
        metrics.append(Metric(
            name=mname, query=str(prom["query"]),
            interval=None if interval is None else parse_duration(interval, f"{where} interval"),
            count=_int(raw.get("count", 1), f"{where} count", 1, 10000),
            success=raw.get("successCondition"), failure=raw.get("failureCondition"),
            failure_limit=_int(raw.get("failureLimit", 0), f"{where} failureLimit", -1),
            inconclusive_limit=_int(raw.get("inconclusiveLimit", 0), f"{where} inconclusiveLimit", -1),
            consecutive_error_limit=_int(raw.get("consecutiveErrorLimit", 4), f"{where} consecutiveErrorLimit", 0),
            initial_delay=parse_duration(raw.get("initialDelay", 0), f"{where} initialDelay"),
        ))
    if not metrics:
        raise BadInputError(f"AnalysisTemplate {name} has no metrics")
    return TemplateSpec(name=name, args=args, metrics=tuple(metrics))
