"""The one hardened way to run git on a repository healcrew did not write.

A repository handed over with its ``.git`` controls ``.git/config``, ``.git/hooks``, its
attributes and the config files those include: git would run the filters, diff drivers,
fsmonitor, pager, signature program, askpass and hooks named there, as the (often root) user
running healcrew. Filter and driver names are chosen by the repository, so they cannot all be
listed and overridden; instead the rules are:

- no system or global config (``GIT_CONFIG_NOSYSTEM``, ``GIT_CONFIG_GLOBAL=/dev/null``), no
  system attributes, no replace objects, no optional index writes, no prompts, no pager;
- ``-c`` overrides (which beat the repository's own config) for every setting that names a
  command and is not per-driver: fsmonitor, hooks, pager, askpass, credential helpers, ssh,
  gpg, external diff, ``log.showSignature``, and protocols other than local files;
- callers only use commands that never run a filter or driver: plumbing reads
  (``ls-tree``, ``cat-file`` without ``--filters``/``--textconv``), ``blame``/``log`` with
  ``--no-textconv --no-ext-diff``; anything that checks out or commits runs in a fresh clone whose
  config healcrew wrote (:func:`clone`);
- ``safe.directory`` is set for the one repository we were handed, never ``*``.

Commands that talk to the operator's remote from such a clone may use the operator's own git
config (credential helpers, ssh settings): ``operator_config=True``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# Settings that name a command (or turn one on) and are not keyed by a repository-chosen name.
_NO_COMMANDS: tuple[str, ...] = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.attributesFile=/dev/null",
    "core.pager=cat",
    "core.editor=true",
    "core.untrackedCache=false",
    "core.alternateRefsCommand=",
    "core.gitProxy=",
    "sequence.editor=true",
    "diff.external=",
    "log.showSignature=false",
    "gpg.program=gpg",
    "gpg.ssh.program=ssh-keygen",
    "gpg.x509.program=gpgsm",
    "gpg.ssh.defaultKeyCommand=",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "push.gpgSign=false",
    "blame.ignoreRevsFile=",
    "uploadpack.packObjectsHook=",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "push.recurseSubmodules=no",
    "gc.auto=0",
    "maintenance.auto=false",
    "protocol.ext.allow=never",
)
# Only for commands on the untrusted repository itself: it never needs a network or credentials.
_UNTRUSTED_ONLY: tuple[str, ...] = (
    "core.askPass=",
    "credential.helper=",
    "core.sshCommand=false",
    "protocol.allow=never",
    "protocol.file.allow=always",
)
# Variables from the caller's environment that would point git somewhere else.
_DROP_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE",
             "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_CONFIG", "GIT_EXTERNAL_DIFF",
             "GIT_PAGER", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_EXEC_PATH",
             "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS", "GIT_TEMPLATE_DIR")


def git_env(*, operator_config: bool = False, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a hardened git: the caller's, minus redirections, plus our guards."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env |= {
        "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat", "GIT_EDITOR": "true",
        "GIT_ATTR_NOSYSTEM": "1", "GIT_NO_REPLACE_OBJECTS": "1", "GIT_OPTIONAL_LOCKS": "0",
        "LC_ALL": "C",
    }
    if not operator_config:
        env |= {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_SYSTEM": "/dev/null"}
    if extra:
        env |= dict(extra)
    return env


def git_argv(args: Sequence[str], *, safe_directory: Path | None = None, operator_config: bool = False) -> list[str]:
    """``git -c ... args``: the overrides first, then ``args``."""
    settings = list(_NO_COMMANDS)
    if not operator_config:
        settings += _UNTRUSTED_ONLY
    if safe_directory is not None:
        settings.append(f"safe.directory={safe_directory}")
    argv = ["git", "--no-replace-objects"]
    for setting in settings:
        argv += ["-c", setting]
    return [*argv, *args]


def run_git(
    args: Sequence[str], cwd: Path, *, stdin: bytes | None = None, safe_directory: Path | None = None,
    operator_config: bool = False, env: Mapping[str, str] | None = None, timeout: float | None = None,
    ceiling: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run hardened git in ``cwd``; ``safe_directory`` defaults to ``cwd`` (the repo we were handed).

    ``ceiling`` stops git from finding an enclosing repository above ``cwd``. Raises
    ``FileNotFoundError`` when git is not installed; never raises on git's own failures.
    """
    extra = dict(env or {})
    if ceiling:
        extra.setdefault("GIT_CEILING_DIRECTORIES", str(Path(cwd).resolve().parent))
    return subprocess.run(
        git_argv(args, safe_directory=safe_directory or Path(cwd).resolve(), operator_config=operator_config),
        cwd=cwd, input=stdin, capture_output=True, check=False, timeout=timeout,
        env=git_env(operator_config=operator_config, extra=extra),
    )


def clone(source: Path, dest: Path, *, timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """A ``--no-checkout`` clone of ``source`` into ``dest`` that shares its objects.

    Nothing of ``source``'s config, hooks or info/ is copied, so later checkouts and commits in
    ``dest`` only see the config git writes for a new clone.
    """
    src = Path(source).resolve()
    # git clears ``-c`` settings for the upload-pack it starts on ``source``: hand them over on its command line.
    upload = git_argv(["-c", f"safe.directory={src / '.git'}", "upload-pack"], safe_directory=src)
    return run_git(["clone", "-q", "--no-checkout", "--shared", "--no-hardlinks",
                    "--upload-pack", " ".join(shlex.quote(arg) for arg in upload), "--", str(src), str(dest)],
                   Path(dest).parent, safe_directory=src, timeout=timeout, ceiling=False)


def first_line(stderr: bytes | str) -> str:
    """git's first non-empty stderr line, for one-line errors."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else "no details"
