"""The default forge: a pull request as a review bundle on disk, with a record per incident.

The branch is pushed to a real git remote like for GitHub; the "pull request" is the output
folder (``PR.md``, ``fix.patch``, ``report.json``) plus a small JSON record kept next to the
remote's state in the cache (``$HEALCREW_CACHE/forge/<sha1 of remote url>/<incident-id>.json``).
The record makes delivery idempotent: a second run for the same incident updates the same PR
and says what changed in a comment; a PR a human closed is respected for a cool-down.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import DeliveryError
from crew.handoffs import PullRequestInfo


def cache_dir() -> Path:
    """healcrew's cache (``$HEALCREW_CACHE``, default ``~/.cache/healcrew``), as the CLI uses it."""
    return Path(os.environ.get("HEALCREW_CACHE") or Path.home() / ".cache" / "healcrew")


class Comment(BaseModel):
    """One comment on a local PR."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    author: str
    body: str


class LocalPullRequest(BaseModel):
    """The state of one local PR: what a forge would keep for it."""

    model_config = ConfigDict(extra="forbid")

    number: int
    incident_id: str
    remote: str = Field(description="The remote URL (without credentials) the branch is pushed to.")
    state: Literal["open", "closed", "merged"] = "open"
    title: str
    branch: str
    base: str
    head_sha: str
    draft: bool = False
    labels: list[str] = Field(default_factory=list)
    reviewers: list[str] = Field(default_factory=list)
    bundle: str = Field(description="The review bundle folder (PR.md, fix.patch, report.json).")
    strategy: str = ""
    diff_stats: str = ""
    run_id: str = ""
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    comments: list[Comment] = Field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def forge_dir(remote: str, cache: Path | None = None) -> Path:
    """Where the PR records for ``remote`` live."""
    key = hashlib.sha1(remote.encode("utf-8"), usedforsecurity=False).hexdigest()
    return (cache or cache_dir()) / "forge" / key


def _record_path(remote: str, incident_id: str, cache: Path | None) -> Path:
    return forge_dir(remote, cache) / f"{incident_id}.json"


def load_pr(remote: str, incident_id: str, cache: Path | None = None) -> LocalPullRequest | None:
    """The PR record of ``incident_id`` on ``remote``, or None."""
    path = _record_path(remote, incident_id, cache)
    if not path.is_file():
        return None
    try:
        return LocalPullRequest.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise DeliveryError(f"unreadable PR record {path.name}: {str(exc).splitlines()[0]}") from None


def save_pr(pr: LocalPullRequest, cache: Path | None = None) -> Path:
    """Write the record atomically."""
    path = _record_path(pr.remote, pr.incident_id, cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(pr.model_dump_json(indent=2))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _next_number(remote: str, cache: Path | None) -> int:
    numbers = [0]
    folder = forge_dir(remote, cache)
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            numbers.append(LocalPullRequest.model_validate_json(path.read_text(encoding="utf-8")).number)
        except (OSError, ValidationError):
            continue
    return max(numbers) + 1


def cooldown_until(pr: LocalPullRequest, hours: float) -> datetime | None:
    """When the cool-down after a human closed ``pr`` ends; None when it is not closed or is over."""
    if pr.state != "closed" or pr.closed_at is None:
        return None
    until = pr.closed_at + timedelta(hours=hours)
    return until if _now() < until else None


def info(pr: LocalPullRequest, created: bool, comment: str | None = None) -> PullRequestInfo:
    """The ``PullRequestInfo`` of a local PR."""
    return PullRequestInfo(
        forge="local", number=pr.number, url=pr.bundle, state=pr.state, draft=pr.draft, created=created,
        labels=pr.labels, reviewers=pr.reviewers, comment=comment,
    )


def open_or_update(
    *, remote: str, incident_id: str, branch: str, base: str, title: str, head_sha: str, draft: bool,
    labels: list[str], reviewers: list[str], bundle: Path, strategy: str, diff_stats: str, run_id: str,
    author: str, cache: Path | None = None,
) -> PullRequestInfo:
    """Open the local PR of ``incident_id``, or update the one that is open (never a second).

    A closed record (a human closed it) whose cool-down has passed is replaced by a new PR;
    callers check ``cooldown_until`` first and do not push while it runs.
    """
    now = _now()
    old = load_pr(remote, incident_id, cache)
    if old is not None and old.state == "open":
        changes = []
        if old.head_sha != head_sha:
            changes.append(f"head {old.head_sha[:12]} → {head_sha[:12]}")
        if old.strategy != strategy:
            changes.append(f"strategy {old.strategy or '-'} → {strategy}")
        if old.diff_stats != diff_stats:
            changes.append(f"diff {old.diff_stats or '-'} → {diff_stats}")
        said = (f"healcrew run `{run_id}` updated this PR: " + "; ".join(changes) if changes
                else f"healcrew run `{run_id}` found the same fix (head {head_sha[:12]}, {strategy}, {diff_stats}); "
                     "nothing changed")
        pr = old.model_copy(update={
            "title": title, "base": base, "head_sha": head_sha, "draft": draft, "labels": labels,
            "reviewers": reviewers, "bundle": str(bundle), "strategy": strategy, "diff_stats": diff_stats,
            "run_id": run_id, "updated_at": now,
            "comments": [*old.comments, Comment(at=now, author=author, body=said)],
        })
        save_pr(pr, cache)
        return info(pr, created=False, comment=said)
    number = _next_number(remote, cache) if old is None else max(old.number, _next_number(remote, cache))
    pr = LocalPullRequest(
        number=number, incident_id=incident_id, remote=remote, title=title, branch=branch, base=base,
        head_sha=head_sha, draft=draft, labels=labels, reviewers=reviewers, bundle=str(bundle),
        strategy=strategy, diff_stats=diff_stats, run_id=run_id, created_at=now, updated_at=now,
    )
    save_pr(pr, cache)
    return info(pr, created=True)


def close(remote: str, incident_id: str, cache: Path | None = None, author: str = "a reviewer") -> LocalPullRequest:
    """Mark the PR closed, as a human closing it on a forge would; DeliveryError if there is none."""
    pr = load_pr(remote, incident_id, cache)
    if pr is None:
        raise DeliveryError(f"no local pull request for incident {incident_id} on {remote}")
    if pr.state == "closed":
        return pr
    now = _now()
    pr = pr.model_copy(update={
        "state": "closed", "closed_at": now, "updated_at": now,
        "comments": [*pr.comments, Comment(at=now, author=author, body="closed")],
    })
    save_pr(pr, cache)
    return pr


def remove(remote: str, incident_id: str, cache: Path | None = None) -> None:
    """Forget the record (used when this run created it and delivery then failed)."""
    _record_path(remote, incident_id, cache).unlink(missing_ok=True)
