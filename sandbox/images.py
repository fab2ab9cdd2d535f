"""Images the docker backend runs in: a Python base image and, per repo, an environment image.

Base image: ``python:3.X-slim`` when a registry answers within a short timeout; otherwise one is
built here from Debian packages (``debootstrap`` of a minimal bookworm with python3, then
``docker import``), from the mirror the host's apt already uses.

Environment image: the base plus a venv at ``/opt/venv`` holding the repo's dependencies and
pytest, tagged with a hash of those dependencies so it is rebuilt only when they change. Wheels
are collected on the host with the host's own pip configuration (a wheelhouse, which doubles as
the cache), then installed in the image with ``--no-index``: TLS to a package index often fails
inside containers behind an intercepting proxy, and air-gapped users need the same path.
"""

from __future__ import annotations

import configparser
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import ImageError

BASE_REPO = "healcrew/python-base"
BUILT_BASE_TAG = f"{BASE_REPO}:bookworm"
ENV_REPO = "healcrew/env"
SUITE = "bookworm"
DEBIAN_PACKAGES = ["python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates"]
LABEL = "org.healcrew.sandbox"
ENV_RECIPE_VERSION = "1"  # bump when the environment Dockerfile changes meaningfully
_EXTRAS = ("test", "tests", "testing", "dev")
_ENV_BUILDS = threading.Lock()
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ImageInfo:
    """An image that is ready, how it came to be, and how long that took."""

    tag: str
    cached: bool
    how: str  # cached | pulled | debootstrap | built
    seconds: float
    python: str = ""


def host_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def pulled_base_tag(python: str | None = None) -> str:
    return f"{BASE_REPO}:{python or host_python()}-slim"


def _image_exists(client: Any, ref: str) -> Any | None:
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        raise ImageError(f"cannot inspect image {ref}: {exc.explanation or exc}") from exc


def find_base_image(client: Any) -> str | None:
    """A healcrew base image already on this engine, if any (no network, no build)."""
    for ref in (pulled_base_tag(), BUILT_BASE_TAG):
        if _image_exists(client, ref) is not None:
            return ref
    return None


def try_pull(client: Any, repository: str, tag: str, timeout: float) -> Any | None:
    """Pull ``repository:tag``, giving up after ``timeout`` seconds; None when no registry answers.

    The SDK's pull has no timeout of its own, so it runs in a daemon thread we stop waiting for.
    """
    outcome: list[Any] = []

    def pull() -> None:
        try:
            client.api.pull(repository, tag=tag)
            outcome.append(True)
        except Exception as exc:  # registry errors come as APIError, requests or OS errors
            outcome.append(exc)

    worker = threading.Thread(target=pull, name=f"pull-{repository}:{tag}", daemon=True)
    worker.start()
    worker.join(timeout)
    if outcome != [True]:
        return None
    return _image_exists(client, f"{repository}:{tag}")


def ensure_base_image(
    client: Any, image: str | None = None, pull_timeout: float = 10.0, cache_dir: Path | None = None,
    log: Log = _quiet,
) -> ImageInfo:
    """The base image to build environments on; pulled or built once, then reused.

    With ``image`` given it must exist locally or be pullable, else ``ImageError``.
    """
    start = time.monotonic()
    if image:
        if _image_exists(client, image) is not None:
            return ImageInfo(image, True, "cached", 0.0)
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        log(f"image {image} is not here; trying to pull it")
        if try_pull(client, repo, tag, pull_timeout) is not None:
            return ImageInfo(image, False, "pulled", time.monotonic() - start)
        raise ImageError(f"unknown image {image!r}: not on this engine and no registry could supply it")
    found = find_base_image(client)
    if found:
        return ImageInfo(found, True, "cached", 0.0)
    py = host_python()
    log(f"trying to pull python:{py}-slim (timeout {pull_timeout:.0f}s)")
    pulled = try_pull(client, "python", f"{py}-slim", pull_timeout)
    if pulled is not None:
        pulled.tag(BASE_REPO, f"{py}-slim")
        return ImageInfo(pulled_base_tag(py), False, "pulled", time.monotonic() - start, py)
    log("no registry answered; building the base image from Debian packages (debootstrap)")
    build_base_with_debootstrap(client, cache_dir, log)
    return ImageInfo(BUILT_BASE_TAG, False, "debootstrap", time.monotonic() - start)


# --- Debian mirror and debootstrap -------------------------------------------------------------


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian archive URI the host's apt uses (``$HEALCREW_DEBIAN_MIRROR`` overrides it)."""
    override = os.environ.get("HEALCREW_DEBIAN_MIRROR")
    if override:
        return override
    entries: list[tuple[str, list[str]]] = []
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.suffix == ".sources":
            entries += _deb822_entries(text)
        elif path.suffix == ".list" or path.name == "sources.list":
            entries += _one_line_entries(text)
    for uri, suites in entries:
        if any(s == SUITE or re.fullmatch(r"[a-z]+", s) for s in suites) and not uri.rstrip("/").endswith(
            "-security"
        ):
            return uri.rstrip("/")
    raise ImageError(
        "no Debian mirror found in the host's apt sources; set HEALCREW_DEBIAN_MIRROR to a Debian archive URL"
    )


def _one_line_entries(text: str) -> list[tuple[str, list[str]]]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        line = re.sub(r"\[[^\]]*\]", "", line)  # options such as [signed-by=...]
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "deb":
            out.append((parts[1], [parts[2]]))
    return out


def _deb822_entries(text: str) -> list[tuple[str, list[str]]]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            out.append((uri, fields.get("suites", "").split()))
    return out


def build_base_with_debootstrap(
    client: Any, cache_dir: Path | None = None, log: Log = _quiet, tag: str = BUILT_BASE_TAG
) -> str:
    """debootstrap a minimal bookworm with python3 into a temp dir and ``docker import`` it as ``tag``."""
    if shutil.which("debootstrap") is None:
        raise ImageError("no registry answered and debootstrap is not installed (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise ImageError(
            "building the base image with debootstrap needs root; run `healcrew sandbox build-image` as root"
        )
    mirror = debian_mirror()
    work = Path(tempfile.mkdtemp(prefix="healcrew-base-", dir=_tmp_parent(cache_dir)))
    rootfs = work / "rootfs"
    try:
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}", SUITE, str(rootfs), mirror]
        log(" ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise ImageError(f"debootstrap failed (exit {proc.returncode}): {tail}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / junk).glob("*"):
                if item.is_file():
                    item.unlink()
        py = subprocess.run(
            ["chroot", str(rootfs), "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        ).stdout.strip() or "3"
        archive = work / "rootfs.tar"
        if shutil.which("tar"):
            packed = subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."],
                                    capture_output=True, text=True, check=False)
            if packed.returncode != 0:
                raise ImageError(f"packing the base rootfs failed: {packed.stderr.strip()[:200]}")
        else:
            with tarfile.open(archive, "w") as tar:
                tar.add(rootfs, arcname=".")
        log(f"docker import as {tag}")
        changes = [f"ENV PATH={_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]',
                   f"LABEL {LABEL}=base org.healcrew.python={py}"]
        with archive.open("rb") as fh:
            repository, _, version = tag.rpartition(":")
            client.api.import_image_from_data(fh, repository=repository, tag=version, changes=changes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if _image_exists(client, tag) is None:
        raise ImageError("docker import finished but the base image is missing")
    return tag


def _tmp_parent(cache_dir: Path | None) -> str | None:
    if cache_dir is None:
        return None
    target = cache_dir / "tmp"
    target.mkdir(parents=True, exist_ok=True)
    return str(target)


# --- Environment image --------------------------------------------------------------------------


def collect_requirements(root: Path) -> list[str]:
    """The repo's dependencies (requirements*.txt, pyproject.toml, setup.cfg) plus pytest.

    Local and editable entries, index options and hashes are dropped: the project's own code is
    copied into each run, and packages come from the host-built wheelhouse.
    """
    reqs: list[str] = []
    own_names: set[str] = set()
    files = sorted(root.glob("requirements*.txt")) + sorted((root / "requirements").glob("*.txt"))
    seen: set[Path] = set()
    for path in files:
        reqs += _requirements_file(path, root, seen)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ImageError(f"pyproject.toml cannot be read: {exc}") from exc
        project = data.get("project", {})
        if isinstance(project.get("name"), str):
            own_names.add(_canon(project["name"]))
        reqs += [r for r in project.get("dependencies", []) if isinstance(r, str)]
        optional = project.get("optional-dependencies", {})
        groups = data.get("dependency-groups", {})
        for extra in _EXTRAS:
            reqs += [r for r in optional.get(extra, []) if isinstance(r, str)]
            reqs += [r for r in groups.get(extra, []) if isinstance(r, str)]
    setup_cfg = root / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(setup_cfg, encoding="utf-8")
        except configparser.Error as exc:
            raise ImageError(f"setup.cfg cannot be read: {exc}") from exc
        if parser.has_option("metadata", "name"):
            own_names.add(_canon(parser.get("metadata", "name")))
        if parser.has_option("options", "install_requires"):
            reqs += parser.get("options", "install_requires").splitlines()
        for extra in _EXTRAS:
            if parser.has_option("options.extras_require", extra):
                reqs += parser.get("options.extras_require", extra).splitlines()
    cleaned = {r.strip() for r in reqs if r.strip() and not r.strip().startswith("#")}
    cleaned = {r for r in cleaned if _canon(_req_name(r)) not in own_names}
    if not any(_canon(_req_name(r)) == "pytest" for r in cleaned):
        cleaned.add("pytest")
    return sorted(cleaned)


def _requirements_file(path: Path, root: Path, seen: set[Path]) -> list[str]:
    path = path.resolve()
    if path in seen or not path.is_file() or not path.is_relative_to(root.resolve()):
        return []
    seen.add(path)
    out: list[str] = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        line = re.sub(r"\s--hash[= ]\S+", "", line).strip()
        if not line:
            continue
        include = re.match(r"^(-r|--requirement)[=\s]+(\S+)$", line)
        if include:
            out += _requirements_file(path.parent / include.group(2), root, seen)
            continue
        if line.startswith("-") or line.startswith((".", "/")) or "://" in line and "@" not in line:
            continue  # options (-e, -c, --index-url, ...) and local paths
        out.append(line)
    return out


def _req_name(req: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    return match.group(1) if match else req


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_key(base_id: str, python: str, requirements: list[str]) -> str:
    """Hash of what goes into the environment image; the tag carries it."""
    digest = hashlib.sha256()
    for part in (ENV_RECIPE_VERSION, base_id, python, *requirements):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def image_python(client: Any, image: str) -> str:
    """``major.minor`` of the image's python3 (from its label, else by running it, network off)."""
    found = _image_exists(client, image)
    if found is None:
        raise ImageError(f"unknown image {image!r}")
    label = (found.labels or {}).get("org.healcrew.python")
    if label:
        return str(label)
    import docker.errors

    try:
        out = client.containers.run(
            image, ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            network_mode="none", remove=True, stdout=True, stderr=False,
        )
    except docker.errors.DockerException as exc:
        raise ImageError(f"image {image!r} has no working python3: {exc}") from exc
    return bytes(out).decode().strip()


def build_wheelhouse(requirements: list[str], dest: Path, python: str, log: Log = _quiet) -> Path:
    """Wheels for ``requirements`` in ``dest``, fetched by the host's pip with its own config."""
    marker = dest / ".complete"
    if marker.is_file():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    req_file = dest / "requirements.txt"
    req_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    if python == host_python():
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest), "-r", str(req_file)]
    else:  # another interpreter in the image: only ready-made wheels for it will do
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(dest), "--only-binary=:all:",
               "--python-version", python, "--implementation", "cp",
               "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64", "-r", str(req_file)]
    log(f"building the wheelhouse on the host: {len(requirements)} requirement(s)")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        detail = next((ln for ln in lines if "ERROR" in ln), lines[-1] if lines else "no details")
        raise ImageError(f"the host's pip could not fetch the repo's dependencies: {detail.strip()}")
    marker.write_text("ok\n", encoding="utf-8")
    return dest


_DOCKERFILE = """\
FROM {base}
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/python -m pip install --no-index --find-links /tmp/wheels --no-cache-dir \\
      --disable-pip-version-check --quiet -r /tmp/wheels/requirements.txt \\
 && rm -rf /tmp/wheels && chmod -R a+rX /opt/venv
ENV PATH=/opt/venv/bin:{path} VIRTUAL_ENV=/opt/venv PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8
LABEL {label}=env org.healcrew.python={python} org.healcrew.base={base}
"""


def ensure_env_image(
    client: Any, base: str, repo_root: Path, cache_dir: Path, log: Log = _quiet, timeout: float = 1800.0
) -> ImageInfo:
    """The environment image for the repo at ``repo_root``, built only when its dependencies changed."""
    with _ENV_BUILDS:  # threads preparing the same repo build its image once
        return _ensure_env_image(client, base, repo_root, cache_dir, log, timeout)


def _ensure_env_image(client: Any, base: str, repo_root: Path, cache_dir: Path, log: Log, timeout: float) -> ImageInfo:
    start = time.monotonic()
    base_image = _image_exists(client, base)
    if base_image is None:
        raise ImageError(f"unknown image {base!r}")
    python = image_python(client, base)
    requirements = collect_requirements(repo_root)
    key = env_key(base_image.id, python, requirements)
    tag = f"{ENV_REPO}:{key}"
    if _image_exists(client, tag) is not None:
        return ImageInfo(tag, True, "cached", 0.0, python)
    wheelhouse = build_wheelhouse(requirements, cache_dir / "wheelhouse" / key, python, log)
    context = Path(tempfile.mkdtemp(prefix="healcrew-env-", dir=_tmp_parent(cache_dir)))
    try:
        shutil.copytree(wheelhouse, context / "wheels", ignore=shutil.ignore_patterns(".complete"))
        (context / "Dockerfile").write_text(
            _DOCKERFILE.format(base=base, path=_PATH, label=LABEL, python=python), encoding="utf-8"
        )
        log(f"building environment image {tag}")
        _docker_build(client, context, tag, timeout)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return ImageInfo(tag, False, "built", time.monotonic() - start, python)


def _docker_build(client: Any, context: Path, tag: str, timeout: float) -> None:
    import docker.errors

    last: list[str] = []
    try:
        for chunk in client.api.build(path=str(context), tag=tag, network_mode="host", rm=True, forcerm=True,
                                      decode=True, pull=False, timeout=int(timeout)):
            if "error" in chunk:
                raise ImageError(f"environment image build failed: {str(chunk['error']).strip()} "
                                 f"({' | '.join(last[-2:])})")
            text = str(chunk.get("stream", "")).strip()
            if text:
                last.append(text)
    except docker.errors.DockerException as exc:
        raise ImageError(f"environment image build failed: {exc}") from exc
