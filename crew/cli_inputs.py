"""The command line's inputs, checked and turned into an ``Incident`` before any heavy work.

A wrong option, a missing or empty or binary log, a bundle path that is a file, an ``--out``
that is a file, ``--deliver github`` without its repository or token: each is one line and
exit 2 within a fraction of a second, before the repository is read in earnest, crewai or the
Docker client is imported, or anything is written. The checks are stats and small reads.

``healcrew run`` and ``diagnose`` take their logs from exactly one of ``--log FILE``, ``--loki
URL`` or ``--kubernetes NAMESPACE/POD[/CONTAINER]``, the sources a bundle's ``logs:`` names,
plus an optional ``--alert FILE`` (an Alertmanager webhook payload) that places the crash in
time and names the pod. Loki and Kubernetes credentials come from the operator's environment
(``HEALCREW_LOKI_TOKEN``..., the kubeconfig), as for bundles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crew.errors import BadInputError

if TYPE_CHECKING:
    from crew.handoffs import AlertInfo, Incident, LogSource

SANDBOXES = ("docker", "process", "auto")
FORGES = ("local", "github", "none")
LOG_FLAGS = "--log FILE, --loki URL or --kubernetes NAMESPACE/POD[/CONTAINER]"
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class LogArgs:
    """The log-source flags of ``run`` and ``diagnose``, as given."""

    log: Path | None = None
    loki: str | None = None
    loki_query: str | None = None
    loki_org_id: str | None = None
    kubernetes: str | None = None
    alert: Path | None = None


def check_options(sandbox: str = "auto", python: str | None = None, deliver: str | None = None) -> None:
    """The options whose values are a closed set or a pattern."""
    if sandbox not in SANDBOXES:
        raise BadInputError(f"--sandbox must be docker, process or auto, not {sandbox!r}")
    if python is not None and not re.fullmatch(r"3\.\d{1,2}", python):
        raise BadInputError(f"--python must be a version such as 3.11, not {python!r}")
    if deliver is not None and deliver not in FORGES:
        raise BadInputError(f"--deliver must be local, github or none, not {deliver!r}")


def check_repo(repo: Path) -> None:
    if not repo.exists():
        raise BadInputError(f"repository not found: {repo}")
    if not repo.is_dir():
        raise BadInputError(f"--repo {repo} is a file, not a repository folder")


def check_out(out_dir: Path | None) -> None:
    """``--out`` may not exist yet; it is created only once the run has something to write."""
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise BadInputError(f"--out {out_dir} is a file, not a folder")


def check_bundle(bundle: Path) -> None:
    """A bundle is a folder: say so when given a file (often its ``incident.yaml``)."""
    if not bundle.exists():
        raise BadInputError(f"bundle not found: {bundle}")
    if not bundle.is_dir():
        hint = f"; pass its folder, {bundle.parent}" if bundle.name == "incident.yaml" else ""
        raise BadInputError(f"not a bundle folder: {bundle} is a file{hint}")


def check_log(log: Path) -> None:
    from crew.sources.files import check_log_file

    check_log_file(log)


def check_alert(alert: Path) -> None:
    from crew.sources.alertmanager import MAX_PAYLOAD_BYTES

    if not alert.exists():
        raise BadInputError(f"alert file not found: {alert}")
    if not alert.is_file():
        raise BadInputError(f"alert file {alert} is not a regular file")
    if alert.stat().st_size > MAX_PAYLOAD_BYTES:
        raise BadInputError(f"alert file {alert} is larger than {MAX_PAYLOAD_BYTES} bytes; not a webhook payload")


def check_log_args(args: LogArgs, *, required: bool = True) -> None:
    """Exactly one log source, each flag well formed, and the files it names readable."""
    given = [flag for flag, value in (("--log", args.log), ("--loki", args.loki), ("--kubernetes", args.kubernetes))
             if value is not None]
    if len(given) > 1:
        raise BadInputError(f"give one log source, not {' and '.join(given)}")
    if not given and required:
        raise BadInputError(f"give the crash's logs: {LOG_FLAGS}")
    if args.loki is None and (args.loki_query is not None or args.loki_org_id is not None):
        raise BadInputError("--loki-query and --loki-org-id go with --loki URL")
    if args.loki is not None and not re.match(r"^https?://[^\s/]+", args.loki):
        raise BadInputError(f"--loki must be an http(s) URL such as http://loki:3100, not {args.loki!r}")
    if args.kubernetes is not None:
        _kubernetes_parts(args.kubernetes)
    if args.alert is not None:
        check_alert(args.alert)
    if args.log is not None:
        check_log(args.log)


def _kubernetes_parts(value: str) -> tuple[str, str, str | None]:
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(_K8S_NAME.match(p) for p in parts):
        raise BadInputError(f"--kubernetes must be NAMESPACE/POD or NAMESPACE/POD/CONTAINER, not {value!r}")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def read_alerts(alert: Path) -> list[AlertInfo]:
    """The alerts of an Alertmanager webhook payload file; one line when it is not one."""
    from crew.sources.alertmanager import MAX_PAYLOAD_BYTES, parse_webhook

    with alert.open("rb") as fh:
        raw = fh.read(MAX_PAYLOAD_BYTES + 1)
    try:
        return parse_webhook(raw)
    except BadInputError as exc:
        raise BadInputError(f"alert file {alert}: {exc}") from None


def log_source(args: LogArgs, alerts: list[AlertInfo]) -> LogSource:
    """The ``LogSource`` the flags name; a Loki query is derived from the alert's pod when not given."""
    from crew.handoffs import KubernetesSource, LogSource, LokiSource
    from crew.sources.alertmanager import alert_target, pick_crash_alert

    if args.log is not None:
        return LogSource(file=str(args.log.resolve()))
    if args.kubernetes is not None:
        namespace, pod, container = _kubernetes_parts(args.kubernetes)
        return LogSource(kubernetes=KubernetesSource(namespace=namespace, pod=pod, container=container))
    assert args.loki is not None
    firing = pick_crash_alert(alerts)
    target = alert_target(firing) if firing else None
    if not args.loki_query and not (target and (target.pod or target.container)):
        raise BadInputError("--loki needs --loki-query LOGQL, or an --alert FILE that names the pod to query")
    return LogSource(loki=LokiSource(url=args.loki.rstrip("/"), query=args.loki_query or "",
                                     org_id=args.loki_org_id))


def incident_for(repo: Path, commit: str, args: LogArgs, test_command: str | None = None) -> Incident:
    """The incident of ``healcrew run``/``diagnose``: a repo, a log source and maybe an alert."""
    from crew.bundle import new_correlation_id
    from crew.handoffs import Incident
    from crew.sources.alertmanager import alert_target, pick_crash_alert

    alerts = read_alerts(args.alert) if args.alert is not None else []
    source = log_source(args, alerts)
    firing = pick_crash_alert(alerts)
    target = alert_target(firing) if firing else None
    k8s = source.kubernetes
    namespace = (k8s.namespace if k8s else "") or (target.namespace if target else "")
    pod = (k8s.pod if k8s else "") or (target.pod if target else "")
    container = (k8s.container if k8s else None) or (target.container if target else "")
    name = args.log.stem if args.log is not None else pod or container or "loki"
    slug = re.sub(r"[^a-z0-9]+", "-", f"{repo.resolve().name}-{name}".lower()).strip("-")[:50]
    return Incident(
        id=slug or "incident", service=(target.service if target else "") or repo.resolve().name,
        namespace=namespace, pod=pod, container=container or "", repo=str(repo), commit=commit,
        started_at=firing.starts_at if firing else None, alerts=alerts, logs=source,
        test_command=test_command or "python -m pytest -q", correlation_id=new_correlation_id(),
    )


def check_delivery(forge: str | None, config: dict[str, object] | None, config_file: Path | None,
                   repo: Path, commit: str) -> None:
    """What delivery will need, checked now rather than after the repair: a push needs its remote,
    a GitHub pull request its repository name and token. Each message names the file and key."""
    if forge is None or config is None:
        return
    from crew.delivery.config import OPERATOR_CONFIG_ENV, DeliveryConfig, operator_config_path

    settings = DeliveryConfig.model_validate(config)
    path = operator_config_path(config_file)
    where = (f"the operator config {path}" if path is not None else
             f"an operator config file (--config FILE or ${OPERATOR_CONFIG_ENV}, YAML with a delivery: section)")
    if settings.forge == "github":
        if not settings.github.repo:
            raise BadInputError(f"--deliver github needs delivery.github.repo ('owner/name') in {where}")
        import os

        token_env = settings.github.token_env
        if not os.environ.get(token_env, "").strip():
            raise BadInputError(f"--deliver github needs a GitHub token in ${token_env} (the variable is named by "
                                f"delivery.github.token_env in {where})")
    if settings.push:
        from crew.delivery.gitops import resolve_remote
        from crew.errors import DeliveryError
        from crew.repo import GitRepo

        try:
            resolve_remote(GitRepo(repo, commit), settings)
        except DeliveryError as exc:
            raise BadInputError(str(exc)) from None
