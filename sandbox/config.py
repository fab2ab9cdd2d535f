"""How a sandbox run is limited and where it runs; one validated record, defaults that fit CI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BackendName = Literal["docker", "process", "auto", "kubernetes"]


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def default_cache_dir() -> Path:
    """``$HEALCREW_CACHE`` or ``~/.cache/healcrew``: wheelhouses and base-image inputs live here."""
    return Path(os.environ.get("HEALCREW_CACHE") or Path.home() / ".cache" / "healcrew")


class SandboxConfig(BaseModel):
    """Limits and choices for running untrusted code. Every field has a safe default."""

    model_config = ConfigDict(extra="forbid")

    backend: BackendName = "auto"
    """Where code runs: ``docker`` (containers), ``process`` (bubblewrap only, weaker isolation;
    refused where bubblewrap cannot create namespaces), ``kubernetes`` (one locked-down pod per
    run, through the cluster's API; only when asked for by name) or ``auto`` (a container: fails
    when no engine answers, never falls back to running the repo's code outside one, never
    picks ``kubernetes``)."""

    image: str | None = None
    """Base image to build the environment image on. ``None`` means healcrew's own base image
    (``python:3.X-slim`` pulled when a registry answers, else built locally with debootstrap)."""

    python: str | None = Field(default=None, pattern=r"^3\.\d{1,2}$")
    """``X.Y`` to run the repo on, overriding the choice read from the repository (``sandbox.pythons``).
    Ignored when ``image`` is given."""

    install_deps: bool = True
    """Build (or reuse) an environment image holding the repo's dependencies and pytest. When
    false, commands run directly in the base image."""

    memory_mb: int = Field(default=1024, ge=16)
    """Memory limit in MiB; swap is set to the same value so going over it OOM-kills."""

    cpus: float = Field(default=1.0, gt=0)
    """CPU quota, in cores (docker ``nano_cpus``)."""

    pids: int = Field(default=256, ge=8)
    """Maximum number of processes and threads inside the sandbox (stops fork bombs)."""

    timeout: float = Field(default=300.0, gt=0)
    """Wall-clock seconds before the command is killed and the result marked ``timed_out``."""

    output_cap_bytes: int = Field(default=1_000_000, ge=1024)
    """Bytes kept from each of stdout and stderr: half from the head, half from the tail."""

    scratch_mb: int = Field(default=512, ge=8)
    """Size in MiB of each tmpfs scratch space (``/tmp`` and the work dir)."""

    workdir: str = "/work"
    """Directory inside the container that holds the repo copy and is the command's cwd."""

    user: str = "65534:65534"
    """``uid:gid`` the command runs as; never root."""

    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for the command (no host variables are passed through)."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels on the containers (docker backend), e.g. to find or count a caller's own."""

    pull_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for a registry when trying to pull a base image before building one."""

    docker_timeout: float = Field(default=120.0, gt=0)
    """Seconds the docker SDK waits for one API call (image builds may take longer)."""

    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Where wheelhouses and image build inputs are cached."""

    pod_image: str | None = Field(default_factory=lambda: _env("HEALCREW_SANDBOX_IMAGE"))
    """kubernetes: the image every sandbox pod runs the repo's code in, as it is (nothing is built
    or installed into it: a cluster step has no engine to build with). It must hold ``python3``
    and the repo's runtime and test dependencies, e.g. the service's own test image. Default
    ``$HEALCREW_SANDBOX_IMAGE``; the kubernetes backend refuses to start without one."""

    kube_namespace: str | None = Field(default_factory=lambda: _env("HEALCREW_SANDBOX_NAMESPACE"))
    """kubernetes: the namespace the sandbox pods and their ConfigMaps are made in. Default
    ``$HEALCREW_SANDBOX_NAMESPACE``, else the namespace of the pod healcrew runs in (in a
    cluster), else the kubeconfig context's, else ``default``."""

    kubeconfig: Path | None = None
    """kubernetes: the kubeconfig file to use. ``None``: the in-cluster service account when
    running in a pod, else ``$KUBECONFIG`` or ``~/.kube/config``."""

    kube_context: str | None = None
    """kubernetes: the kubeconfig context to use (implies a kubeconfig); ``None``: its current context."""
