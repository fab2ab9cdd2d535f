"""Attack: a repository handed over with its ``.git`` configures commands that git would run.

The repo's own ``.git/config`` (and its hooks) can name a smudge/clean/process filter, a textconv
or external diff driver, ``core.fsmonitor``, a pager, a signature program, an askpass helper and
hooks. healcrew runs git on the repo as root on the host; none of those commands may ever run.
Each configured command appends to a marker file outside the repo: the marker must never appear.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from crew.repo import GitRepo
from sandbox.workspace import make_workspace
from tests.e2e_helpers import commit_repo, healcrew

APP = "def div(a, b):\n    return a / b\n\n\ndef main():\n    return div(1, 0)\n"
LOG = """\
Traceback (most recent call last):
  File "/app/app.py", line 6, in main
    return div(1, 0)
  File "/app/app.py", line 2, in div
    return a / b
ZeroDivisionError: division by zero
"""
HOOKS = ("pre-commit", "post-commit", "post-checkout", "post-index-change", "reference-transaction",
         "pre-push", "post-merge", "pre-auto-gc", "post-rewrite")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def hostile_repo(root: Path) -> tuple[Path, Path]:
    """A small service whose .git/config and hooks name a script that records each call."""
    repo = root / "svc"
    marker = root / "PWNED"
    commit_repo(repo, {"app.py": APP, ".gitattributes": "* filter=evil diff=evil merge=evil\n",
                       "tests/test_app.py": "from app import div\n\n\ndef test_div():\n    assert div(4, 2) == 2\n"},
                "first")
    (repo / "app.py").write_text(APP + "\n# second\n")
    _git(repo, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-qam", "second")
    script = repo / ".git" / "evil.sh"
    script.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\ncat\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    hooks = repo / ".git" / "evilhooks"
    hooks.mkdir()
    for name in HOOKS:
        os.symlink(script, hooks / name)
        os.symlink(script, repo / ".git" / "hooks" / name)
    extra = repo / ".git" / "extra.config"
    extra.write_text(f"[core]\n\tpager = {script} pager\n")
    settings = {
        "filter.evil.smudge": f"{script} smudge", "filter.evil.clean": f"{script} clean",
        "filter.evil.process": f"{script} process", "diff.evil.textconv": f"{script} textconv",
        "diff.evil.command": f"{script} diffcommand", "diff.external": f"{script} external",
        "merge.evil.driver": f"{script} merge", "core.fsmonitor": str(script), "core.hooksPath": str(hooks),
        "core.askPass": str(script), "credential.helper": f"!{script} credential",
        "core.sshCommand": f"{script} ssh", "log.showSignature": "true", "gpg.program": str(script),
        "pager.log": f"{script} pagerlog", "pager.blame": f"{script} pagerblame",
        "uploadpack.packObjectsHook": f"{script} packobjects", "core.alternateRefsCommand": f"{script} alt",
        "include.path": str(extra),
    }
    for key, value in settings.items():
        _git(repo, "config", key, value)
    assert not marker.exists()
    return repo, marker


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    return hostile_repo(tmp_path)


def _called(marker: Path) -> str:
    return marker.read_text() if marker.exists() else ""


def test_workspace_at_a_commit_runs_no_repo_configured_command(hostile: tuple[Path, Path]) -> None:
    repo, marker = hostile
    with make_workspace(repo, commit="HEAD~1") as ws:
        assert (ws.path / "app.py").read_text() == APP  # the committed bytes, no smudge output
    assert _called(marker) == ""


def test_workspace_of_the_work_tree_runs_no_repo_configured_command(hostile: tuple[Path, Path]) -> None:
    repo, marker = hostile
    (repo / "new.py").write_text("x = 1\n")
    with make_workspace(repo) as ws:
        assert (ws.path / "new.py").is_file() and "# second" in (ws.path / "app.py").read_text()
    assert _called(marker) == ""


def test_repo_reads_blame_and_log_run_no_repo_configured_command(hostile: tuple[Path, Path]) -> None:
    repo, marker = hostile
    git = GitRepo(repo, "HEAD")
    assert "app.py" in git.tracked_files
    assert git.read("app.py") == APP + "\n# second\n"
    blamed = git.blame_line("app.py", 2)
    assert blamed is not None and blamed.summary == "first"
    assert [c.summary for c in git.commits_touching("app.py", 1, 8)] == ["second", "first"]
    assert _called(marker) == ""


def test_diagnose_over_a_hostile_repo_runs_no_repo_configured_command(tmp_path: Path,
                                                                     hostile: tuple[Path, Path]) -> None:
    repo, marker = hostile
    log = tmp_path / "crash.log"
    log.write_text(LOG)
    proc = healcrew("diagnose", "--repo", str(repo), "--log", str(log), "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert '"app.py"' in proc.stdout
    assert _called(marker) == ""


def test_a_repo_owned_by_another_user_is_read_only_by_its_own_safe_directory(tmp_path: Path,
                                                                            hostile: tuple[Path, Path]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the repo to another user")
    repo, marker = hostile
    for path in [repo, *repo.rglob("*")]:
        os.lchown(path, 4242, 4242)
    assert GitRepo(repo, "HEAD").read("app.py") == APP + "\n# second\n"
    with make_workspace(repo, commit="HEAD") as ws:
        assert (ws.path / "app.py").is_file()
    from sandbox.safegit import clone

    assert clone(repo, tmp_path / "delivery-clone").returncode == 0  # the clone delivery works in
    assert _called(marker) == ""


@pytest.mark.docker
def test_healcrew_run_over_a_hostile_repo_runs_no_repo_configured_command(
    tmp_path: Path, hostile: tuple[Path, Path], docker_client: object,
) -> None:
    """The whole pipeline (diagnosis, repair's apply check, the sandbox copy) on the hostile repo."""
    from tests.e2e_helpers import healcrew_run

    repo, marker = hostile
    log = tmp_path / "crash.log"
    log.write_text(LOG)
    proc, report = healcrew_run(repo, log, tmp_path / "out", tmp_path / "cache", "--deliver", "none",
                                "--max-attempts", "1", timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    assert report.get("diagnosis"), proc.stderr
    assert _called(marker) == ""


def test_repair_apply_check_runs_no_repo_configured_command(hostile: tuple[Path, Path]) -> None:
    from crew.repair.diffs import check_applies

    repo, marker = hostile
    diff = ("--- a/app.py\n+++ b/app.py\n@@ -1,3 +1,3 @@\n def div(a, b):\n-    return a / b\n"
            "+    return a / b if b else 0.0\n \n")
    assert check_applies(repo, "HEAD", diff) is None
    assert check_applies(repo, "HEAD", diff.replace("a / b\n", "a // b\n", 1)) is not None
    assert _called(marker) == ""


def _hostile_checkout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The delivery tests' example checkout with a bare remote, then given the hostile config."""
    from crew.history import materialize
    from tests.delivery.conftest import ROOT, git

    example = materialize(ROOT / "examples" / "pricing-service", tmp_path / "materialized")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    user = tmp_path / "user"
    git(tmp_path, "clone", "-q", str(example), str(user))
    git(user, "remote", "set-url", "origin", str(remote))
    git(user, "push", "-q", "origin", "main")
    donor, marker = hostile_repo(tmp_path / "donor")
    (user / ".git" / "config").write_text((donor / ".git" / "config").read_text()
                                          + f"[remote \"origin\"]\n\turl = {remote}\n")
    (user / ".git" / "info").mkdir(exist_ok=True)
    (user / ".git" / "info" / "attributes").write_text("* filter=evil diff=evil merge=evil\n")
    (user / ".gitattributes").write_text("* filter=evil diff=evil merge=evil\n")
    return user, remote, marker


def test_delivery_from_a_hostile_checkout_runs_no_repo_configured_command(tmp_path: Path) -> None:
    from crew.delivery.config import DeliveryConfig
    from crew.delivery.deliver import deliver
    from crew.handoffs import RunReport
    from tests.delivery.conftest import DEPLOYED, FIXTURE, remote_branches

    user, remote, marker = _hostile_checkout(tmp_path)
    report = RunReport.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    report.incident.repo = str(user)
    record = deliver(report, GitRepo(user, DEPLOYED), DeliveryConfig(), tmp_path / "out")
    assert record.branch in remote_branches(remote)
    assert _called(marker) == ""


def test_a_remote_url_that_is_a_git_option_is_refused(tmp_path: Path, hostile: tuple[Path, Path]) -> None:
    from crew.delivery.config import DeliveryConfig
    from crew.delivery.gitops import resolve_remote
    from crew.errors import DeliveryError

    repo, marker = hostile
    _git(repo, "config", "remote.origin.url", f"--upload-pack={repo}/.git/evil.sh")
    with pytest.raises(DeliveryError, match="starts with '-'"):
        resolve_remote(GitRepo(repo), DeliveryConfig())
    assert _called(marker) == ""
