"""Delivery: the accepted fix becomes a branch with one commit, pushed, and a pull request.

Order matters: the report is redacted before anything leaves the process, except the patch:
the commit and ``fix.patch`` carry the exact patch the sandbox validated (a masked patch does
not apply), and a patch that would add a secret from the log is refused. The validated fix
(``fix.patch``, ``report.json``) is written to the output folder first, so a failed push or
forge call loses no work; an intent record in the cache is written before the push and
reconciled by the next delivery, so the record matches the remote after any fault; a forge
failure after the push deletes the branch if this run created it, so no orphan branch is left.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from crew.errors import DeliveryError
from crew.handoffs import DeliveryRecord, PullRequestInfo, RunReport

if TYPE_CHECKING:
    from crew.delivery.config import DeliveryConfig
    from crew.repo import GitRepo

BOT_COMMENT_AUTHOR = "healcrew"


class DeliveryFailed(DeliveryError):
    """A DeliveryError that carries the record of what was done before it failed."""

    def __init__(self, message: str, record: DeliveryRecord) -> None:
        super().__init__(message)
        self.record = record


def redact_report(report: RunReport) -> RunReport:
    """The report with secrets masked (see :func:`crew.report.public`)."""
    from crew.report import public

    return public(report)


def redact_text(text: str) -> str:
    """``text`` with secrets masked (see :func:`crew.report.public_text`)."""
    from crew.report import public_text

    return public_text(text)


def pr_body(report: RunReport, record: DeliveryRecord, config: DeliveryConfig) -> str:
    """The PR body: the repo's template via ``pr_body.py`` when present, else the Markdown report.

    A template that fails to render must not cost the delivery: the plain Markdown report is
    used instead and the record says so.
    """
    from crew.report import to_markdown

    report = report.model_copy(update={"delivery": record})
    try:
        from crew.delivery.pr_body import render_pr_body
    except ImportError:
        return redact_text(to_markdown(report))
    try:
        return redact_text(render_pr_body(report, record, config, incident_url=config.incident_url))
    except Exception as exc:  # a template bug (jinja2 raises many types): fall back, say so
        note = f"the PR body template failed ({type(exc).__name__}: {exc}); the plain report is the body"
        if note not in record.notes:
            record.notes.append(note)
        return redact_text(to_markdown(report))


def _save_outputs(
    report: RunReport, record: DeliveryRecord, out_dir: Path, patch: str | None, body: str | None,
) -> None:
    """The review bundle: ``fix.patch`` (exact) and ``report.json`` always, ``PR.md`` once there is a body.

    ``patch`` is None when the validated patch may not leave (it holds a secret from the log).
    """
    from crew.report import _write_atomic, to_json, write_output

    if patch is not None:
        _write_atomic(out_dir / "fix.patch", patch)  # byte for byte: what the sandbox validated
    _write_atomic(out_dir / "report.json", to_json(report.model_copy(update={"delivery": record})))
    if body is not None:
        write_output(out_dir / "PR.md", body)


def _diff_stats(patch: str) -> str:
    from crew.repair.diffs import diff_stats

    files, added, removed = diff_stats(patch)
    return f"{files} file{'s' if files != 1 else ''}, +{added} −{removed}"


def deliver(report: RunReport, repo: GitRepo, config: DeliveryConfig, out_dir: Path) -> DeliveryRecord:
    """Branch, commit, push and open (or update) the pull request for the accepted fix.

    Returns the ``DeliveryRecord``; raises ``DeliveryFailed`` (a ``DeliveryError`` holding the
    record, with ``error`` set) when any step fails. Only an accepted attempt is delivered.
    """
    from crew.delivery import gitops, local_forge

    if report.accepted is None:
        raise DeliveryError("nothing to deliver: no fix was accepted")
    from crew.policy.gate import before_delivery

    before_delivery(report, repo)  # defence in depth: the same policy as before the sandbox
    from crew.delivery import intent as intents
    from crew.report import OutputError, leak_message, patch_leaks, validated_patch

    patch: str | None = validated_patch(report)
    leaks = patch_leaks(report, patch)
    # Prose, evidence and the diff as shown are redacted; the commit applies the exact patch.
    shown = redact_report(report)
    to_commit = shown.model_copy(update={"accepted": report.accepted})
    report = shown
    out_dir = Path(out_dir).resolve()
    branch = gitops.branch_name(report)
    record = DeliveryRecord(
        incident_id=report.incident.id, forge=config.forge, branch=branch, base_commit=repo.commit,
    )
    if validated_patch(shown) != patch:
        record.notes.append("secrets already in the repository's code are masked in the diff shown here; "
                            "the commit and fix.patch carry the exact validated patch")

    def fail(message: str) -> DeliveryFailed:
        record.error = message
        _save_outputs(report, record, out_dir, patch, None)
        return DeliveryFailed(message, record)

    if leaks:
        patch = None  # never written, never pushed
        raise fail(leak_message(leaks))
    _save_outputs(report, record, out_dir, patch, None)  # the validated fix is safe before anything else
    if not config.push:  # the operator named no remote: the review bundle only, nothing leaves
        from crew.delivery.settings import NOT_PUSHED

        record.notes.append(NOT_PUSHED)
        _save_outputs(report, record, out_dir, patch, pr_body(report, record, config))
        return record
    try:
        remote_url = gitops.resolve_remote(repo, config)
    except DeliveryError as exc:
        raise fail(str(exc)) from None
    record.remote = gitops.display_url(remote_url)
    reconciled = intents.reconcile(record.remote, report.incident.id)
    if reconciled is not None:
        record.notes.append(reconciled)

    expected: str | None = None
    existing = None
    if config.forge == "local":
        existing = local_forge.load_pr(record.remote, report.incident.id)
        if existing is not None and existing.state == "merged":
            record.notes.append(f"local PR #{existing.number} is already merged; nothing pushed")
            record.pull_request = local_forge.info(existing, created=False)
            _save_outputs(report, record, out_dir, patch, None)
            return record
        if existing is not None:
            until = local_forge.cooldown_until(existing, config.cooldown_hours)
            if until is not None:
                record.notes.append(
                    f"local PR #{existing.number} was closed by a human; not reopened and no new PR "
                    f"until the cool-down ends at {until:%Y-%m-%d %H:%M} UTC ({config.cooldown_hours:g} h)"
                )
                record.pull_request = local_forge.info(existing, created=False)
                _save_outputs(report, record, out_dir, patch, None)
                return record
            if existing.state == "open":
                record.branch = branch = existing.branch  # one incident, one branch, one PR
            expected = existing.head_sha if existing.branch == branch else None

    intent = intents.start(record, remote_url, report.run_id, out_dir)  # before anything moves on the remote
    try:
        pushed = gitops.push_fix(to_commit, repo, config, branch, remote_url, expected_sha=expected)
    except DeliveryError as exc:
        intents.finish(intent)  # a refused push changed nothing on the remote
        raise fail(str(exc)) from None
    record.commit, record.pushed = pushed.commit, True
    record.base_commit, record.base_kind = pushed.base_commit, pushed.base_kind  # type: ignore[assignment]
    record.notes.extend(pushed.notes)
    intents.update(intent, record)

    title = redact_text(gitops.pr_title(report))
    d = report.diagnosis
    draft = d is not None and d.confidence < config.draft_below_confidence
    if draft:
        record.notes.append(f"opened as a draft: diagnosis confidence {d.confidence:.2f} is below "  # type: ignore[union-attr]
                            f"{config.draft_below_confidence:.2f}")
    body: str | None = None
    try:
        body = pr_body(report, record, config)
        info = _open_pr(report, record, config, title, body, draft, config.default_branch, out_dir, patch)
    except Exception as exc:
        if pushed.created:
            why_not = gitops.delete_branch(remote_url, branch, pushed.commit)
            record.pushed = why_not is not None
            record.notes.append("the pushed branch was deleted again" if why_not is None
                                else f"the pushed branch could not be deleted: {why_not}")
        intents.update(intent, record)
        if not isinstance(exc, DeliveryError):
            record.error = f"forge failed: {type(exc).__name__}: {exc}"
            _save_outputs(report, record, out_dir, patch, body)
            raise
        raise fail(f"{config.forge} forge: {exc}") from None
    if info.state == "closed" and not info.created:
        record.notes.append(
            f"PR #{info.number} was closed by a person; within the {config.cooldown_hours} h cool-down "
            "healcrew neither reopens it nor opens a new one"
        )
    elif info.state == "merged":
        record.notes.append(f"PR #{info.number} is already merged; nothing to do")
    record.pull_request = info
    intents.update(intent, record)
    try:
        _save_outputs(report, record, out_dir, patch, pr_body(report, record, config))
    except OutputError as exc:
        # The remote holds the delivery; the intent in the cache says so and the next run reconciles.
        record.error = f"{exc}; the branch is pushed and the PR recorded, the next run updates report.json"
        raise DeliveryFailed(record.error, record) from None
    intents.finish(intent)
    return record


def _open_pr(
    report: RunReport, record: DeliveryRecord, config: DeliveryConfig, title: str, body: str, draft: bool,
    base: str, out_dir: Path, patch: str | None,
) -> PullRequestInfo:
    assert report.accepted is not None and record.commit is not None and record.remote is not None
    if config.forge == "github":
        from crew.delivery.github_forge import open_or_update_pr

        return open_or_update_pr(
            config=config, branch=record.branch, base=base, title=title, body=body,
            incident_id=report.incident.id, draft=draft, labels=list(config.labels),
            reviewers=list(config.reviewers),
            touched_files=[*report.accepted.proposal.touched_files,
                           *([report.accepted.proposal.test.path] if report.accepted.proposal.test else [])],
        )
    from crew.delivery import local_forge

    return local_forge.open_or_update(
        remote=record.remote, incident_id=report.incident.id, branch=record.branch, base=base, title=title,
        head_sha=record.commit, draft=draft, labels=list(config.labels), reviewers=list(config.reviewers),
        bundle=out_dir, strategy=report.accepted.proposal.strategy, diff_stats=_diff_stats(patch or ""),
        run_id=report.run_id, author=BOT_COMMENT_AUTHOR,
    )


def demo_remote(repo: GitRepo, cache: Path) -> str:
    """A bare remote in the cache for a materialized example repo, seeded with its branches.

    Example repos are built by healcrew from ``.history.yaml`` and have no remote; giving them
    one in the cache makes ``healcrew replay`` deliver end to end on any machine.
    """
    from git import Repo

    bare = cache / "remotes" / f"{repo.path.name}.git"
    if not (bare / "HEAD").is_file():
        bare.parent.mkdir(parents=True, exist_ok=True)
        Repo.init(bare, bare=True, initial_branch="main")
        source = Repo(repo.path)
        status, _, stderr = source.git.execute(
            ["git", "push", "-q", str(bare), "refs/heads/*:refs/heads/*"],
            with_extended_output=True, with_exceptions=False, env={"GIT_TERMINAL_PROMPT": "0"},
        )
        if status != 0:
            raise DeliveryError(f"cannot seed the demo remote {bare.name}: {str(stderr).strip()[:200]}")
    return str(bare)


def is_materialized_example(repo: GitRepo, cache: Path) -> bool:
    """True when ``repo`` is an example repository healcrew built in its cache."""
    return repo.path.is_relative_to(Path(os.path.realpath(cache / "repos")))
