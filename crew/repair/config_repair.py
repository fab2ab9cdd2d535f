"""Configuration repair for an OOM kill: raise the container's memory limit, bounded.

An OOM-killed container leaves no traceback; the kernel stopped it at its cgroup limit. The
smallest reviewable fix is a higher ``resources.limits.memory`` in the manifest or Helm values
that deploy it: at most ``factor`` times the old value and never above ``cap``. The YAML text
is edited in place (only the value on that line changes, so comments, ordering and quoting
survive) and the result is parsed again to prove that nothing else moved.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crew.errors import BadInputError
from crew.handoffs import CrashEvidence, Termination
from crew.repair.candidates import Candidate, SourceEdit
from crew.repo import GitRepo

STRATEGY = "raise-memory-limit"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Rollout")
MI = 1024**2
GI = 1024**3

_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
    "P": Decimal(10**15), "E": Decimal(10**18),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")


def parse_quantity(text: str | int | float) -> int:
    """Bytes in a Kubernetes quantity: ``256Mi``, ``1Gi``, ``512M``, ``1e9``, ``1073741824``."""
    raw = str(text).strip()
    m = _QUANTITY.match(raw)
    if not m:
        raise BadInputError(f"not a memory quantity: {raw!r}")
    try:
        value = Decimal(m.group(1)) * _SUFFIX[m.group(2) or ""]
    except InvalidOperation as exc:
        raise BadInputError(f"not a memory quantity: {raw!r}") from exc
    return math.ceil(value)


def format_quantity(n_bytes: int) -> str:
    """``n_bytes`` as ``<n>Gi`` when whole gibibytes, else ``<n>Mi`` (rounded up)."""
    if n_bytes % GI == 0:
        return f"{n_bytes // GI}Gi"
    return f"{math.ceil(n_bytes / MI)}Mi"


class MemoryPolicy(BaseModel):
    """How far the offline brain may raise a memory limit on its own."""

    model_config = ConfigDict(extra="forbid")

    factor: float = Field(
        default=2.0, gt=1.0, le=4.0, description="New limit is at most this many times the old one."
    )
    cap: str = Field(default="2Gi", description="Never raise a limit above this quantity.")

    @field_validator("cap")
    @classmethod
    def _cap_is_a_quantity(cls, value: str) -> str:
        try:
            parse_quantity(value)
        except BadInputError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @property
    def cap_bytes(self) -> int:
        return parse_quantity(self.cap)


@dataclass(frozen=True)
class Scalar:
    """A YAML scalar located in a file: where its text is, and how to reach it after parsing."""

    key_path: tuple[str | int, ...]
    value: str
    line: int  # 1-based
    start: int  # offsets into the file text, quotes included
    end: int
    style: str | None  # None (plain), "'" or '"'


@dataclass(frozen=True)
class MemorySite:
    """One ``resources.limits.memory`` in a manifest or Helm values file."""

    path: str
    document: int
    kind: str  # a workload kind, or "HelmValues"
    workload: str  # metadata.name, or the dotted values path above ``resources``
    container: str | None
    limit: Scalar
    request: Scalar | None = None

    @property
    def limit_bytes(self) -> int:
        return parse_quantity(self.limit.value)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.limit.line}"


@dataclass
class MemoryPlan:
    """Candidates, and why other sites got none (already at the cap, no manifest found)."""

    candidates: list[Candidate] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- finding limits


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _walk(node: yaml.Node | None, *keys: str) -> yaml.Node | None:
    for key in keys:
        node = _get(node, key)
    return node


def _text(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _scalar(node: yaml.Node | None, key_path: tuple[str | int, ...]) -> Scalar | None:
    if not isinstance(node, yaml.ScalarNode):
        return None
    style = node.style if node.style in ("'", '"') else None
    return Scalar(key_path, node.value, node.start_mark.line + 1, node.start_mark.index, node.end_mark.index, style)


def _memory(resources: yaml.Node | None, base: tuple[str | int, ...]) -> tuple[Scalar | None, Scalar | None]:
    limit = _scalar(_walk(resources, "limits", "memory"), (*base, "limits", "memory"))
    request = _scalar(_walk(resources, "requests", "memory"), (*base, "requests", "memory"))
    return limit, request


def _usable(limit: Scalar | None) -> bool:
    if limit is None:
        return False
    try:
        parse_quantity(limit.value)
    except BadInputError:
        return False
    return True


def _workload_sites(path: str, index: int, doc: yaml.Node) -> Iterator[MemorySite]:
    kind = _text(_get(doc, "kind")) or ""
    api = _text(_get(doc, "apiVersion")) or ""
    if kind not in WORKLOAD_KINDS or (kind == "Rollout" and not api.startswith("argoproj.io/")):
        return
    name = _text(_walk(doc, "metadata", "name")) or "?"
    pod_keys: tuple[str, ...] = ("spec", "jobTemplate", "spec", "template", "spec") if kind == "CronJob" else (
        "spec", "template", "spec"
    )
    pod = _walk(doc, *pod_keys)
    for list_key in ("containers", "initContainers"):
        containers = _get(pod, list_key)
        if not isinstance(containers, yaml.SequenceNode):
            continue
        for i, container in enumerate(containers.value):
            base = (*pod_keys, list_key, i, "resources")
            limit, request = _memory(_get(container, "resources"), base)
            if limit is not None and _usable(limit):
                yield MemorySite(path, index, kind, name, _text(_get(container, "name")), limit, request)


def _values_sites(path: str, index: int, node: yaml.Node, keys: tuple[str | int, ...]) -> Iterator[MemorySite]:
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _values_sites(path, index, item, (*keys, i))
        return
    if not isinstance(node, yaml.MappingNode):
        return
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            continue
        if k.value == "resources":
            limit, request = _memory(v, (*keys, "resources"))
            if limit is not None and _usable(limit):
                owner = ".".join(str(p) for p in keys) or "(top level)"
                yield MemorySite(path, index, "HelmValues", owner, None, limit, request)
                continue
        yield from _values_sites(path, index, v, (*keys, k.value))


def is_values_file(path: str) -> bool:
    """A Helm values file: ``values.yaml``, ``values-prod.yml`` and the like."""
    name = posixpath.basename(path)
    return name.startswith("values") and name.endswith((".yaml", ".yml"))


def sites_in_text(path: str, text: str) -> list[MemorySite]:
    """Memory limits in one YAML file's text; [] for templates (``{{``) and unparsable files."""
    if "{{" in text:
        return []
    try:
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    sites: list[MemorySite] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        sites.extend(_workload_sites(path, index, doc))
        if is_values_file(path) and _get(doc, "kind") is None:
            sites.extend(_values_sites(path, index, doc, ()))
    return sites


def find_memory_limits(repo: GitRepo) -> list[MemorySite]:
    """Every container memory limit in the repo's tracked YAML at the deployed commit."""
    sites: list[MemorySite] = []
    for path in repo.tracked_files:
        if path.endswith((".yaml", ".yml")):
            text = repo.read(path)
            if text:
                sites.extend(sites_in_text(path, text))
    return sites


# --------------------------------------------------------------------------- editing


def _render(scalar: Scalar, value: str) -> str:
    return f"{scalar.style}{value}{scalar.style}" if scalar.style else value


def _lookup(doc: Any, key_path: tuple[str | int, ...]) -> Any:
    for key in key_path:
        doc = doc[key]
    return doc


def _assign(doc: Any, key_path: tuple[str | int, ...], value: Any) -> None:
    _lookup(doc, key_path[:-1])[key_path[-1]] = value


def patch_scalars(text: str, changes: list[tuple[int, Scalar, str]]) -> str:
    """Replace each (document, scalar, new value) in ``text`` and prove only those values changed.

    The result is parsed again; with the old values put back it must equal the original documents.
    """
    updated = text
    for _, scalar, value in sorted(changes, key=lambda c: -c[1].start):
        updated = updated[: scalar.start] + _render(scalar, value) + updated[scalar.end :]
    try:
        before = list(yaml.safe_load_all(text))
        after = list(yaml.safe_load_all(updated))
    except yaml.YAMLError as exc:
        raise BadInputError(f"the edited YAML no longer parses: {exc}") from exc
    if len(before) != len(after):
        raise BadInputError("the edited YAML has a different number of documents")
    for doc, scalar, value in changes:
        try:
            now = _lookup(after[doc], scalar.key_path)
            _assign(after[doc], scalar.key_path, _lookup(before[doc], scalar.key_path))
        except (KeyError, IndexError, TypeError) as exc:
            raise BadInputError(f"the edited YAML lost {'.'.join(map(str, scalar.key_path))}") from exc
        if str(now) != value:
            raise BadInputError(f"the edited YAML reads {now!r} instead of {value!r}")
    if after != before:
        raise BadInputError("the edit changed more than the memory values")
    return updated


# --------------------------------------------------------------------------- candidates


def _termination(evidence: CrashEvidence | Termination | None) -> Termination | None:
    if isinstance(evidence, CrashEvidence):
        return evidence.termination
    return evidence


def _matches(site: MemorySite, container: str | None) -> bool:
    if container is None:
        return True
    if site.kind == "HelmValues":
        return site.workload == "(top level)" or container in site.workload.split(".")
    return site.container == container


def plan_memory_raise(
    repo: GitRepo,
    evidence: CrashEvidence | Termination | None,
    policy: MemoryPolicy | None = None,
    container: str | None = None,
) -> MemoryPlan:
    """Candidates raising the crashed container's memory limit, and reasons for sites left alone."""
    policy = policy or MemoryPolicy()
    plan = MemoryPlan()
    sites = find_memory_limits(repo)
    if not sites:
        plan.reasons.append("no Kubernetes workload or Helm values with resources.limits.memory in the repository")
        return plan
    chosen = [s for s in sites if _matches(s, container)]
    if not chosen:
        names = sorted({s.container or s.workload for s in sites})
        plan.reasons.append(f"no memory limit for container {container!r} (found: {', '.join(names)})")
        return plan
    term = _termination(evidence)
    groups: dict[tuple[str, int, str, str], list[MemorySite]] = {}
    for site in chosen:
        groups.setdefault((site.path, site.document, site.kind, site.workload), []).append(site)
    for (path, doc, kind, workload), members in groups.items():
        candidate = _candidate(repo, path, doc, kind, workload, members, policy, term, plan.reasons)
        if candidate is not None:
            plan.candidates.append(candidate)
    return plan


def raise_memory_limit(
    repo: GitRepo,
    evidence: CrashEvidence | Termination | None,
    policy: MemoryPolicy | None = None,
    container: str | None = None,
) -> list[Candidate]:
    """One ``raise-memory-limit`` candidate per workload (or Helm values block) of the crashed container."""
    return plan_memory_raise(repo, evidence, policy, container).candidates


def new_limit(old_bytes: int, policy: MemoryPolicy) -> int:
    """At most ``factor`` times the old limit, rounded up to a MiB, never above the cap."""
    cap = policy.cap_bytes // MI * MI if policy.cap_bytes % GI else policy.cap_bytes
    return min(math.ceil(old_bytes * policy.factor / MI) * MI, cap)


def _candidate(
    repo: GitRepo, path: str, doc: int, kind: str, workload: str, members: list[MemorySite],
    policy: MemoryPolicy, term: Termination | None, reasons: list[str],
) -> Candidate | None:
    changes: list[tuple[int, Scalar, str]] = []
    steps: list[str] = []
    label = f"{kind} `{workload}`" if kind != "HelmValues" else f"Helm values `{workload}`"
    for site in members:
        old = site.limit_bytes
        new = new_limit(old, policy)
        who = f"container `{site.container}` of {label}" if site.container else label
        if new <= old:
            reasons.append(
                f"{who} ({site.where}) already has memory limit {site.limit.value}, at or above the cap {policy.cap}; "
                "raising it further needs a human"
            )
            continue
        value = format_quantity(new)
        changes.append((doc, site.limit, value))
        step = f"{who}: limit {site.limit.value} -> {value} ({site.where})"
        if site.request is not None and _usable(site.request) and parse_quantity(site.request.value) > new:
            changes.append((doc, site.request, value))
            step += f", request {site.request.value} -> {value} so it stays within the limit"
        steps.append(step)
    if not changes:
        return None
    original = repo.read(path) or ""
    try:
        updated = patch_scalars(original, changes)
    except BadInputError as exc:
        reasons.append(f"{path}: could not edit the memory limit safely: {exc}")
        return None
    reason = (term.reason if term else "") or "OOMKilled"
    code = (term.exit_code if term else None) or 137
    rationale = (
        f"The container was killed by the kernel for exceeding its memory limit ({reason}, exit code {code}); "
        f"no Python exception was raised. Raise the memory limit of {label} in {path}: "
        + "; ".join(steps)
        + f". The new limit is at most {policy.factor:g}x the old one and never above the cap of {policy.cap}; "
        "other requests are unchanged. If memory keeps growing with load, this buys time and the memory "
        "used per unit of work needs a code fix."
    )
    matched = all(m.container is not None for m in members)
    return Candidate(
        strategy=STRATEGY, edits=(SourceEdit(path, original, updated),), rationale=rationale,
        score=0.6 if matched else 0.5,
    )
