"""The sandbox API: prepare a repo copy once, run commands in it, get typed results.

    with prepare("path/to/repo", commit="HEAD~1", patch=diff) as box:
        result = box.run(["python", "-m", "pytest", "-q", "--junitxml=/tmp/junit.xml"], timeout=120)

Each ``run`` starts from the prepared copy (runs never see each other's changes) and is bounded
by a semaphore sized to the machine, so callers may run several in parallel from threads.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sandbox.config import BackendName, SandboxConfig
from sandbox.errors import EngineUnavailableError, SandboxError
from sandbox.images import (
    DEFAULT_PYTHON,
    ImageInfo,
    base_pythons,
    ensure_base_image,
    ensure_env_image,
    find_base_image,
)
from sandbox.junit import parse_junit
from sandbox.pythons import PythonChoice, choose_python
from sandbox.requirements import Refusal
from sandbox.results import RunResult
from sandbox.workspace import Workspace, make_workspace

Log = Callable[[str], None]

_SLOTS = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


def _quiet(_: str) -> None:
    return None


class BackendChoice(BaseModel):
    """Which backend runs the code, and why."""

    model_config = ConfigDict(extra="forbid")

    name: str
    reason: str
    namespace: str | None = None
    """kubernetes: the namespace the sandbox pods run in."""


START_DOCKER_HINT = ("start the Docker engine (e.g. `systemctl start docker`, or `dockerd &` as root) or pass "
                     "--sandbox process to run in bubblewrap instead")


_AUTO_NEEDS = "--sandbox auto needs a Docker engine and none answered ("


def choose_backend(requested: BackendName = "auto", ping_timeout: float = 3.0,
                   config: SandboxConfig | None = None) -> tuple[BackendChoice, Any]:
    """Resolve ``docker|process|kubernetes|auto``; the choice and its client: a connected docker
    client, the ``kubernetes`` ``ApiClient``, or None (process).

    ``auto`` means a container: with no engine it is an ``EngineUnavailableError`` saying how to
    start one or to ask for the process backend explicitly; repo code never silently moves onto
    the host. ``process`` is only granted where bubblewrap can isolate it. ``kubernetes`` is only
    ever chosen by name (``auto`` never picks it, even in a cluster): it needs ``config.pod_image``
    and a cluster (in-cluster service account, else kubeconfig), else a one-line ``SandboxError``.
    """
    from sandbox.docker_backend import connect

    if requested == "kubernetes":
        from sandbox.k8s_backend import connect as kube_connect

        api, namespace, where = kube_connect(config or SandboxConfig())
        return BackendChoice(name="kubernetes", reason=f"kubernetes requested ({where}, namespace {namespace})",
                             namespace=namespace), api
    if requested == "process":
        from sandbox.process_backend import require_isolation

        require_isolation()
        return BackendChoice(name="process", reason="process backend requested (bubblewrap)"), None
    if requested not in ("docker", "auto"):
        raise SandboxError(f"sandbox must be docker, process, kubernetes or auto, not {requested!r}")
    try:
        client = connect(ping_timeout=ping_timeout)
    except EngineUnavailableError as exc:
        if requested == "docker":
            raise
        raise EngineUnavailableError(f"{_AUTO_NEEDS}{exc}); {START_DOCKER_HINT}") from None
    why = "docker requested" if requested == "docker" else "auto: the Docker engine answered the ping"
    return BackendChoice(name="docker", reason=why), client


def junit_path_of(command: Sequence[str]) -> str | None:
    """The ``--junitxml`` target in a pytest command line, if any."""
    for i, arg in enumerate(command):
        for flag in ("--junitxml", "--junit-xml"):
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
            if arg == flag and i + 1 < len(command):
                return command[i + 1]
    return None


class Sandbox:
    """A prepared repo copy and the backend (and image) its commands run in. Close it when done."""

    def __init__(self, workspace: Workspace, config: SandboxConfig, choice: BackendChoice, client: Any,
                 image: str | None, images: list[ImageInfo], python: PythonChoice | None = None) -> None:
        self.workspace = workspace
        self.python = python
        """The Python the repo runs on and why (docker backend; None for the process backend)."""
        self.config = config
        self.choice = choice
        self.client = client
        self.image = image
        self.images = images
        self._tar: Path | None = None  # the copy as a tar file, streamed into each container

    @property
    def backend(self) -> str:
        return self.choice.name

    @property
    def refused(self) -> list[Refusal]:
        """The repo's dependency lines and spec files that were not fetched or read, with reasons."""
        return [r for info in self.images for r in info.refused]

    @property
    def path(self) -> Path:
        """The prepared copy on the host (read it, do not run it)."""
        return self.workspace.path

    def run(self, command: Sequence[str], timeout: float | None = None, junit_path: str | None = None,
            env: dict[str, str] | None = None) -> RunResult:
        """Run ``command`` (argv) in a fresh sandbox made from the prepared copy.

        ``junit_path`` (inside the sandbox) defaults to the command's ``--junitxml`` target; its
        test cases fill ``RunResult.tests``. The timeout defaults to ``config.timeout``.
        """
        argv = [str(a) for a in command]
        if not argv:
            raise SandboxError("no command to run")
        limit = float(timeout if timeout is not None else self.config.timeout)
        if limit <= 0:
            raise SandboxError("timeout must be positive")
        junit = junit_path or junit_path_of(argv)
        if junit and not junit.startswith("/"):
            junit = f"{self.config.workdir.rstrip('/')}/{junit}"
        with _SLOTS:
            if self.choice.name == "docker":
                result, xml = self._run_docker(argv, limit, junit, env)
            elif self.choice.name == "kubernetes":
                result, xml = self._run_kubernetes(argv, limit, junit, env)
            else:
                result, xml = self._run_process(argv, limit, junit, env)
        if xml:
            try:
                tests = parse_junit(xml, root=self.workspace.path, workdir=result.workdir)
            except SandboxError as exc:  # the run happened; a broken report must not hide its outcome
                return result.model_copy(update={"junit_error": str(exc)})
            result = result.model_copy(update={"tests": tests})
        return result

    def _run_docker(self, argv: list[str], timeout: float, junit: str | None,
                    env: dict[str, str] | None) -> tuple[RunResult, bytes | None]:
        from sandbox.docker_backend import DockerBackend

        assert self.image is not None
        if self._tar is None:
            self._tar = self.workspace.tar_file()
        return DockerBackend(self.client, self.config).run(self._tar, self.image, argv, timeout, junit, env)

    def _run_kubernetes(self, argv: list[str], timeout: float, junit: str | None,
                        env: dict[str, str] | None) -> tuple[RunResult, bytes | None]:
        from kubernetes import client

        from sandbox.k8s_backend import KubernetesBackend

        assert self.image is not None and self.choice.namespace is not None
        if self._tar is None:
            self._tar = self.workspace.tar_file()
        backend = KubernetesBackend(client.CoreV1Api(self.client), self.choice.namespace, self.config)
        return backend.run(self._tar.read_bytes(), self.image, argv, timeout, junit, env)

    def _run_process(self, argv: list[str], timeout: float, junit: str | None,
                     env: dict[str, str] | None) -> tuple[RunResult, bytes | None]:
        from sandbox.process_backend import ProcessBackend

        top = Path(tempfile.mkdtemp(prefix="healcrew-run-"))
        try:
            copy = top / "repo"
            shutil.copytree(self.workspace.path, copy, symlinks=True)
            return ProcessBackend(self.config).run(copy, argv, timeout, junit, env)
        finally:
            shutil.rmtree(top, ignore_errors=True)

    def close(self) -> None:
        """Remove the prepared copy and let go of the engine connection."""
        self.workspace.close()
        if self.client is not None:
            self.client.close()
            self.client = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare(
    repo: str | Path, commit: str | None = None, patch: str | Path | None = None,
    files: dict[str, str] | None = None, config: SandboxConfig | None = None, log: Log | None = None,
) -> Sandbox:
    """Copy ``repo`` at ``commit``, apply ``patch`` (diff text or a file) and ``files``, pick the
    backend and, for docker, make sure the base and environment images exist (cached).

    The kubernetes backend builds no image: its pods run ``config.pod_image`` as it is, so that
    image must already hold the repo's runtime and test dependencies (e.g. the service's own
    test image), since a step in a cluster has no engine to build one with.
    """
    cfg = config or SandboxConfig()
    log = log or _quiet
    if isinstance(patch, Path):
        try:
            patch = patch.read_text(encoding="utf-8")
        except OSError as exc:
            raise SandboxError(f"cannot read patch file {patch}: {exc.strerror or exc}") from exc
    workspace = make_workspace(repo, commit, patch, files)
    client = None
    try:
        choice, client = choose_backend(cfg.backend, config=cfg)
        image, images, python = None, [], None
        if choice.name == "kubernetes":
            image = cfg.pod_image
            log(f"kubernetes: pods run {image} as it is; {choice.reason}")
        elif client is not None:
            python = pick_python(client, workspace.path, cfg)
            log(f"python {python.version}: {python.reason}")
            base = ensure_base_image(client, cfg.image, cfg.pull_timeout, cfg.cache_dir, log,
                                     python=None if cfg.image else python.version)
            images.append(base)
            image = base.tag
            if cfg.install_deps:
                env = ensure_env_image(client, base.tag, workspace.path, cfg.cache_dir, log)
                images.append(env)
                image = env.tag
        return Sandbox(workspace, cfg, choice, client, image, images, python)
    except BaseException:
        workspace.close()
        if client is not None:
            client.close()
        raise


def pick_python(client: Any, root: Path, cfg: SandboxConfig) -> PythonChoice:
    """The Python for the repo copy at ``root``: from ``--image``, ``--python`` or the repo's own declarations."""
    if cfg.image:
        from sandbox.images import image_python

        ensure_base_image(client, cfg.image, cfg.pull_timeout, cfg.cache_dir)  # present or pulled, else an error
        version = image_python(client, cfg.image)
        return PythonChoice(version=version, reason=f"the image {cfg.image} was given; it holds Python {version}")
    return choose_python(root, base_pythons(client), DEFAULT_PYTHON, cfg.python)


def run(
    repo: str | Path, command: Sequence[str], commit: str | None = None, patch: str | Path | None = None,
    files: dict[str, str] | None = None, config: SandboxConfig | None = None, timeout: float | None = None,
) -> RunResult:
    """``prepare`` then one ``Sandbox.run``; everything temporary is removed afterwards."""
    with prepare(repo, commit, patch, files, config) as box:
        return box.run(command, timeout=timeout)


def build_base_image(config: SandboxConfig | None = None, log: Log | None = None) -> ImageInfo:
    """Pull or build healcrew's base image (or check ``config.image``); idempotent."""
    from sandbox.docker_backend import connect

    cfg = config or SandboxConfig()
    client = connect(cfg.docker_timeout, ping_timeout=3.0)
    try:
        return ensure_base_image(client, cfg.image, cfg.pull_timeout, cfg.cache_dir, log or _quiet,
                                 python=None if cfg.image else cfg.python)
    finally:
        client.close()


def build_env_image(repo: str | Path, config: SandboxConfig | None = None, log: Log | None = None) -> ImageInfo:
    """The environment image for ``repo``'s dependencies (base image first); cached by their hash."""
    from sandbox.docker_backend import connect

    cfg = config or SandboxConfig()
    client = connect(cfg.docker_timeout, ping_timeout=3.0)
    log = log or _quiet
    try:
        with make_workspace(repo) as ws:
            python = pick_python(client, ws.path, cfg)
            log(f"python {python.version}: {python.reason}")
            base = ensure_base_image(client, cfg.image, cfg.pull_timeout, cfg.cache_dir, log,
                                     python=None if cfg.image else python.version)
            return ensure_env_image(client, base.tag, ws.path, cfg.cache_dir, log)
    finally:
        client.close()


class DoctorReport(BaseModel):
    """What this machine can offer the sandbox."""

    model_config = ConfigDict(extra="forbid")

    engine_reachable: bool
    engine_version: str | None = None
    engine_error: str | None = None
    base_image: str | None = None
    backend: str
    reason: str
    process_mode: str
    isolation_note: str


def doctor(config: SandboxConfig | None = None) -> DoctorReport:
    """Engine, base image and the backend ``auto`` would pick, without building or pulling anything."""
    from sandbox.docker_backend import ISOLATION_NOTE
    from sandbox.process_backend import NOTES, available_mode

    cfg = config or SandboxConfig()
    mode = available_mode()
    version = error = image = None
    try:
        choice, client = choose_backend("auto")
    except EngineUnavailableError as exc:
        choice, client = BackendChoice(name="none", reason=str(exc)), None
        error = str(exc).removeprefix(_AUTO_NEEDS).removesuffix(f"); {START_DOCKER_HINT}")
    if client is not None:
        try:
            version = str(client.version().get("Version"))
            image = cfg.image if cfg.image else find_base_image(client)
        finally:
            client.close()
    note = ISOLATION_NOTE if choice.name == "docker" else NOTES[mode]
    return DoctorReport(engine_reachable=client is not None, engine_version=version, engine_error=error,
                        base_image=image, backend=choice.name, reason=choice.reason, process_mode=mode,
                        isolation_note=note)
