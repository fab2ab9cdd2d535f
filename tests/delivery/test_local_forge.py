"""The local forge: one PR record per (remote, incident), updated with a comment, closed PRs respected."""

from __future__ import annotations

from pathlib import Path

from crew.delivery import local_forge
from crew.delivery.config import DeliveryConfig
from crew.delivery.deliver import deliver
from crew.handoffs import RunReport
from crew.repo import GitRepo

from .conftest import DEPLOYED, Checkout, remote_branches


def _records(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "forge").rglob("*.json"))


def test_review_bundle_is_written(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:
    out = tmp_path / "out"
    record = deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(), out)
    pr = record.pull_request
    assert pr is not None and pr.forge == "local" and pr.number == 1 and pr.created and pr.url == str(out.resolve())
    assert pr.labels == ["healcrew", "bug"] and not pr.draft
    body = (out / "PR.md").read_text()
    assert "ZeroDivisionError" in body and "calc" in body
    assert "tests/test_healcrew_pricing_zero_division.py" in (out / "fix.patch").read_text()
    saved = RunReport.model_validate_json((out / "report.json").read_text())
    assert saved.delivery is not None and saved.delivery.commit == record.commit


def test_two_runs_one_branch_one_record_and_a_comment(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:
    repo = GitRepo(checkout.path, DEPLOYED)
    first = deliver(report, repo, DeliveryConfig(), tmp_path / "out1")
    report.run_id = "second-run"
    assert report.accepted is not None and report.accepted.proposal.test is not None
    report.accepted.proposal.strategy = "guard-zero-divisor-raise"
    report.accepted.proposal.test.code += "\n\ndef test_more() -> None:\n    assert True\n"
    second = deliver(report, repo, DeliveryConfig(), tmp_path / "out2")

    assert first.pull_request is not None and second.pull_request is not None
    assert second.pull_request.number == first.pull_request.number and not second.pull_request.created
    assert second.commit != first.commit and second.branch == first.branch
    assert remote_branches(checkout.remote) == {"main": remote_branches(checkout.remote)["main"],
                                                first.branch: second.commit}
    [path] = _records(tmp_path)
    stored = local_forge.LocalPullRequest.model_validate_json(path.read_text())
    assert stored.head_sha == second.commit and stored.run_id == "second-run"
    [comment] = stored.comments
    assert f"{first.commit[:12]} → {second.commit[:12]}" in comment.body
    assert "guard-zero-divisor-identity → guard-zero-divisor-raise" in comment.body and "diff 2 files" in comment.body
    assert second.pull_request.comment == comment.body


def test_a_closed_pr_is_respected_during_the_cooldown(
    checkout: Checkout, report: RunReport, tmp_path: Path,
) -> None:
    repo = GitRepo(checkout.path, DEPLOYED)
    first = deliver(report, repo, DeliveryConfig(), tmp_path / "out")
    assert first.remote is not None
    local_forge.close(first.remote, report.incident.id)
    report.run_id = "after-close"
    assert report.accepted is not None
    report.accepted.proposal.strategy = "changed"
    again = deliver(report, repo, DeliveryConfig(), tmp_path / "out")
    assert not again.pushed and again.pull_request is not None and again.pull_request.state == "closed"
    assert not again.pull_request.created and any("cool-down" in n for n in again.notes)
    assert remote_branches(checkout.remote)[first.branch] == first.commit  # not touched
    # once the cool-down is over, a new PR may be opened (never the closed one reopened)
    later = deliver(report, repo, DeliveryConfig(cooldown_hours=0), tmp_path / "out")
    assert later.pushed and later.pull_request is not None and later.pull_request.created
    assert later.pull_request.number == 2 and later.pull_request.state == "open"
    assert len(_records(tmp_path)) == 1


def test_a_low_confidence_fix_is_a_draft(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:
    assert report.diagnosis is not None
    report.diagnosis.confidence = 0.4
    record = deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(), tmp_path / "out")
    assert record.pull_request is not None and record.pull_request.draft
    assert any("draft" in n for n in record.notes)
