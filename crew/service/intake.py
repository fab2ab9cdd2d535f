"""Alert -> incident folding on the request path: only database work, nothing slow.

Rules: the same fingerprint folds into the incident it already belongs to while that incident is
active (queued, running, awaiting approval, waiting) or ended (other than cancelled) within the fold
window, so Alertmanager's repeats are idempotent and a failed or rejected incident is not re-run per
repeat; a repeat whose restart count changed puts a ``waiting`` incident (below the failure
threshold) back in the queue, where the worker checks the threshold again; a ``resolved`` alert
cancels its incident if no worker has started it; an alert for a service the config does not know
becomes a ``rejected`` incident with the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from crew.handoffs import AlertInfo
from crew.service.config import ServiceConfig
from crew.service.store import ACTIVE, AlertRow, IncidentRow, aware, now


@dataclass(frozen=True)
class Folded:
    """What one alert did: ``created``, ``deduplicated``, ``requeued``, ``cancelled``, ``rejected`` or ``ignored``."""

    incident_id: str | None
    action: str
    fingerprint: str


def fingerprint_of(alert: AlertInfo) -> str:
    """Alertmanager's fingerprint, or a hash of the labels when a sender left it out."""
    if alert.fingerprint:
        return alert.fingerprint
    return hashlib.sha256(json.dumps(alert.labels, sort_keys=True).encode()).hexdigest()[:16]


def _open_alert(s: Session, fp: str, window: timedelta, newest: dict[str, AlertRow]) -> AlertRow | None:
    """The alert row a repeat of ``fp`` folds into: only the newest can be (an older one was closed first)."""
    row = newest.get(fp)
    if row is None:
        row = s.scalars(select(AlertRow).options(joinedload(AlertRow.incident))
                        .where(AlertRow.fingerprint == fp).order_by(AlertRow.id.desc()).limit(1)).first()
    if row is None:
        return None
    inc = row.incident
    if inc.status in ACTIVE:
        return row
    recent = (aware(inc.updated_at) or now()) >= now() - window
    return row if inc.status != "cancelled" and recent else None


def fold(s: Session, config: ServiceConfig, alert: AlertInfo, newest: dict[str, AlertRow] | None = None) -> Folded:
    """Record one alert and return what it did (the caller commits).

    ``newest`` carries, across the folds of one transaction, each fingerprint's newest alert row,
    so a batch of repeats looks its row up once.
    """
    newest = {} if newest is None else newest
    fp = fingerprint_of(alert)
    existing = _open_alert(s, fp, timedelta(minutes=config.fold_window_minutes), newest)
    if existing is not None:
        newest[fp] = existing
        restarts_before = (existing.annotations or {}).get("restarts")
        existing.received += 1
        existing.last_seen = now()
        existing.status = alert.status
        existing.annotations = dict(alert.annotations)  # the latest restart count counts
        inc = existing.incident
        if alert.status == "resolved" and inc.status in ("queued", "waiting"):
            inc.status, inc.reason = "cancelled", "the alert resolved before a worker started"
            return Folded(inc.id, "cancelled", fp)
        if inc.status == "waiting" and alert.annotations.get("restarts") != restarts_before:
            inc.status, inc.reason = "queued", "more restarts reported; the failure threshold is checked again"
            return Folded(inc.id, "requeued", fp)
        return Folded(inc.id, "deduplicated", fp)
    if alert.status == "resolved":
        return Folded(None, "ignored", fp)
    entry = config.service_for(alert.labels)
    service = alert.labels.get("service") or alert.labels.get("container") or ""
    if entry is None:
        inc = IncidentRow(service=service or "(none)", status="rejected", labels=dict(alert.labels),
                          reason=f"no service in the config matches this alert (service={service or 'unset'!s})")
    else:
        inc = IncidentRow(service=entry.name, status="queued", labels=dict(alert.labels))
    s.add(inc)
    s.flush()
    row = AlertRow(incident_id=inc.id, fingerprint=fp, alertname=alert.alertname, status=alert.status,
                   labels=dict(alert.labels), annotations=dict(alert.annotations))
    s.add(row)
    s.flush()
    newest[fp] = row
    return Folded(inc.id, "rejected" if entry is None else "created", fp)
