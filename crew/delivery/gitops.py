"""The branch, the one commit and the push (GitPython), without touching the user's checkout.

Everything happens in a temporary ``--shared`` clone of the user's repository: their working
tree, index and current branch are never read or changed, and nothing is left behind. The push
uses ``--force-with-lease`` with the sha healcrew expects on the remote (or empty for a new
branch), so a second run can update its own branch but never overwrites commits a human pushed
there in the meantime.

The user's repository is untrusted (it may come with its own ``.git/config`` and hooks): every
git command goes through ``sandbox.safegit``. Commands in the clone see only the config git wrote
for it; only the ones that talk to the remote (ls-remote, fetch, push) also read the operator's
own git config, for their credential helpers and ssh settings.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crew.errors import DeliveryError
from crew.handoffs import RunReport
from sandbox import safegit

if TYPE_CHECKING:
    from crew.delivery.config import DeliveryConfig
    from crew.repo import GitRepo

BRANCH_PREFIX = "healcrew/"
MAX_BRANCH = 100
MAX_SLUG = 48
GIT_TIMEOUT = 120
LEASE_FAILED = "the branch moved on the remote since healcrew pushed it; not overwriting"


# --------------------------------------------------------------------------- names and messages


def _dashes(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def branch_name(report: RunReport) -> str:
    """``healcrew/<incident-id>-<slug>``: slug from the root cause and the fault function.

    Only lowercase letters, digits, dashes and one slash, so it is a valid ref name on every
    forge; bounded so that it stays readable in a PR list.
    """
    incident = _dashes(report.incident.id)[:60].strip("-") or "incident"
    parts: list[str] = []
    d = report.diagnosis
    if d is not None:
        parts.append(d.root_cause.value)
        if d.fault_frame is not None:
            parts.append(d.fault_frame.frame.function)
    slug = _dashes("-".join(parts))[:MAX_SLUG].strip("-")
    name = f"{BRANCH_PREFIX}{incident}-{slug}" if slug else f"{BRANCH_PREFIX}{incident}"
    return name[:MAX_BRANCH].rstrip("-")


def _where(report: RunReport) -> tuple[str, str, str]:
    """(exception type, function, 'path:line') of the crash, with fallbacks for frameless crashes."""
    d, a = report.diagnosis, report.accepted
    exc = (d.exc_type if d else "") or "crash"
    touched = a.proposal.touched_files[0] if a and a.proposal.touched_files else "?"
    if d is not None and d.fault_frame is not None:
        frame = d.fault_frame.frame
        path = d.fault_frame.repo_path or frame.file
        return exc, frame.function, f"{path}:{frame.line}"
    return exc, report.incident.service or report.incident.id, touched


def pr_title(report: RunReport) -> str:
    """The commit summary line, also the PR title: ``Fix <Exc> in <function> (<path>:<line>)``."""
    exc, function, location = _where(report)
    return f"Fix {exc} in {function} ({location})"


def commit_message(report: RunReport) -> str:
    """Summary line, the root cause in two or three lines, and the incident/run trailers."""
    d, a = report.diagnosis, report.accepted
    cause = d.hypothesis.strip() if d is not None and d.hypothesis.strip() else "The service crashed here."
    lines = textwrap.wrap(" ".join(cause.split()), width=72)
    if len(lines) > 2:
        lines = lines[:2]
        lines[1] = lines[1][:69].rstrip() + "..."
    if d is not None:
        fixed_by = f"; fixed by {a.proposal.strategy}" if a is not None else ""
        lines.append(f"Root cause: {d.root_cause.value}{fixed_by}."[:72])
    body = "\n".join(lines)
    trailers = f"Incident-Id: {report.incident.id}\nHealcrew-Run: {report.run_id}"
    return f"{pr_title(report)}\n\n{body}\n\n{trailers}\n"


def fix_patch(report: RunReport) -> str:
    """The accepted diff plus the regression test as a new file: what the commit applies."""
    from crew.repair.diffs import new_file_diff

    a = report.accepted
    if a is None:
        raise DeliveryError("no accepted fix to deliver")
    patch = a.proposal.diff
    if a.proposal.test is not None:
        patch = patch.rstrip("\n") + "\n" + new_file_diff(a.proposal.test.path, a.proposal.test.code)
    return patch


# --------------------------------------------------------------------------- remotes


def _is_local_path(url: str) -> bool:
    if "://" in url:
        return url.startswith("file://")
    # scp-like syntax: [user@]host:path (a colon before any slash)
    head = url.split("/", 1)[0]
    return ":" not in head


def display_url(url: str) -> str:
    """The URL without any credentials, safe to print and to put in a record."""
    return re.sub(r"://[^/@]*@", "://", url)


def resolve_remote(repo: GitRepo, config: DeliveryConfig) -> str:
    """The URL to push to: ``config.remote_url`` or the URL of the named remote of ``repo``.

    A local path is made absolute (relative paths are relative to the repository root), since
    the push runs from a temporary clone elsewhere.
    """
    url = config.remote_url
    if not url:
        proc = safegit.run_git(["remote", "get-url", config.remote], repo.path, ceiling=False)
        if proc.returncode != 0:
            raise DeliveryError(
                f"no remote named {config.remote}; pass --remote or --deliver none"
            ) from None
        url = proc.stdout.decode(errors="replace").strip()
    if url.startswith("-"):
        raise DeliveryError(f"remote URL {display_url(url)[:80]!r} starts with '-'; refusing it as a git option")
    if _is_local_path(url) and not url.startswith("file://"):
        path = Path(url).expanduser()
        url = str((path if path.is_absolute() else repo.path / path).resolve())
    return url


# --------------------------------------------------------------------------- git plumbing


def _env(config: DeliveryConfig | None = None) -> dict[str, str]:
    """No prompts (an unreachable remote fails instead of hanging), and the bot's identity."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")}
    if config is not None:
        env |= {"GIT_AUTHOR_NAME": config.author_name, "GIT_AUTHOR_EMAIL": config.author_email,
                "GIT_COMMITTER_NAME": config.author_name, "GIT_COMMITTER_EMAIL": config.author_email}
    return env


_REMOTE_COMMANDS = {"ls-remote", "fetch", "push"}


def _git(repo: Any, *args: str, config: DeliveryConfig | None = None) -> tuple[int, str, str]:
    """Run hardened ``git args`` in a GitPython ``Repo``'s folder: (status, stdout, stderr), never raising."""
    try:
        proc = safegit.run_git(args, Path(repo.working_dir), env=_env(config), timeout=GIT_TIMEOUT,
                               operator_config=args[0] in _REMOTE_COMMANDS)
    except subprocess.TimeoutExpired:
        return 124, "", f"fatal: git {args[0]} took longer than {GIT_TIMEOUT} s"
    except FileNotFoundError:
        return 127, "", "fatal: git is not installed"
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def _init(path: str) -> Any:
    """An empty repository healcrew owns (its config is git's default), as a GitPython ``Repo``."""
    from git import Repo

    proc = safegit.run_git(["init", "-q", path], Path(path))
    if proc.returncode != 0:
        raise DeliveryError(f"git init failed: {safegit.first_line(proc.stderr)}")
    return Repo(path)


def _first_error(stderr: str, fallback: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for prefix in ("fatal:", "error:"):
        hits = [ln for ln in lines if ln.startswith(prefix)]
        if hits:
            return hits[0].removeprefix(prefix).strip()
    return lines[0] if lines else fallback


def _push_failure(stdout: str, stderr: str, where: str) -> DeliveryError:
    """One line for a failed push, from ``git push --porcelain`` output."""
    for line in stdout.splitlines():
        if not line.startswith("!"):
            continue
        status = line.split("\t")[-1]
        if "stale info" in status:
            return DeliveryError(LEASE_FAILED)
        reason = status.split("(", 1)[1].rstrip(")") if "(" in status else status
        said = [ln.removeprefix("remote:").strip() for ln in stderr.splitlines()
                if ln.startswith("remote:") and ln.removeprefix("remote:").strip()]
        return DeliveryError(f"push to {where} rejected: {reason}" + (f" ({said[0][:160]})" if said else ""))
    return DeliveryError(f"push to {where} failed: {_first_error(stderr, 'git push failed')}")


# --------------------------------------------------------------------------- the push


@dataclass
class PushResult:
    """What ``push_fix`` did on the remote."""

    branch: str
    commit: str
    base_commit: str
    base_kind: str
    remote_url: str
    created: bool = False
    previous_sha: str | None = None
    notes: list[str] = field(default_factory=list)


def remote_branch_sha(remote_url: str, branch: str) -> str | None:
    """The sha of ``branch`` on the remote, None when it is not there; DeliveryError if unreachable."""
    with tempfile.TemporaryDirectory(prefix="healcrew-ls-") as tmp:
        probe = _init(tmp)
        return _ls_remote(probe, remote_url, branch)


def _ls_remote(repo: Any, remote: str, branch: str, where: str | None = None) -> str | None:
    status, stdout, stderr = _git(repo, "ls-remote", "--heads", remote, f"refs/heads/{branch}")
    if status != 0:
        reason = _first_error(stderr, "git ls-remote failed")
        if reason.startswith("Could not read from remote"):  # ssh says why on its own line
            reason = next((ln.strip() for ln in stderr.splitlines() if ln.startswith("ssh:")), reason)
        raise DeliveryError(f"cannot reach remote {where or display_url(remote)}: {reason}")
    for line in stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def _is_ours(clone: Any, sha: str, incident_id: str, config: DeliveryConfig) -> bool:
    """True when ``sha`` is a commit healcrew made for this incident (bot committer + trailer)."""
    status, out, _ = _git(clone, "log", "-1", "--format=%ce%x00%(trailers:key=Incident-Id,valueonly)", sha)
    if status != 0:
        return False
    committer, _, incident = out.partition("\0")
    return committer.strip() == config.author_email and incident.strip() == incident_id


def push_fix(
    report: RunReport, repo: GitRepo, config: DeliveryConfig, branch: str, remote_url: str,
    expected_sha: str | None = None,
) -> PushResult:
    """Commit the accepted fix on ``branch`` in a temporary clone and push it to ``remote_url``.

    ``expected_sha`` is what healcrew last pushed to the branch (from the forge record); the
    push is leased on it, so a branch a human moved on is refused, never overwritten. Raises
    ``DeliveryError`` (one line) when the remote cannot be reached or refuses the push; then
    nothing was created on the remote and the temporary clone is gone.
    """
    from git import Repo

    where = display_url(remote_url)
    patch = fix_patch(report)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="healcrew-deliver-") as tmp:
        work = Path(tmp) / "work"
        cloned = safegit.clone(repo.path, work, timeout=GIT_TIMEOUT)
        if cloned.returncode != 0:
            raise DeliveryError(f"cannot clone {repo.path.name} for delivery: "
                                f"{_first_error(cloned.stderr.decode(errors='replace'), 'git clone failed')}")
        clone = Repo(str(work))
        _git(clone, "remote", "set-url", "origin", remote_url)
        observed = _ls_remote(clone, "origin", branch, where)

        deployed = repo.commit
        status, _, stderr = _git(clone, "checkout", "-q", "--detach", deployed)
        if status != 0:
            raise DeliveryError(f"cannot check out the deployed commit {deployed[:12]}: {_first_error(stderr, '?')}")
        (Path(tmp) / "fix.patch").write_text(patch, encoding="utf-8")
        (Path(tmp) / "message").write_text(commit_message(report), encoding="utf-8")
        status, _, stderr = _git(clone, "apply", "--index", "--whitespace=nowarn", str(Path(tmp) / "fix.patch"))
        if status != 0:
            raise DeliveryError(f"the validated fix does not apply to the deployed commit {deployed[:12]}: "
                                f"{_first_error(stderr, 'git apply failed')}")
        status, _, stderr = _git(clone, "commit", "-q", "--no-verify", "-F", str(Path(tmp) / "message"),
                                 config=config)
        if status != 0:
            raise DeliveryError(f"cannot commit the fix: {_first_error(stderr, 'git commit failed')}")
        base, base_kind = deployed, "deployed"
        if config.base == "default-branch":
            base, base_kind = _rebase_onto_default(clone, config, deployed, notes)
        head = _git(clone, "rev-parse", "HEAD")[1].strip()

        expected = ""
        if observed is not None:
            _git(clone, "fetch", "-q", "origin", f"refs/heads/{branch}")
            if expected_sha:
                expected = expected_sha
            elif _is_ours(clone, observed, report.incident.id, config):
                expected = observed
            same = observed == expected and _same_change(clone, observed, head)
            if same:
                notes.append(f"the remote branch already holds this fix ({observed[:12]}); not pushed again")
                return PushResult(branch, observed, base, base_kind, remote_url, False, observed, notes)
        status, stdout, stderr = _git(
            clone, "push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{expected}",
            "origin", f"HEAD:refs/heads/{branch}",
        )
        if status != 0:
            raise _push_failure(stdout, stderr, where)
    return PushResult(branch, head, base, base_kind, remote_url, observed is None, observed, notes)


def _same_change(clone: Any, a: str, b: str) -> bool:
    """True when commits ``a`` and ``b`` have the same tree and the same parent."""
    fmt = ["log", "-1", "--format=%T %P"]
    one, two = _git(clone, *fmt, a), _git(clone, *fmt, b)
    return one[0] == 0 and two[0] == 0 and one[1].strip() == two[1].strip()


def _rebase_onto_default(clone: Any, config: DeliveryConfig, deployed: str, notes: list[str]) -> tuple[str, str]:
    """Move the fix commit onto the remote's default branch; on any failure keep it on ``deployed``."""
    name = f"origin/{config.default_branch}"
    status, _, stderr = _git(clone, "fetch", "-q", "origin", f"refs/heads/{config.default_branch}")
    if status != 0:
        notes.append(f"could not fetch {name} ({_first_error(stderr, 'git fetch failed')}); "
                     f"branch cut from the deployed commit {deployed[:12]}")
        return deployed, "deployed"
    tip = _git(clone, "rev-parse", "FETCH_HEAD")[1].strip()
    if tip == deployed:
        return deployed, "default-branch"
    fix = _git(clone, "rev-parse", "HEAD")[1].strip()
    status, _, _ = _git(clone, "rebase", "-q", "--onto", tip, deployed, config=config)
    head = _git(clone, "rev-parse", "HEAD")[1].strip()
    if status != 0 or head == tip:
        conflicted = _git(clone, "diff", "--name-only", "--diff-filter=U")[1].split()
        _git(clone, "rebase", "--abort")
        _git(clone, "checkout", "-q", "--detach", fix)
        why = (f"conflicts in {', '.join(conflicted)}" if conflicted
               else "the change is already there" if status == 0 else "the fix no longer applies")
        notes.append(f"rebase onto {name} ({tip[:12]}) failed: {why}; "
                     f"branch cut from the deployed commit {deployed[:12]} instead")
        return deployed, "deployed"
    notes.append(f"rebased onto {name} ({tip[:12]}); the sandbox validated the fix on the deployed "
                 f"commit {deployed[:12]}")
    return tip, "default-branch"


def delete_branch(remote_url: str, branch: str, sha: str) -> str | None:
    """Delete ``branch`` on the remote if it still points at ``sha``; None on success, else why not."""
    with tempfile.TemporaryDirectory(prefix="healcrew-rm-") as tmp:
        probe = _init(tmp)
        status, stdout, stderr = _git(
            probe, "push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{sha}",
            remote_url, f":refs/heads/{branch}",
        )
    if status == 0:
        return None
    return str(_push_failure(stdout, stderr, display_url(remote_url)))
