"""Branch names, the one commit, the push with a lease, and failures that leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from crew.delivery import gitops
from crew.delivery.config import DeliveryConfig, load_config
from crew.delivery.deliver import DeliveryFailed, deliver
from crew.errors import BadInputError, DeliveryError
from crew.handoffs import RunReport
from crew.repo import GitRepo

from .conftest import DEPLOYED, Checkout, git, remote_branches

BRANCH = "healcrew/pricing-zero-division-division-by-zero-calc"


def valid_ref(name: str) -> bool:
    return subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], check=False).returncode == 0


def test_branch_name_from_incident_root_cause_and_function(report: RunReport) -> None:
    assert gitops.branch_name(report) == BRANCH
    assert valid_ref(BRANCH)


def test_branch_name_is_bounded_and_a_valid_ref_for_odd_input(report: RunReport) -> None:
    assert report.diagnosis is not None and report.diagnosis.fault_frame is not None
    report.incident.id = "Svc..Crash@{1}~^:" + "x" * 200
    report.diagnosis.fault_frame.frame.function = "<module>.lock"
    name = gitops.branch_name(report)
    assert name.startswith("healcrew/svc-crash-1-x") and len(name) <= gitops.MAX_BRANCH
    assert valid_ref(name) and name == name.lower() and "--" not in name and name.endswith("-module-lock")


def test_config_file_then_flags(tmp_path: Path) -> None:
    (tmp_path / ".healcrew.yaml").write_text("delivery:\n  base: default-branch\n  labels: [hotfix]\n"
                                             "  github: {repo: acme/shop}\n")
    cfg = load_config(tmp_path, forge="github", remote=None)
    assert (cfg.base, cfg.labels, cfg.forge, cfg.remote, cfg.github.repo) == (
        "default-branch", ["hotfix"], "github", "origin", None)  # the repo may not choose the GitHub repo
    operator = tmp_path.parent / f"{tmp_path.name}-operator.yaml"
    operator.write_text("delivery:\n  github: {repo: acme/shop}\n  labels: [ops]\n")
    cfg = load_config(tmp_path, operator, forge="github")
    assert (cfg.github.repo, cfg.labels) == ("acme/shop", ["ops"])
    (tmp_path / ".healcrew.yaml").write_text("delivery:\n  colour: blue\n")
    with pytest.raises(BadInputError, match="colour"):
        load_config(tmp_path)


def test_one_bot_commit_with_trailers_pushed_and_user_tree_untouched(
    checkout: Checkout, report: RunReport, tmp_path: Path,
) -> None:
    before = (git(checkout.path, "status", "--porcelain"), git(checkout.path, "rev-parse", "HEAD"),
              git(checkout.path, "branch", "--format=%(refname:short)"))
    record = deliver(report, GitRepo(checkout.path, report.incident.commit), DeliveryConfig(), tmp_path / "out")

    assert record.pushed and record.error is None and record.branch == BRANCH
    assert remote_branches(checkout.remote)[BRANCH] == record.commit
    # exactly one commit on top of the deployed commit
    assert git(checkout.remote, "rev-list", f"{DEPLOYED}..{BRANCH}").splitlines() == [record.commit]
    assert git(checkout.remote, "rev-parse", f"{BRANCH}^") == DEPLOYED == record.base_commit
    people = git(checkout.remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>", BRANCH)
    assert people == "healcrew-bot <healcrew-bot@users.noreply.github.com>|" * 1 + \
        "healcrew-bot <healcrew-bot@users.noreply.github.com>"
    message = git(checkout.remote, "log", "-1", "--format=%B", BRANCH)
    summary, blank, *rest = message.splitlines()
    assert summary == "Fix ZeroDivisionError in calc (app/pricing.py:27)" and blank == ""
    body = message.split("\n\n")[1].splitlines()
    assert 2 <= len(body) <= 3 and "division_by_zero" in message
    trailers = git(checkout.remote, "log", "-1", "--format=%(trailers:only,unfold)", BRANCH).splitlines()
    assert trailers == ["Incident-Id: pricing-zero-division", f"Healcrew-Run: {report.run_id}"]
    files = git(checkout.remote, "diff", "--name-only", f"{DEPLOYED}..{BRANCH}").splitlines()
    assert files == ["app/pricing.py", "tests/test_healcrew_pricing_zero_division.py"]
    # the user's working tree, index, current branch and local branches are as they were
    after = (git(checkout.path, "status", "--porcelain"), git(checkout.path, "rev-parse", "HEAD"),
             git(checkout.path, "branch", "--format=%(refname:short)"))
    assert after == before and git(checkout.path, "branch", "--show-current") == "feature/wip"
    assert (checkout.path / "NOTES.md").read_text() == "uncommitted work in progress\n"


def test_bot_identity_is_configurable(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:
    config = DeliveryConfig(author_name="Fixer", author_email="fixer@example.org")
    deliver(report, GitRepo(checkout.path, DEPLOYED), config, tmp_path / "out")
    assert git(checkout.remote, "log", "-1", "--format=%an %ae %cn %ce", BRANCH) == \
        "Fixer fixer@example.org Fixer fixer@example.org"


def _move_main(checkout: Checkout, tmp_path: Path, path: str, edit: str) -> str:
    """A colleague pushes a commit to main on the remote; returns its sha."""
    other = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(checkout.remote), str(other))
    target = other / path
    target.write_text(edit(target.read_text()) if callable(edit) else edit)  # type: ignore[operator]
    git(other, "commit", "-qam", f"Change {path}")
    git(other, "push", "-q", "origin", "main")
    return git(other, "rev-parse", "HEAD")


def test_rebase_onto_a_moved_default_branch(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:
    tip = _move_main(checkout, tmp_path, "README.md", "# pricing-service\n\nRewritten readme.\n")
    record = deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(base="default-branch"), tmp_path / "o")
    assert record.base_kind == "default-branch" and record.base_commit == tip
    assert git(checkout.remote, "rev-parse", f"{BRANCH}^") == tip
    assert any(n.startswith("rebased onto origin/main") for n in record.notes)


def test_rebase_conflict_falls_back_to_the_deployed_commit(
    checkout: Checkout, report: RunReport, tmp_path: Path,
) -> None:
    _move_main(checkout, tmp_path, "app/pricing.py",
               lambda text: text.replace("    return p / d\n", "    return p / max(d, 0.5)\n"))
    record = deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(base="default-branch"), tmp_path / "o")
    assert record.pushed and record.base_kind == "deployed" and record.base_commit == DEPLOYED
    assert git(checkout.remote, "rev-parse", f"{BRANCH}^") == DEPLOYED
    note = next(n for n in record.notes if "rebase" in n)
    assert "failed" in note and "app/pricing.py" in note and "deployed commit" in note
    # the fix is intact on the branch
    assert "if not d:" in git(checkout.remote, "show", f"{BRANCH}:app/pricing.py")


def test_lease_refuses_to_clobber_a_human_push(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:
    repo = GitRepo(checkout.path, DEPLOYED)
    deliver(report, repo, DeliveryConfig(), tmp_path / "out")
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", "-b", BRANCH, str(checkout.remote), str(human))
    (human / "app" / "extra.py").write_text("X = 1\n")
    git(human, "add", "-A")
    git(human, "commit", "-qm", "Reviewer tweak")
    git(human, "push", "-q", "origin", BRANCH)
    theirs = git(human, "rev-parse", "HEAD")

    report.run_id = "second-run"
    assert report.accepted is not None
    report.accepted.proposal.strategy = "another-strategy"
    with pytest.raises(DeliveryFailed) as caught:
        deliver(report, repo, DeliveryConfig(), tmp_path / "out")
    assert str(caught.value) == gitops.LEASE_FAILED
    assert remote_branches(checkout.remote)[BRANCH] == theirs


def test_a_foreign_branch_with_the_same_name_is_not_overwritten(
    checkout: Checkout, report: RunReport, tmp_path: Path,
) -> None:
    git(checkout.path, "push", "-q", "origin", f"main:refs/heads/{BRANCH}")
    with pytest.raises(DeliveryError, match="not overwriting"):
        deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(), tmp_path / "out")
    assert remote_branches(checkout.remote)[BRANCH] == git(checkout.path, "rev-parse", "main")


def _no_leftovers(checkout: Checkout, tmp: Path) -> None:
    assert set(remote_branches(checkout.remote)) == {"main"}
    assert git(checkout.path, "branch", "--format=%(refname:short)").split() == ["feature/wip", "main"]
    assert not any(tmp.iterdir()), list(tmp.iterdir())


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Route tempfile to a folder of our own so a left-over clone would show."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_no_remote_is_a_one_line_delivery_error(
    checkout: Checkout, report: RunReport, tmp_path: Path, private_tmp: Path,
) -> None:
    git(checkout.path, "remote", "remove", "origin")
    out = tmp_path / "out"
    with pytest.raises(DeliveryFailed) as caught:
        deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(), out)
    assert str(caught.value) == "no remote named origin; pass --remote or --deliver none"
    assert caught.value.record.error == str(caught.value) and not caught.value.record.pushed
    # no work is lost: the validated fix and the report are in the output folder
    assert "if not d:" in (out / "fix.patch").read_text()
    saved = RunReport.model_validate_json((out / "report.json").read_text())
    assert saved.delivery is not None and saved.delivery.error == str(caught.value)
    assert not any(private_tmp.iterdir())


def test_unreachable_remote(checkout: Checkout, report: RunReport, tmp_path: Path, private_tmp: Path) -> None:
    config = DeliveryConfig(remote_url=str(tmp_path / "gone.git"))
    with pytest.raises(DeliveryError) as caught:
        deliver(report, GitRepo(checkout.path, DEPLOYED), config, tmp_path / "out")
    message = str(caught.value)
    assert message.startswith("cannot reach remote ") and "gone.git" in message and "\n" not in message
    _no_leftovers(checkout, private_tmp)


def test_push_rejected_by_a_pre_receive_hook(
    checkout: Checkout, report: RunReport, tmp_path: Path, private_tmp: Path,
) -> None:
    hook = checkout.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch policy: healcrew branches need approval' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(DeliveryError) as caught:
        deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(), tmp_path / "out")
    message = str(caught.value)
    assert "rejected" in message and "pre-receive hook declined" in message and "\n" not in message
    assert "branch policy" in message
    _no_leftovers(checkout, private_tmp)


def test_forge_failure_after_push_deletes_the_new_branch(
    checkout: Checkout, report: RunReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crew.delivery import local_forge

    def broken(**_: object) -> None:
        raise DeliveryError("forge is down")

    monkeypatch.setattr(local_forge, "open_or_update", broken)
    out = tmp_path / "out"
    with pytest.raises(DeliveryFailed) as caught:
        deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(), out)
    assert str(caught.value) == "local forge: forge is down"
    record = caught.value.record
    assert not record.pushed and "the pushed branch was deleted again" in record.notes
    assert set(remote_branches(checkout.remote)) == {"main"}
    assert (out / "fix.patch").is_file()


def test_nothing_is_delivered_without_an_accepted_fix(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:
    report.accepted = None
    with pytest.raises(DeliveryError, match="no fix was accepted"):
        deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(), tmp_path / "out")
    assert set(remote_branches(checkout.remote)) == {"main"}


def test_remote_relative_path_resolves_against_the_repo(checkout: Checkout) -> None:
    git(checkout.path, "remote", "set-url", "origin", "../remote.git")
    url = gitops.resolve_remote(GitRepo(checkout.path), DeliveryConfig())
    assert url == str(checkout.remote.resolve())
    assert gitops.display_url("https://x-access-token:ghs_abc@github.com/a/b.git") == "https://github.com/a/b.git"
    assert os.path.isabs(url)
