"""The delivery intent: what a delivery is about to do on the remote, written before it does it.

A push and a PR record are on the remote (or in the forge); the run's ``report.json`` is on the
output disk. A fault between the two (a full disk, a kill) would leave a report that says
"not pushed" next to a pushed branch. So the intent is written to the cache, atomically, before
the push and updated after each remote step; a delivery that ends cleanly removes it, and the
next delivery for the same incident and remote reconciles a leftover one with what the remote
really holds (the branch head and the PR record) and rewrites the old report to match.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import DeliveryError
from crew.handoffs import DeliveryRecord, RunReport


def _cache() -> Path:
    return Path(os.environ.get("HEALCREW_CACHE") or Path.home() / ".cache" / "healcrew")


class DeliveryIntent(BaseModel):
    """One delivery in progress: enough to find out afterwards what it did."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    remote_url: str = Field(description="Where the branch is pushed (local path or URL; kept in the cache only).")
    out_dir: str = Field(description="The run's output folder, whose report.json is reconciled.")
    started_at: datetime
    record: DeliveryRecord = Field(description="The delivery record as far as this run knows it.")


def _path(remote: str, incident_id: str) -> Path:
    key = hashlib.sha1(remote.encode("utf-8"), usedforsecurity=False).hexdigest()
    return _cache() / "deliveries" / key / f"{incident_id}.json"


def save(intent: DeliveryIntent) -> None:
    """Write (or update) the intent atomically; a full cache disk is a one-line OutputError."""
    from crew.report import _write_atomic

    assert intent.record.remote is not None
    _write_atomic(_path(intent.record.remote, intent.record.incident_id), intent.model_dump_json(indent=2))


def start(record: DeliveryRecord, remote_url: str, run_id: str, out_dir: Path) -> DeliveryIntent:
    """Record, before the push, that this run is about to deliver ``record``."""
    intent = DeliveryIntent(run_id=run_id, remote_url=remote_url, out_dir=str(out_dir),
                            started_at=datetime.now(UTC), record=record.model_copy(deep=True))
    save(intent)
    return intent


def update(intent: DeliveryIntent, record: DeliveryRecord) -> None:
    """The remote moved on (pushed, PR recorded): keep the intent in step."""
    intent.record = record.model_copy(deep=True)
    save(intent)


def finish(intent: DeliveryIntent) -> None:
    """The outputs agree with the remote: the intent is no longer needed."""
    assert intent.record.remote is not None
    _path(intent.record.remote, intent.record.incident_id).unlink(missing_ok=True)


def load(remote: str, incident_id: str) -> DeliveryIntent | None:
    """The leftover intent of an earlier delivery for this remote and incident, if any."""
    path = _path(remote, incident_id)
    try:
        return DeliveryIntent.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValidationError, UnicodeDecodeError, OSError):
        path.unlink(missing_ok=True)  # unreadable: the remote is compared afresh by the push's lease
        return None


def reconcile(remote: str, incident_id: str) -> str | None:
    """Bring an interrupted delivery's record in line with the remote; a note saying what was done.

    The truth is the remote: the branch head (``git ls-remote``) and, for the local forge, the PR
    record. The old run's ``report.json`` is rewritten to match and the intent removed. When the
    remote cannot be reached the intent is kept for the next run and None is returned.
    """
    from crew.delivery import gitops, local_forge

    intent = load(remote, incident_id)
    if intent is None:
        return None
    record = intent.record.model_copy(deep=True)
    try:
        head = gitops.remote_branch_sha(intent.remote_url, record.branch)
    except DeliveryError:
        return None
    if head is None:
        record.pushed, record.commit, record.pull_request = False, None, None
    else:
        record.pushed, record.commit = True, head
    if record.forge == "local":
        existing = local_forge.load_pr(remote, incident_id)
        if existing is not None and head is not None and existing.head_sha == head:
            record.pull_request = local_forge.info(existing, created=record.pull_request is not None
                                                   and record.pull_request.created)
        elif head is None or existing is None:
            record.pull_request = None
    record.error = None
    where = "pushed at " + head[:12] if head else "not on the remote"
    note = f"reconciled the interrupted delivery of run {intent.run_id}: branch {record.branch} is {where}"
    report_file = Path(intent.out_dir) / "report.json"
    if report_file.is_file():
        from crew.report import to_json

        try:
            old = RunReport.model_validate_json(report_file.read_text(encoding="utf-8"))
        except (ValidationError, UnicodeDecodeError, OSError):
            old = None
        if old is not None:
            record.notes.append(note)
            from crew.report import _write_atomic

            _write_atomic(report_file, to_json(old.model_copy(update={"delivery": record})))
            note += "; its report.json now says so"
    finish(intent)
    return note
