"""What the pull request needs to know from the repository at the deployed commit.

Two questions the run report cannot answer by itself: which workload the repository ships
(an Argo Rollout or a Deployment), so the PR can say how to roll the *deployment* back and not
only the commit; and which suspect commits merely created the fault file, which are history,
not suspects (``git log -L`` lists the commit that added a function as having changed it).

The repository is untrusted: files are read as committed blobs through :class:`crew.repo.GitRepo`
(no working tree, no links followed), YAML with ``safe_load_all``, and both are bounded.
A repository that cannot be opened gives no facts rather than an error: the PR is still written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crew.handoffs import RunReport, SuspectCommit
    from crew.repo import GitRepo

__all__ = ["RepoFacts", "Workload", "real_suspects", "repo_facts", "rollback_command", "service_workload"]

_MAX_MANIFESTS = 200
_MAX_MANIFEST_BYTES = 256 * 1024
_WORKLOAD_KIND = re.compile(r"^kind:\s*['\"]?(Rollout|Deployment)['\"]?\s*$", re.M)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # a Kubernetes object name


@dataclass(frozen=True)
class Workload:
    """A Rollout or Deployment manifest in the repository."""

    kind: str  # "Rollout" or "Deployment"
    name: str
    namespace: str
    path: str
    containers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepoFacts:
    """The facts, empty when the repository could not be read."""

    workloads: tuple[Workload, ...] = ()


def _mapping(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _workloads_in(path: str, text: str) -> list[Workload]:
    import yaml

    found: list[Workload] = []
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return found
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        kind, api = doc.get("kind"), str(doc.get("apiVersion", ""))
        if not ((kind == "Rollout" and api.startswith("argoproj.io/")) or (kind == "Deployment" and api == "apps/v1")):
            continue
        meta = _mapping(doc.get("metadata"))
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace", "") or "")
        if not _NAME.match(name) or (namespace and not _NAME.match(namespace)):
            continue
        pod = _mapping(_mapping(_mapping(doc.get("spec")).get("template")).get("spec"))
        containers = pod.get("containers")
        names = tuple(str(c.get("name")) for c in (containers if isinstance(containers, list) else [])
                      if isinstance(c, dict) and c.get("name"))
        found.append(Workload(kind=str(kind), name=name, namespace=namespace, path=path, containers=names))
    return found


def workloads(repo: GitRepo) -> list[Workload]:
    """Every Rollout and Deployment committed in the repository, Rollouts first."""
    found: list[Workload] = []
    manifests = [p for p in repo.tracked_files if p.endswith((".yaml", ".yml"))][:_MAX_MANIFESTS]
    for path in manifests:
        text = repo.read(path)
        if text is None or len(text) > _MAX_MANIFEST_BYTES or not _WORKLOAD_KIND.search(text):
            continue
        found += _workloads_in(path, text)
    return sorted(found, key=lambda w: (w.kind != "Rollout", w.path, w.name))


def repo_facts(report: RunReport) -> RepoFacts:
    """The facts for ``report``'s repository at its deployed commit; empty when it cannot be read."""
    from crew.errors import HealcrewError
    from crew.repo import GitRepo

    d = report.diagnosis
    commit = (d.commit if d is not None and d.commit else report.incident.commit) or "HEAD"
    try:
        repo = GitRepo(report.incident.repo, commit)
        return RepoFacts(workloads=tuple(workloads(repo)))
    except (HealcrewError, OSError):
        return RepoFacts()


def real_suspects(suspects: list[SuspectCommit]) -> list[SuspectCommit]:
    """The suspects that changed the fault file after creating it: its first commit is history, not a suspect."""
    return [s for s in suspects if not s.created_file]


def service_workload(facts: RepoFacts, service: str, container: str) -> Workload | None:
    """The workload that runs the crashing service: by name, else by container, else the only one."""
    if not facts.workloads:
        return None
    for w in facts.workloads:
        if service and w.name == service:
            return w
    for w in facts.workloads:
        if container and container in w.containers:
            return w
    return facts.workloads[0] if len(facts.workloads) == 1 else None


def rollback_command(w: Workload, namespace: str) -> str:
    """The command that rolls the workload back to its previous revision."""
    ns = w.namespace or namespace
    flag = f" -n {ns}" if ns else ""
    if w.kind == "Rollout":
        return f"kubectl argo rollouts undo {w.name}{flag}"
    return f"kubectl rollout undo deployment/{w.name}{flag}"
