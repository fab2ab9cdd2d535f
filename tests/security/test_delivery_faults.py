"""Issue 8, items 7d and 11: the delivered fix is the validated one, and the record matches the remote.

- A secret already in the repository's code (a context line of the diff) must not be masked in
  the commit or ``fix.patch``: a masked patch does not apply, and the fix was lost.
- A patch that would add a secret taken from the log is refused, with the reason in the report.
- A full output disk after the push (a real, tiny tmpfs) is a one-line error, loses nothing that
  was already written, and the next run brings the old report in line with the remote.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crew.delivery import gitops, local_forge
from crew.delivery.config import DeliveryConfig
from crew.delivery.deliver import DeliveryFailed, deliver
from crew.handoffs import RunReport
from crew.repo import GitRepo
from crew.report import validated_patch
from tests.delivery.conftest import FIXTURE, git
from tests.e2e_helpers import commit_repo, healcrew

REPO_SECRET = "sk_live_u8jzPde0IgxLd6GncfBAepfJ"  # hard-coded in the repo (a fake of the right shape)
LOG_SECRET = "ghp_FAKE0example0token0for0tests0only000"
SOURCE = f'''"""Prices."""
STRIPE_KEY = "{REPO_SECRET}"


def calc(p, d):
    return p / d
'''
FIXED = SOURCE.replace("    return p / d", "    if not d:\n        return p\n    return p / d")


def _repo_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[GitRepo, RunReport, Path]:
    """A repo whose fault line sits next to its own secret, a bare remote, and an accepted report."""
    monkeypatch.setenv("HEALCREW_CACHE", str(tmp_path / "cache"))
    repo = commit_repo(tmp_path / "svc", {"app/__init__.py": "", "app/pricing.py": SOURCE}, "Add pricing")
    (repo / "app" / "pricing.py").write_text(FIXED)
    diff = subprocess.run(["git", "diff"], cwd=repo, capture_output=True, text=True, check=True).stdout
    (repo / "app" / "pricing.py").write_text(SOURCE)
    assert REPO_SECRET in diff  # the attack: the secret is a context line of the validated diff
    sha = git(repo, "rev-parse", "HEAD")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "push", "-q", str(remote), "HEAD:refs/heads/main")
    report = RunReport.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    report.incident.repo, report.incident.commit = str(repo), sha
    assert report.accepted is not None and report.diagnosis is not None
    report.accepted.proposal.diff = diff
    report.accepted.proposal.touched_files = ["app/pricing.py"]
    report.diagnosis.commit = sha
    return GitRepo(repo, sha), report, remote


def _applies(repo: GitRepo, patch: Path, tmp_path: Path) -> bool:
    work = tmp_path / f"apply-{uuid.uuid4().hex[:6]}"
    git(tmp_path, "clone", "-q", str(repo.path), str(work))
    git(work, "checkout", "-q", repo.commit)
    return subprocess.run(["git", "apply", "--check", str(patch)], cwd=work, check=False).returncode == 0


def test_a_secret_in_the_repos_own_code_does_not_break_the_delivered_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, report, remote = _repo_and_report(tmp_path, monkeypatch)
    exact = validated_patch(report)
    out = tmp_path / "out"
    record = deliver(report, repo, DeliveryConfig(remote_url=str(remote)), out)
    assert record.pushed and record.commit and record.error is None
    assert (out / "fix.patch").read_text() == exact  # byte for byte what the sandbox validated
    assert _applies(repo, out / "fix.patch", tmp_path)
    pushed = git(remote, "show", f"{record.commit}:app/pricing.py")
    assert pushed == FIXED.rstrip("\n")  # the commit is the fix, the repo's own line unchanged
    # Prose and the diff as shown are still redacted, and the reviewer is told why they differ.
    assert REPO_SECRET not in (out / "PR.md").read_text() and REPO_SECRET not in (out / "report.json").read_text()
    assert any("exact validated patch" in note for note in record.notes)


def test_a_patch_that_adds_a_secret_from_the_log_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, report, remote = _repo_and_report(tmp_path, monkeypatch)
    assert report.evidence is not None and report.accepted is not None and report.accepted.proposal.test is not None
    report.evidence.log_excerpt.append(f"2026-11-20T02:00:00Z worker-1 DEBUG calling rates with token={LOG_SECRET}")
    report.accepted.proposal.test.code += f'\n\nTOKEN = "{LOG_SECRET}"\n'
    out = tmp_path / "out"
    with pytest.raises(DeliveryFailed) as failed:
        deliver(report, repo, DeliveryConfig(remote_url=str(remote)), out)
    assert failed.value.exit_code == 2
    assert "secret from the log (github-token)" in str(failed.value) and "\n" not in str(failed.value)
    assert not (out / "fix.patch").exists()  # never written ...
    assert git(remote, "for-each-ref", "--format=%(refname)", "refs/heads") == "refs/heads/main"  # ... nor pushed
    saved = RunReport.model_validate_json((out / "report.json").read_text())
    assert saved.delivery is not None and "secret from the log" in (saved.delivery.error or "")
    assert LOG_SECRET not in (out / "report.json").read_text()


# --------------------------------------------------------------------------- a full output disk


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs (root can mount one); the test is skipped where mounting is impossible."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the filler file, to free the disk again."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while fh.write(b"\0" * 4096):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_after_the_push_is_one_line_and_the_next_run_reconciles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_disk: Path,
) -> None:
    repo, report, remote = _repo_and_report(tmp_path, monkeypatch)
    out = tiny_disk / "out"
    real_push = gitops.push_fix

    def push_then_fill(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_push(*args, **kwargs)
        _fill(tiny_disk)  # the disk fills up right after the branch reached the remote
        return result

    monkeypatch.setattr(gitops, "push_fix", push_then_fill)
    with pytest.raises(DeliveryFailed) as failed:
        deliver(report, repo, DeliveryConfig(remote_url=str(remote)), out)
    message = str(failed.value)
    assert "No space left on device" in message and "\n" not in message and failed.value.exit_code == 2
    head = gitops.remote_branch_sha(str(remote), failed.value.record.branch)
    assert head is not None and failed.value.record.pushed and failed.value.record.commit == head
    # What was written before the push is whole: the exact fix and a report that parses.
    assert (out / "fix.patch").read_text() == validated_patch(report)
    stale = RunReport.model_validate_json((out / "report.json").read_text())
    assert stale.delivery is not None and not stale.delivery.pushed  # the fault: it disagrees with the remote

    # The next run, with room again: the old report is brought in line with the remote, one PR only.
    (tiny_disk / "filler").unlink()
    monkeypatch.setattr(gitops, "push_fix", real_push)
    report.run_id = "next-run"
    second = deliver(report, repo, DeliveryConfig(remote_url=str(remote)), tmp_path / "out2")
    assert any("reconciled the interrupted delivery" in note for note in second.notes)
    fixed = RunReport.model_validate_json((out / "report.json").read_text())
    assert fixed.delivery is not None and fixed.delivery.pushed and fixed.delivery.commit == head
    assert fixed.delivery.pull_request is not None and fixed.delivery.pull_request.number == 1
    assert second.pull_request is not None and second.pull_request.number == 1
    pr = local_forge.load_pr(str(remote), report.incident.id)
    assert pr is not None and pr.head_sha == gitops.remote_branch_sha(str(remote), second.branch)
    assert not list((tmp_path / "cache" / "deliveries").rglob("*.json"))  # no intent left behind


def test_a_full_output_disk_is_a_one_line_error_from_the_cli(tmp_path: Path, tiny_disk: Path) -> None:
    bundle = tmp_path / "bundle"
    repo = commit_repo(bundle / "svc", {"app/__init__.py": "", "app/pricing.py": SOURCE}, "Add pricing")
    crash = subprocess.run(["python3", "-c", "from app.pricing import calc; calc(1.0, 0.0)"], cwd=repo,
                           capture_output=True, text=True, check=False)
    (bundle / "logs.txt").write_text(crash.stderr.replace(str(repo), "/app"))
    (bundle / "incident.yaml").write_text("id: full-disk\nrepo:\n  path: svc\nlogs:\n  file: logs.txt\n")
    _fill(tiny_disk)
    proc = healcrew("replay", str(bundle), "--diagnose-only", "--out", str(tiny_disk / "out"),
                    cache=tmp_path / "cache")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("healcrew:")]
    assert len(lines) == 1 and "No space left on device" in lines[0], proc.stderr
    assert shutil.which("python3") and os.path.ismount(tiny_disk)
