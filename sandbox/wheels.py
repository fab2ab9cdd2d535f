"""The wheelhouse: every package an environment image installs, fetched without running repo code on the host.

On the host only ready-made wheels are downloaded (``pip download --only-binary=:all:`` for the
image's Python and platform), which runs no package code. Whatever has no wheel is built inside a
throwaway container: no host mounts but an output folder (read-write), the inputs, the host's CA
bundle and pip configuration (read-only: behind an intercepting proxy TLS to the index fails
without them, and verification is never turned off); uid 65534, all capabilities dropped,
``no-new-privileges``, pids and memory limits, a timeout. Its network is the host's only because
it must reach the package index (no bridge network exists here). The wheels are then copied out
without following links, so the container cannot make the host read or write anything else.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from sandbox.errors import ImageError

Log = Callable[[str], None]
LABEL = "org.healcrew.sandbox"
WORK_PREFIX = "healcrew-wheelbuild-"
BUILD_USER = "65534:65534"
BUILD_TIMEOUT = 900.0
BUILD_MEMORY_MB = 2048
BUILD_PIDS = 512
MAX_WHEEL_BYTES = 2 * 1024**3
_PATH_KEYS = ("cert", "client-cert", "constraint", "find-links")
_CONF_IN_CONTAINER = "/etc/healcrew/pip.conf"


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Target:
    """The interpreter and platform an image's wheels must fit."""

    python: str  # "3.11"
    glibc: str  # "2.36" ("" when not glibc)
    machine: str  # "x86_64"

    def platforms(self) -> list[str]:
        """manylinux tags this glibc accepts, newest first (pip does not expand ``--platform`` itself)."""
        if not self.glibc:
            return []
        major, minor = (int(x) for x in self.glibc.split(".")[:2])
        tags = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        tags += [f"{name}_{self.machine}" for m, name in legacy.items() if major == 2 and minor >= m]
        return tags


def image_target(client: Any, image: str) -> Target:
    """Python version, glibc and machine of ``image``, asked of a network-less container."""
    import docker.errors

    code = ("import platform, sys; lib, ver = platform.libc_ver(); "
            "print('%d.%d' % sys.version_info[:2], ver if lib == 'glibc' else '-', platform.machine())")
    try:
        out = client.containers.run(image, ["python3", "-c", code], network_mode="none", remove=True,
                                    stdout=True, stderr=False, user=BUILD_USER, cap_drop=["ALL"])
    except docker.errors.DockerException as exc:
        raise ImageError(f"image {image!r} has no working python3: {exc}") from exc
    python, glibc, machine = bytes(out).decode().split()
    return Target(python, "" if glibc == "-" else glibc, machine)


# --- the host's pip configuration -------------------------------------------------------------------


@dataclass
class PipSetup:
    """The host's pip configuration as a build container sees it: one file, the env, read-only mounts."""

    config_text: str
    env: dict[str, str] = field(default_factory=dict)
    mounts: dict[str, str] = field(default_factory=dict)  # host path -> container path (read-only)


def host_pip_setup(environ: dict[str, str] | None = None) -> PipSetup:
    """What the host's pip is configured with (``pip config list`` and ``PIP_*``), for a container.

    Settings from the host's config files are merged into one file (pip's own merge, as ``pip
    config list`` prints it); ``PIP_*`` variables are passed as they are. The local files and
    folders those settings name (CA bundle, client certificate, constraints, find-links) are
    mounted read-only at the same paths. A ``file://`` index is not mounted (its pages may link
    anywhere on the host); the container reaches the network index instead, and local wheels
    arrive through the host download.
    """
    environ = dict(os.environ if environ is None else environ)
    proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                          check=False, env=environ, timeout=60)
    sections: dict[str, dict[str, str]] = {}
    values: list[tuple[str, str]] = []
    for line in proc.stdout.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or key.startswith(":env:"):
            continue  # environment settings travel as environment variables below
        section, _, name = key.partition(".")
        try:
            value = str(ast.literal_eval(raw))
        except (ValueError, SyntaxError):
            value = raw.strip("'\"")
        sections.setdefault(section, {})[name] = value
        values.append((name, value))
    env = {k: v for k, v in environ.items() if k.startswith("PIP_") and k != "PIP_CONFIG_FILE"}
    values += [(k[4:].lower().replace("_", "-"), v) for k, v in env.items()]
    if environ.get("PIP_CONFIG_FILE") == os.devnull:
        sections = {}
    lines: list[str] = []
    for section, items in sections.items():
        lines.append(f"[{section}]")
        for name, value in items.items():
            lines.append(f"{name} = " + value.replace("\n", "\n    "))
    mounts: dict[str, str] = {}
    for name, value in values:
        if name in _PATH_KEYS:
            for item in value.split():
                path = item.removeprefix("file://") if item.startswith("file:///") else item
                if path.startswith("/") and os.path.exists(path):
                    real = os.path.realpath(path)
                    mounts[real] = path
    return PipSetup(config_text="\n".join(lines) + "\n", env=env, mounts=mounts)


# --- host: ready-made wheels only ---------------------------------------------------------------------


def download_wheels(requirements: Sequence[str], dest: Path, target: Target, log: Log = _quiet) -> list[str]:
    """Fetch ready-made wheels for ``requirements`` into ``dest``; returns those that have none.

    ``--only-binary=:all:`` means pip never builds, so no package code runs on the host. When the
    whole set cannot be served as wheels, the requirement pip names is set aside and the rest tried
    again; when pip names a dependency instead, each remaining requirement is tried alone.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return []
    pending, missing = list(requirements), list[str]()
    while pending:
        ok, detail = _pip_download(pending, dest, target)
        if ok:
            return missing
        named = _unsatisfied(detail, pending)
        if not named:
            break  # the culprit is a dependency of one of them: find it one requirement at a time
        log(f"no ready-made wheel for {named}: it will be built in a container")
        missing.append(named)
        pending.remove(named)
    for requirement in pending:
        ok, _ = _pip_download([requirement], dest, target)
        if not ok:
            log(f"no ready-made wheel for {requirement} (or one of its dependencies): it will be built in a container")
            missing.append(requirement)
    return missing


def _unsatisfied(detail: str, pending: list[str]) -> str | None:
    """The requirement of ``pending`` that pip's error names, if it names one of them."""
    match = re.search(r"(?:satisfies the requirement|distribution found for) (\S+)", detail)
    if not match:
        return None
    try:
        name = canonicalize_name(Requirement(match.group(1)).name)
    except InvalidRequirement:
        return None
    return next((r for r in pending if canonicalize_name(Requirement(r).name) == name), None)


def _pip_download(requirements: list[str], dest: Path, target: Target) -> tuple[bool, str]:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-input",
           "--only-binary=:all:", "--dest", str(dest), "--python-version", target.python, "--implementation", "cp"]
    for platform in target.platforms():
        cmd += ["--platform", platform]
    # requirements as arguments, not a file: pip expands ${VARS} and options inside requirement files
    proc = subprocess.run([*cmd, "--", *requirements], capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    return proc.returncode == 0, next((ln for ln in lines if "ERROR" in ln), lines[-1] if lines else "")


# --- container: everything that must be built ----------------------------------------------------------


def build_in_container(
    client: Any, image: str, requirements: Sequence[str], dest: Path, *, inputs: Sequence[Path] = (),
    find_links: Path | None = None, pip: PipSetup | None = None, log: Log = _quiet,
    timeout: float = BUILD_TIMEOUT, memory_mb: int = BUILD_MEMORY_MB, labels: dict[str, str] | None = None,
) -> list[str]:
    """Build wheels for ``requirements`` (and their dependencies) in a locked-down container.

    ``inputs`` are files copied into the container's read-only ``/in`` (a requirement may name
    them there); ``find_links`` (read-only at ``/wheels``) offers wheels already fetched. The
    wheels built land in ``dest``; returns their file names.
    """
    import docker.errors
    import requests.exceptions

    from sandbox.sweep import owner_labels  # imported here: sweep imports images, which imports this module

    pip = pip or host_pip_setup()
    # owner and deadline labels: a build left by a killed healcrew is removed by the start-up sweep
    labels = {**owner_labels(time.time() + timeout + 5), **(labels or {})}
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
    container = None
    try:
        inbox, outbox = work / "in", work / "out"
        inbox.mkdir()
        outbox.mkdir()
        for item in inputs:
            shutil.copy2(item, inbox / item.name)
        (inbox / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        (inbox / "pip.conf").write_text(pip.config_text, encoding="utf-8")
        for path in (work, inbox, *inbox.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        _hand_to_builder(outbox)
        volumes: dict[str, dict[str, str]] = {
            str(outbox): {"bind": "/out", "mode": "rw"},
            str(inbox): {"bind": "/in", "mode": "ro"},
        }
        command = ["python3", "-m", "pip", "wheel", "--no-cache-dir", "--disable-pip-version-check", "--no-input",
                   "--wheel-dir", "/out", "-r", "/in/requirements.txt"]
        if find_links is not None:
            volumes[str(find_links)] = {"bind": "/wheels", "mode": "ro"}
            command += ["--find-links", "/wheels"]
        # the container ends itself at its deadline, even if healcrew is killed and cannot stop it
        command = ["timeout", "--signal=KILL", str(int(timeout) + 5), *command]
        for host, inside in pip.mounts.items():
            volumes[host] = {"bind": inside, "mode": "ro"}
        environment = {**pip.env, "PIP_CONFIG_FILE": "/in/pip.conf", "HOME": "/tmp", "TMPDIR": "/tmp",
                       "PIP_NO_CACHE_DIR": "1", "PIP_ROOT_USER_ACTION": "ignore", "LANG": "C.UTF-8"}
        log(f"building {len(requirements)} package(s) with no ready-made wheel in a container")
        container = client.containers.run(
            image, command, name=f"healcrew-wheels-{uuid.uuid4().hex[:12]}", detach=True,
            labels={**labels, LABEL: "wheel-build"}, user=BUILD_USER, working_dir="/tmp",
            environment=environment, volumes=volumes, network_mode="host", read_only=True,
            tmpfs={"/tmp": "rw,exec,nosuid,nodev,size=4g,mode=1777"},
            cap_drop=["ALL"], security_opt=["no-new-privileges"], pids_limit=BUILD_PIDS,
            mem_limit=f"{memory_mb}m", memswap_limit=f"{memory_mb}m", init=True,
        )
        try:
            status = container.wait(timeout=timeout)
        except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
            raise ImageError(f"building the dependencies took longer than {timeout:.0f}s") from None
        if status.get("StatusCode") != 0:
            tail = container.logs(stdout=True, stderr=True, tail=40).decode("utf-8", "replace")
            detail = next((ln for ln in reversed(tail.splitlines()) if "ERROR" in ln or "rror:" in ln),
                          tail.strip().splitlines()[-1] if tail.strip() else "no output")
            raise ImageError(f"building the dependencies in a container failed: {detail.strip()[:300]}")
        return copy_wheels_out(outbox, dest)
    except docker.errors.DockerException as exc:
        raise ImageError(f"the dependency build container failed: {exc}") from exc
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
        shutil.rmtree(work, ignore_errors=True)


def _hand_to_builder(outbox: Path) -> None:
    """The output folder must be writable by the build user, and by nobody else but us."""
    uid, _, gid = BUILD_USER.partition(":")
    if os.geteuid() == 0:
        os.chown(outbox, int(uid), int(gid))
        outbox.chmod(0o755)
    else:
        outbox.chmod(0o777)


def copy_wheels_out(outbox: Path, dest: Path, max_bytes: int = MAX_WHEEL_BYTES) -> list[str]:
    """Copy the regular ``*.whl`` files of ``outbox`` into ``dest``; links and anything else are ignored."""
    dest.mkdir(parents=True, exist_ok=True)
    copied: list[str] = []
    total = 0
    dirfd = os.open(outbox, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in sorted(os.listdir(dirfd)):
            try:
                parse_wheel_filename(name)
            except InvalidWheelFilename:
                continue
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
            except OSError:
                continue  # a link (or gone): never followed
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    continue
                total += info.st_size
                if total > max_bytes:
                    raise ImageError(f"the built wheels exceed {max_bytes // 1024**2} MiB")
                with os.fdopen(os.dup(fd), "rb") as src, (dest / name).open("wb") as out:
                    shutil.copyfileobj(src, out)
                copied.append(name)
            finally:
                os.close(fd)
    finally:
        os.close(dirfd)
    return copied


# --- both -------------------------------------------------------------------------------------------


def build_wheelhouse(
    client: Any, image: str, requirements: list[str], dest: Path, target: Target, log: Log = _quiet,
    labels: dict[str, str] | None = None,
) -> Path:
    """Wheels for ``requirements`` in ``dest``: downloaded on the host when ready-made, else built in a container.

    ``requirements`` must already be vetted (``sandbox.requirements``). ``dest/requirements.txt``
    is what the image installs; ``dest/.complete`` marks a finished wheelhouse (the cache).
    """
    marker = dest / ".complete"
    if marker.is_file():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    log(f"fetching ready-made wheels on the host: {len(requirements)} requirement(s)")
    missing = download_wheels(requirements, dest, target, log)
    if missing:
        build_in_container(client, image, missing, dest, find_links=dest, log=log, labels=labels)
    (dest / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    marker.write_text("ok\n", encoding="utf-8")
    return dest
