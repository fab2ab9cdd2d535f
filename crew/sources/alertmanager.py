"""Alertmanager webhook payloads (version 4) into ``AlertInfo`` records.

The webhook is the pipeline's front door, so it is validated strictly where the meaning is
(status, labels, times) and tolerantly elsewhere: fields Alertmanager may add in a later
release are ignored rather than rejected, so an upgrade of Alertmanager does not stop healcrew.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import BadInputError, describe_validation_error
from crew.handoffs import AlertInfo, Termination

MAX_PAYLOAD_BYTES = 1 << 20
"""Alertmanager caps a group at a few hundred alerts; a payload beyond 1 MiB is not a webhook."""

CRASH_ALERTNAMES: tuple[str, ...] = (
    "KubeContainerOOMKilled",
    "KubePodCrashLooping",
    "KubeContainerWaiting",
    "KubePodNotReady",
    "KubeContainerTerminated",
)
"""Alerts that mean "a container keeps dying", most specific first (kubernetes-mixin names)."""

CRASH_REASONS = frozenset({"OOMKilled", "CrashLoopBackOff", "Error", "ContainerCannotRun", "StartError"})
"""kube-state-metrics ``reason`` label values that point at a crashing container."""

_EXIT_CODE_KEYS = ("exit_code", "exitcode", "exitCode", "last_terminated_exitcode", "last_exit_code")
_REASON_KEYS = ("reason", "last_terminated_reason", "termination_reason")
_SCRAPER_SERVICE = re.compile(r"kube-state-metrics|node-exporter|kubelet|cadvisor")
_POD_HASH = re.compile(r"-(?:[bcdfghjklmnpqrstvwxz2456789]{6,10}-)?[bcdfghjklmnpqrstvwxz2456789]{5}$")
"""ReplicaSet hash and pod suffix, in Kubernetes' vowel-free alphabet (so "-cache" survives)."""
_ZERO_TIME_YEAR = 1  # Alertmanager writes "0001-01-01T00:00:00Z" for "not ended yet"


class _WireAlert(BaseModel):
    """One alert as Alertmanager's webhook sends it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class WebhookPayload(BaseModel):
    """The version-4 webhook body (Alertmanager's ``notify/webhook`` Message)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: Literal["4"] = "4"
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[_WireAlert] = Field(min_length=1)
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")


def _time(value: datetime | None) -> datetime | None:
    if value is None or value.year <= _ZERO_TIME_YEAR:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past the last representable instant
        raise BadInputError(f"alert payload time {value.isoformat()} is out of range") from None


def load_payload(payload: bytes | str | Mapping[str, Any]) -> WebhookPayload:
    """Validate a webhook body (raw bytes/text or already-decoded JSON)."""
    if isinstance(payload, bytes | str):
        size = len(payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload)
        if size > MAX_PAYLOAD_BYTES:
            raise BadInputError(f"alert payload is {size} bytes, more than the {MAX_PAYLOAD_BYTES}-byte limit")
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError) as exc:  # bad syntax or bytes, a 4,300-digit number, deep nesting
            raise BadInputError(f"alert payload is not JSON: {str(exc).split(';')[0]}") from None
    if not isinstance(payload, Mapping):
        raise BadInputError(f"alert payload must be a JSON object, got {type(payload).__name__}")
    try:  # a JSON escape can spell a lone surrogate, which no database or file can store
        size = len(json.dumps(payload, default=str, ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:
        raise BadInputError("alert payload holds a lone surrogate (\\ud800-\\udfff), which is not text") from None
    except RecursionError:
        raise BadInputError("alert payload is nested too deeply") from None
    if size > MAX_PAYLOAD_BYTES:
        raise BadInputError(f"alert payload is {size} bytes, more than the {MAX_PAYLOAD_BYTES}-byte limit")
    try:
        model = WebhookPayload.model_validate(payload)
    except ValidationError as exc:
        raise BadInputError(f"alert payload {describe_validation_error(exc, 'payload')}") from None
    for i, alert in enumerate(model.alerts):
        if not alert.labels.get("alertname"):
            raise BadInputError(f"alert payload alerts.{i}.labels: no alertname label")
        _check_sizes(i, alert)
    return model


MAX_NAME_CHARS = 200
"""Longest alertname, service and container: what the incident store keeps in its indexed columns."""
MAX_LABEL_CHARS = 1024
MAX_FINGERPRINT_CHARS = 128


def _check_sizes(i: int, alert: _WireAlert) -> None:
    """Reject what a database column could not hold, here with a reason rather than as a 500 later."""
    if len(alert.fingerprint) > MAX_FINGERPRINT_CHARS:
        raise BadInputError(f"alert payload alerts.{i}.fingerprint: longer than {MAX_FINGERPRINT_CHARS} characters")
    for name, value in alert.labels.items():
        limit = MAX_NAME_CHARS if name in ("alertname", "service", "container") else MAX_LABEL_CHARS
        if len(name) > MAX_NAME_CHARS or len(value) > limit:
            shown = name[:40] + ("..." if len(name) > 40 else "")
            raise BadInputError(f"alert payload alerts.{i}.labels.{shown}: longer than "
                                f"{MAX_NAME_CHARS if len(name) > MAX_NAME_CHARS else limit} characters")


def parse_webhook(payload: bytes | str | Mapping[str, Any]) -> list[AlertInfo]:
    """All alerts of a webhook payload, in payload order; ``BadInputError`` when malformed."""
    model = load_payload(payload)
    return [
        AlertInfo(
            status=a.status, alertname=a.labels["alertname"], labels=dict(a.labels),
            annotations=dict(a.annotations), fingerprint=a.fingerprint,
            starts_at=_time(a.starts_at), ends_at=_time(a.ends_at), generator_url=a.generator_url,
        )
        for a in model.alerts
    ]


def _crash_rank(alert: AlertInfo) -> int | None:
    if alert.alertname in CRASH_ALERTNAMES:
        return CRASH_ALERTNAMES.index(alert.alertname)
    if any(alert.labels.get(k) in CRASH_REASONS for k in _REASON_KEYS):
        return len(CRASH_ALERTNAMES)
    return None


def pick_crash_alert(alerts: Iterable[AlertInfo]) -> AlertInfo | None:
    """The alert that best says "this container crashes"; None when none does.

    Firing alerts come first (a resolved one still places a replayed incident in time), then
    the most specific alert name; ties go to the earliest start, when the incident began.
    """
    ranked = [(r, a) for a in alerts if (r := _crash_rank(a)) is not None]
    if not ranked:
        return None
    far_future = datetime.max.replace(tzinfo=UTC)
    return min(ranked, key=lambda ra: (ra[1].status != "firing", ra[0], ra[1].starts_at or far_future))[1]


@dataclass(frozen=True, slots=True)
class AlertTarget:
    """Where an alert points: enough to build a log query or a Kubernetes lookup."""

    namespace: str = ""
    pod: str = ""
    container: str = ""
    service: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def alert_target(alert: AlertInfo) -> AlertTarget:
    """Namespace, pod, container and service of an alert.

    kube-state-metrics alerts carry ``service``/``job`` of the *scraper* (kube-state-metrics),
    not of the crashing workload, so such a service label is ignored in favour of the
    container name, then the pod name without its ReplicaSet hash.
    """
    labels = alert.labels
    namespace = labels.get("namespace", "") or labels.get("exported_namespace", "")
    pod = labels.get("pod", "") or labels.get("exported_pod", "")
    container = labels.get("container", "") or labels.get("exported_container", "")
    service = labels.get("service", "")
    if service and (service == labels.get("job") or _SCRAPER_SERVICE.search(service)):
        service = ""
    for key in ("app_kubernetes_io_name", "label_app_kubernetes_io_name", "app", "label_app"):
        service = service or labels.get(key, "")
    service = service or container or _POD_HASH.sub("", pod)
    return AlertTarget(
        namespace=namespace, pod=pod, container=container, service=service,
        starts_at=alert.starts_at, ends_at=alert.ends_at,
    )


def _exit_code(values: Mapping[str, str]) -> int | None:
    for key in _EXIT_CODE_KEYS:
        raw = values.get(key, "").strip()
        if raw.lstrip("-").isdigit():
            return int(raw)
    return None


def _oom(alert: AlertInfo) -> Termination | None:
    for where, values in (("label", alert.labels), ("annotation", alert.annotations)):
        for key in _REASON_KEYS:
            if values.get(key, "").strip().lower() == "oomkilled":
                code = _exit_code(alert.labels) or _exit_code(alert.annotations) or 137
                return Termination(
                    kind="oom_killed", reason="OOMKilled", exit_code=code,
                    detail=f"alert {alert.alertname}: {where} {key}=OOMKilled",
                )
        if _exit_code(values) == 137:
            return Termination(
                kind="oom_killed", reason="OOMKilled", exit_code=137,
                detail=f"alert {alert.alertname}: {where} exit code 137 (SIGKILL, as the OOM killer sends)",
            )
    if alert.alertname == "KubeContainerOOMKilled":
        return Termination(
            kind="oom_killed", reason="OOMKilled", exit_code=137, detail=f"alert {alert.alertname}"
        )
    return None


def alert_termination(alerts: Iterable[AlertInfo]) -> Termination | None:
    """An OOM kill told by the alerts (reason OOMKilled, exit code 137), firing alerts first.

    Other exit codes are deliberately not reported: a plain non-zero exit says nothing the
    logs do not, and returning it would hide a start-up error found in the logs.
    """
    ordered = sorted(alerts, key=lambda a: a.status != "firing")
    for alert in ordered:
        term = _oom(alert)
        if term is not None:
            return term
    return None
