"""Incident bundles: a saved incident that ``healcrew replay`` runs again.

A bundle is a folder holding ``incident.yaml`` (schema below and in the README), usually an
Alertmanager webhook payload and the logs. Paths inside it are relative to the folder.

A bundle is data someone handed over, so it may not reach out of its folder: ``alert`` and
``logs.file`` must resolve (symlinks followed) to regular files inside it, and ``repo.path`` to
a folder inside it, or to a healcrew example tree (a folder with ``.history.yaml``, which is
materialized into the cache from its recorded history). Anything else the operator passes on
the command line (``healcrew replay BUNDLE --repo PATH --log FILE``). A bundle's Loki URL is
used only when the operator configured the same URL (``$HEALCREW_LOKI_URL``), since the
operator's Loki credentials go with the request.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import BadInputError, describe_validation_error
from crew.handoffs import Incident, KubernetesSource, LogSource, LokiSource

BUNDLE_FILE = "incident.yaml"
MAX_BUNDLE_FILE = 1 << 20
LOKI_URL_ENV = "HEALCREW_LOKI_URL"


class RepoSpec(BaseModel):
    """Where the service's code is, and which commit was deployed."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Repository path, relative to the bundle folder.")
    commit: str = Field(default="HEAD", description="Deployed commit (sha or ref).")


class LogSpec(BaseModel):
    """Exactly one log source."""

    model_config = ConfigDict(extra="forbid")

    file: str | None = Field(default=None, description="Log file, relative to the bundle folder.")
    loki: LokiSource | None = None
    kubernetes: KubernetesSource | None = None


class BundleSpec(BaseModel):
    """The schema of ``incident.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Incident id.")
    service: str = Field(default="", description="Service name.")
    namespace: str = ""
    pod: str = ""
    container: str = ""
    repo: RepoSpec
    alert: str | None = Field(default=None, description="Alertmanager webhook payload file.")
    logs: LogSpec
    test_command: str = Field(default="python -m pytest -q", description="The repo's test command.")


def _inside(base: Path, rel: str, what: str, *, folder: bool = False) -> Path:
    """``base/rel`` resolved; refused when it leaves ``base`` (by ``..``, an absolute path or a symlink)."""
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        flag = "--repo" if folder else "--log" if what == "log file" else None
        hint = f"; pass it on the command line ({flag}) instead" if flag else ""
        raise BadInputError(f"bundle {base.name}: {what} {rel} is outside the bundle folder{hint}")
    if not path.exists():
        raise BadInputError(f"bundle {base.name}: {what} not found: {rel}")
    if folder and not path.is_dir():
        raise BadInputError(f"bundle {base.name}: {what} is not a folder: {rel}")
    if not folder and not path.is_file():
        raise BadInputError(f"bundle {base.name}: {what} is not a regular file: {rel}")
    return path


def _bundle_repo(base: Path, rel: str) -> Path:
    """The bundle's repository: inside the bundle, or a healcrew example tree with recorded history."""
    from crew.history import has_history

    path = (base / rel).resolve()
    if not path.is_relative_to(base) and path.is_dir() and has_history(path):
        return path  # an example tree: only its recorded history and tree are used, in the cache
    return _inside(base, rel, "repository", folder=True)


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def load_bundle(folder: Path, cache_dir: Path, repo: Path | None = None, log: Path | None = None) -> Incident:
    """Validate a bundle and turn it into an ``Incident`` (materializing example repos).

    ``repo`` and ``log``, given by the operator, replace the bundle's ``repo.path`` and ``logs``.
    """
    from crew.history import has_history, materialize
    from crew.sources.alertmanager import MAX_PAYLOAD_BYTES, parse_webhook

    folder = folder.resolve()
    spec_file = folder / BUNDLE_FILE
    if not folder.is_dir():
        raise BadInputError(f"bundle not found: {folder}")
    if not spec_file.is_file():
        raise BadInputError(f"not an incident bundle (no {BUNDLE_FILE}): {folder}")
    if not spec_file.resolve().is_relative_to(folder):
        raise BadInputError(f"bundle {folder.name}: {BUNDLE_FILE} is a link out of the bundle folder")
    if spec_file.stat().st_size > MAX_BUNDLE_FILE:
        raise BadInputError(f"{spec_file.name} is larger than {MAX_BUNDLE_FILE} bytes")
    try:
        raw = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{spec_file.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise BadInputError(f"{spec_file.name} must be a mapping, got {type(raw).__name__}")
    try:
        spec = BundleSpec.model_validate(raw)
    except ValidationError as exc:
        raise BadInputError(f"{spec_file.name}: {describe_validation_error(exc, 'document')}") from None
    if sum(x is not None for x in (spec.logs.file, spec.logs.loki, spec.logs.kubernetes)) != 1:
        raise BadInputError(f"{spec_file.name}: logs must name exactly one of file, loki, kubernetes")

    if repo is None:
        repo = _bundle_repo(folder, spec.repo.path)
    elif not repo.is_dir():
        raise BadInputError(f"--repo {repo} is not a folder")
    if has_history(repo):
        repo = materialize(repo, cache_dir / "repos")
    alerts = []
    if spec.alert:
        alert_file = _inside(folder, spec.alert, "alert file")
        with alert_file.open("rb") as fh:  # bounded read; parse_webhook rejects what is over its limit
            raw_alert = fh.read(MAX_PAYLOAD_BYTES + 1)
        try:
            alerts = parse_webhook(raw_alert)
        except BadInputError as exc:
            raise BadInputError(f"alert file {spec.alert}: {exc}") from None
    if log is not None:
        if not log.is_file():
            raise BadInputError(f"log file not found: {log}")
        logs = LogSource(file=str(log.resolve()))
    else:
        if spec.logs.loki is not None:
            allowed = os.environ.get(LOKI_URL_ENV, "").strip()
            if not allowed or not _same_url(allowed, spec.logs.loki.url):
                raise BadInputError(
                    f"bundle {folder.name} names a Loki server the operator did not configure; set {LOKI_URL_ENV} "
                    "to that URL to allow it, or pass --log FILE")
        logs = LogSource(
            file=str(_inside(folder, spec.logs.file, "log file")) if spec.logs.file else None,
            loki=spec.logs.loki, kubernetes=spec.logs.kubernetes,
        )
    from crew.sources.alertmanager import alert_target, pick_crash_alert

    firing = pick_crash_alert(alerts)
    target = alert_target(firing) if firing else None
    return Incident(
        id=spec.id,
        service=spec.service or (target.service if target else ""),
        namespace=spec.namespace or (target.namespace if target else ""),
        pod=spec.pod or (target.pod if target else ""),
        container=spec.container or (target.container if target else ""),
        repo=str(repo), commit=spec.repo.commit,
        started_at=firing.starts_at if firing else None,
        alerts=alerts, logs=logs, test_command=spec.test_command,
        correlation_id=new_correlation_id(),
    )


def incident_from_log(repo: Path, log: Path, commit: str = "HEAD", test_command: str | None = None) -> Incident:
    """An incident for ``healcrew run``/``diagnose``: a repo plus a log file, no alert."""
    if not log.exists():
        raise BadInputError(f"log file not found: {log}")
    slug = re.sub(r"[^a-z0-9]+", "-", f"{repo.resolve().name}-{log.stem}".lower()).strip("-")[:50]
    return Incident(
        id=slug or "incident", service=repo.resolve().name, repo=str(repo), commit=commit,
        logs=LogSource(file=str(log)), test_command=test_command or "python -m pytest -q",
        correlation_id=new_correlation_id(),
    )


def new_correlation_id() -> str:
    """A short id put on every log line and record of one run."""
    return uuid.uuid4().hex[:12]
