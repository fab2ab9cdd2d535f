"""deliver() with the GitHub forge: real git push to a bare remote, PyGithub against the fake GitHub."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from crew.delivery.deliver import deliver
from crew.handoffs import RunReport
from crew.repo import GitRepo
from tests.delivery.conftest import Checkout, remote_branches
from tests.delivery.test_github_forge import FakeGitHub, _config, _token, github  # noqa: F401


def test_deliver_pushes_the_branch_and_opens_a_github_pr(
    github: FakeGitHub, checkout: Checkout, report: RunReport, tmp_path: Path  # noqa: F811
) -> None:
    record = deliver(report, GitRepo(checkout.path), _config(github), tmp_path / "out")
    assert record.pushed and record.branch in remote_branches(checkout.remote)
    pr = record.pull_request
    assert pr is not None and pr.forge == "github" and pr.created and pr.number
    [create] = github.calls("POST", r"/pulls$")
    assert create.body["head"] == record.branch and create.body["base"] == "main"
    assert "ZeroDivisionError" in create.body["body"] and "```diff" in create.body["body"]
    assert (tmp_path / "out" / "fix.patch").exists()


def test_deliver_respects_a_pr_closed_by_a_person(
    github: FakeGitHub, checkout: Checkout, report: RunReport, tmp_path: Path  # noqa: F811
) -> None:
    first = deliver(report, GitRepo(checkout.path), _config(github), tmp_path / "out")
    assert first.pull_request is not None
    github.pulls[first.pull_request.number]["state"] = "closed"
    github.pulls[first.pull_request.number]["closed_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    second = deliver(report, GitRepo(checkout.path), _config(github, cooldown_hours=24), tmp_path / "out2")
    assert second.pull_request is not None and second.pull_request.state == "closed"
    assert len(github.calls("POST", r"/pulls$")) == 1
    assert any("closed by a person" in note for note in second.notes)
