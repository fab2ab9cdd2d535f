"""The stable and candidate builds: each git ref checked out safely and given its environment image.

A ref is resolved and read through the sandbox's hardened git (``sandbox.workspace`` reads the
commit blob by blob, so no hook, filter or config of the repository runs); the copy is what the
container mounts read-only. The environment image is the sandbox's own (``sandbox.images``),
built from the checkout's declared dependencies inside containers and cached by their hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crew.errors import BadInputError, SandboxError
from sandbox.config import SandboxConfig
from sandbox.errors import SandboxError as SandboxFailure
from sandbox.safegit import first_line, run_git
from sandbox.workspace import Workspace, make_workspace

_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the letters Kubernetes uses in pod-template hashes


@dataclass
class Build:
    """One ref of the service: its commit, the checkout of the service folder and its image."""

    ref: str
    commit: str
    workspace: Workspace
    service_path: Path
    image: str = ""

    @property
    def pod_hash(self) -> str:
        """A pod-template-hash for this build, stable per commit (Argo derives it from the pod template)."""
        digest = hashlib.sha256(self.commit.encode()).digest()
        return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


def repo_root(service_dir: Path) -> tuple[Path, Path]:
    """(the repository holding ``service_dir``, the service folder relative to it)."""
    if not service_dir.is_dir():
        raise BadInputError(f"service folder not found: {service_dir}")
    service_dir = service_dir.resolve()
    try:
        proc = run_git(["rev-parse", "--show-toplevel"], service_dir, ceiling=False)
    except FileNotFoundError:
        raise BadInputError("git is not installed") from None
    if proc.returncode != 0:
        raise BadInputError(f"{service_dir} is not inside a git repository: {first_line(proc.stderr)}")
    top = Path(proc.stdout.decode().strip()).resolve()
    return top, service_dir.relative_to(top)


def resolve_ref(top: Path, ref: str) -> str:
    """The commit sha ``ref`` names in ``top``; a one-line error when it names none."""
    if not ref or ref.startswith("-"):
        raise BadInputError(f"not a git ref: {ref!r}")
    proc = run_git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], top)
    if proc.returncode != 0:
        raise BadInputError(f"ref {ref!r} does not exist in {top.name}")
    return proc.stdout.decode().strip()


def check_out(top: Path, sub: Path, ref: str) -> Build:
    """A throw-away copy of ``top`` at ``ref``; ``service_path`` is the service folder inside it."""
    commit = resolve_ref(top, ref)
    try:
        workspace = make_workspace(top, commit)
    except SandboxFailure as exc:
        raise SandboxError(f"cannot check out {ref}: {exc}") from None
    path = workspace.path / sub
    if not path.is_dir():
        workspace.close()
        raise BadInputError(f"{ref} has no folder {sub}")
    return Build(ref=ref, commit=commit, workspace=workspace, service_path=path)


def ensure_image(client: Any, build: Build, config: SandboxConfig, log: Callable[[str], None]) -> str:
    """The sandbox environment image for ``build``'s dependencies (base image first; both cached)."""
    from sandbox.api import pick_python
    from sandbox.images import ensure_base_image, ensure_env_image

    try:
        python = pick_python(client, build.service_path, config)
        base = ensure_base_image(client, config.image, config.pull_timeout, config.cache_dir, log,
                                 python=None if config.image else python.version)
        build.image = ensure_env_image(client, base.tag, build.service_path, config.cache_dir, log).tag
    except SandboxFailure as exc:
        raise SandboxError(f"cannot prepare the image of {build.ref}: {exc}") from None
    return build.image
