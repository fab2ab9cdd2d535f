"""Images the docker backend runs in: a Python base image and, per repo, an environment image.

Base image: ``python:3.X-slim`` when a registry answers within a short timeout; otherwise one is
built here from Debian packages (``debootstrap`` of a minimal bookworm with python3, then
``docker import``), from the mirror the host's apt already uses.

Environment image: the base plus a venv at ``/opt/venv`` holding the repo's dependencies and
pytest, tagged with a hash of those dependencies so it is rebuilt only when they change. The
repo's spec files are read without following links and every line is vetted
(``sandbox.requirements``); the wheels are gathered by ``sandbox.wheels`` (ready-made ones
downloaded on the host, the rest built in a locked-down container: nothing the repo controls runs
on the host), then installed in the image with ``--no-index`` by a build that has no network.
"""

from __future__ import annotations

import email.parser
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
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from sandbox.errors import ImageError
from sandbox.pythons import marker_environment
from sandbox.requirements import (
    MAX_SPEC_BYTES,
    Refusal,
    parse_ini,
    read_requirements_file,
    read_setup_py,
    read_spec_text,
    requirement_files,
    tox_deps,
    vet_requirement,
)
from sandbox.wheels import Target, build_in_container, build_wheelhouse, download_wheels, image_target

BASE_REPO = "healcrew/python-base"
SUITES: dict[str, str] = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}
"""The Debian release whose python3 is each Python a base image can be built for (debootstrap)."""
DEFAULT_PYTHON = "3.11"
SUITE = SUITES[DEFAULT_PYTHON]
BUILT_BASE_TAG = f"{BASE_REPO}:{SUITE}"
ENV_REPO = "healcrew/env"
DEBIAN_PACKAGES = ["python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates"]
LABEL = "org.healcrew.sandbox"
ENV_RECIPE_VERSION = "1"  # bump when the environment Dockerfile changes meaningfully
_EXTRAS = ("test", "tests", "testing", "dev")
_ENV_BUILDS = threading.Lock()
_BASE_BUILDS = threading.Lock()
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
    refused: tuple[Refusal, ...] = ()
    """Dependency lines and spec files of the repo that were not fetched or read, with reasons."""


def host_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def pulled_base_tag(python: str | None = None) -> str:
    return f"{BASE_REPO}:{python or host_python()}-slim"


def built_base_tag(python: str) -> str:
    """The tag of the debootstrap-built base image whose python3 is ``python`` (``X.Y``)."""
    suite = SUITES.get(python)
    if suite is None:
        raise ImageError(f"no Debian release here ships Python {python}; choose one of {', '.join(SUITES)}")
    return f"{BASE_REPO}:{suite}"


def _image_exists(client: Any, ref: str) -> Any | None:
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        raise ImageError(f"cannot inspect image {ref}: {exc.explanation or exc}") from exc


def find_base_image(client: Any, python: str | None = None) -> str | None:
    """A healcrew base image already on this engine (for ``python`` when given), if any; no network, no build."""
    refs = [pulled_base_tag(python)] if python else [pulled_base_tag(), BUILT_BASE_TAG]
    if python in SUITES:
        refs.append(built_base_tag(python))
    for ref in refs:
        if _image_exists(client, ref) is not None:
            return ref
    return None


def base_pythons(client: Any) -> list[str]:
    """Every Python a base image can be had for: those built from a Debian release, and pulled ones already here."""
    found = set(SUITES)
    try:
        images = client.images.list(name=BASE_REPO)
    except Exception:  # listing is a convenience; the Debian releases are always buildable
        images = []
    for image in images:
        for tag in image.tags or []:
            match = re.fullmatch(re.escape(BASE_REPO) + r":(3\.\d+)-slim", tag)
            if match:
                found.add(match.group(1))
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


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
    log: Log = _quiet, python: str | None = None,
) -> ImageInfo:
    """The base image to build environments on; pulled or built once (only when first needed), then reused.

    With ``image`` given it must exist locally or be pullable, else ``ImageError``. With ``python``
    (``X.Y``) the image holds that Python: ``python:X.Y-slim`` when a registry answers, else the
    Debian release that ships it (``SUITES``), built with debootstrap.
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
    if python is not None and not re.fullmatch(r"3\.\d{1,2}", python):
        raise ImageError(f"python must be a version such as 3.11, not {python!r}")
    with _BASE_BUILDS:  # threads needing the same base image build it once
        found = find_base_image(client, python)
        if found:
            return ImageInfo(found, True, "cached", 0.0, python or "")
        py = python or host_python()
        log(f"trying to pull python:{py}-slim (timeout {pull_timeout:.0f}s)")
        pulled = try_pull(client, "python", f"{py}-slim", pull_timeout)
        if pulled is not None:
            pulled.tag(BASE_REPO, f"{py}-slim")
            return ImageInfo(pulled_base_tag(py), False, "pulled", time.monotonic() - start, py)
        wanted = python or DEFAULT_PYTHON
        tag = built_base_tag(wanted)
        log(f"no registry answered; building {tag} from Debian packages (debootstrap of {SUITES[wanted]})")
        build_base_with_debootstrap(client, cache_dir, log, tag=tag, suite=SUITES[wanted])
        return ImageInfo(tag, False, "debootstrap", time.monotonic() - start, wanted)


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
    client: Any, cache_dir: Path | None = None, log: Log = _quiet, tag: str = BUILT_BASE_TAG, suite: str = SUITE
) -> str:
    """debootstrap a minimal Debian ``suite`` with python3 into a temp dir and ``docker import`` it as ``tag``."""
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
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}", suite, str(rootfs), mirror]
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
                   f"LABEL {LABEL}=base org.healcrew.python={py} org.healcrew.debian={suite}"]
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


def collect_requirements(root: Path, refused: list[Refusal] | None = None) -> list[str]:
    """The repo's dependencies (requirement and test requirement files, pyproject.toml, setup.cfg,
    setup.py read as a syntax tree, tox.ini deps) plus pytest.

    Every file is read without following links (``sandbox.requirements``) and every line is
    vetted: pip options, URLs, VCS specs and local paths are left out and recorded in
    ``refused`` with a reason. The project's own code is copied into each run, and packages come
    from the wheelhouse.
    """
    refused = [] if refused is None else refused
    reqs: list[str] = []
    own_names: set[str] = set()
    files = requirement_files(root, refused)
    seen: set[str] = set()
    for path in files:
        reqs += read_requirements_file(root, path, refused, seen)
    pyproject = read_spec_text(root, "pyproject.toml", refused)
    if pyproject is not None:
        try:
            data = tomllib.loads(pyproject)
        except tomllib.TOMLDecodeError as exc:
            raise ImageError(f"pyproject.toml cannot be read: {exc}") from None
        project = data.get("project", {})
        if isinstance(project.get("name"), str):
            own_names.add(_canon(project["name"]))
        listed = [("dependencies", r) for r in project.get("dependencies", []) if isinstance(r, str)]
        optional = project.get("optional-dependencies", {})
        groups = data.get("dependency-groups", {})
        for extra in _EXTRAS:
            listed += [(extra, r) for r in optional.get(extra, []) if isinstance(r, str)]
            listed += [(extra, r) for r in groups.get(extra, []) if isinstance(r, str)]
        reqs += [r for key, line in listed if (r := vet_requirement(line, f"pyproject.toml:{key}", refused))]
    setup_cfg = read_spec_text(root, "setup.cfg", refused)
    if setup_cfg is not None:
        parser = parse_ini(setup_cfg, "setup.cfg", strict=True)
        if parser.has_option("metadata", "name"):
            own_names.add(_canon(parser.get("metadata", "name")))
        lines: list[tuple[str, str]] = []
        if parser.has_option("options", "install_requires"):
            lines += [("install_requires", ln) for ln in parser.get("options", "install_requires").splitlines()]
        for extra in _EXTRAS:
            if parser.has_option("options.extras_require", extra):
                lines += [(extra, ln) for ln in parser.get("options.extras_require", extra).splitlines()]
        reqs += [r for key, line in lines
                 if (r := vet_requirement(re.sub(r"(^|\s)#.*$", "", line), f"setup.cfg:{key}", refused))]
    setup_py = read_setup_py(root, refused)
    if setup_py is not None:
        if setup_py.name:
            own_names.add(_canon(setup_py.name))
        listed = [("install_requires", r) for r in setup_py.install_requires]
        listed += [("tests_require", r) for r in setup_py.tests_require]
        for extra in _EXTRAS:
            listed += [(f"extras_require[{extra}]", r) for r in setup_py.extras_require.get(extra, [])]
        reqs += [r for key, line in listed if (r := vet_requirement(line, f"setup.py:{key}", refused))]
    tox = read_spec_text(root, "tox.ini", refused)
    if tox is not None:
        for source, line in tox_deps(tox, refused):
            include = re.match(r"^(-r|--requirement)(?:\s*=\s*|\s*)(\S+)$", line)
            if include:
                reqs += read_requirements_file(root, include.group(2), refused, seen)
            else:
                reqs += [r for r in [vet_requirement(line, source, refused, pip_file=True)] if r]
    cleaned = {r.strip() for r in reqs if r.strip() and not r.strip().startswith("#")}
    cleaned = {r for r in cleaned if _canon(_req_name(r)) not in own_names}
    if not any(_canon(_req_name(r)) == "pytest" for r in cleaned):
        cleaned.add("pytest")
    cleaned |= set() if any(_canon(_req_name(r)) == "pytest-timeout" for r in cleaned) else {"pytest-timeout"}
    return sorted(cleaned)


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


_DOCKERFILE = """\
FROM {base}
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/python -m pip install --no-index --only-binary=:all: --find-links /tmp/wheels \\
      --no-cache-dir --disable-pip-version-check --quiet -r /tmp/wheels/requirements.txt \\
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
    refused: list[Refusal] = []
    requirements = collect_requirements(repo_root, refused)
    for refusal in refused:
        log(refusal.note())
    key = env_key(base_image.id, python, requirements)
    tag = f"{ENV_REPO}:{key}"
    if _image_exists(client, tag) is not None:
        return ImageInfo(tag, True, "cached", 0.0, python, tuple(refused))
    target = image_target(client, base)
    wheelhouse = build_wheelhouse(client, base, requirements, cache_dir / "wheelhouse" / key, target, log)
    complete_wheelhouse(client, base, requirements, wheelhouse, target, log)
    context = Path(tempfile.mkdtemp(prefix="healcrew-env-", dir=_tmp_parent(cache_dir)))
    try:
        shutil.copytree(wheelhouse, context / "wheels", ignore=shutil.ignore_patterns(".complete"), symlinks=True)
        (context / "Dockerfile").write_text(
            _DOCKERFILE.format(base=base, path=_PATH, label=LABEL, python=python), encoding="utf-8"
        )
        log(f"building environment image {tag} (no network: everything comes from the wheelhouse)")
        _docker_build(client, context, tag, timeout)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return ImageInfo(tag, False, "built", time.monotonic() - start, python, tuple(refused))


def complete_wheelhouse(client: Any, base: str, requirements: list[str], wheelhouse: Path, target: Target,
                        log: Log = _quiet, rounds: int = 10) -> list[str]:
    """Fetch the dependencies the image's Python needs that the host's pip skipped; returns those added.

    The host's pip evaluates environment markers for its own interpreter, so for another Python
    (``tomli; python_version < "3.11"`` on a 3.9 image) some wheels are missing. The wheels'
    own metadata is read (as zip files, nothing run), each ``Requires-Dist`` is evaluated for
    the target and what is absent is fetched the same way: ready-made wheels on the host, the
    rest built in a container.
    """
    env = marker_environment(target.python, target.machine)
    added: list[str] = []
    for _ in range(rounds):
        missing = _missing_for_target(requirements, wheelhouse, env)
        missing = [r for r in missing if r not in added]
        if not missing:
            break
        log(f"fetching {len(missing)} dependency(ies) Python {target.python} needs: {', '.join(missing)}")
        unbuilt = download_wheels(missing, wheelhouse, target, log)
        if unbuilt:
            build_in_container(client, base, unbuilt, wheelhouse, find_links=wheelhouse, log=log)
        added += missing
    return added


def _missing_for_target(requirements: list[str], wheelhouse: Path, env: dict[str, str]) -> list[str]:
    """Requirements (with their markers true for ``env``) that no wheel in ``wheelhouse`` provides."""
    have: dict[str, list[str]] = {}
    for wheel in sorted(wheelhouse.glob("*.whl")):
        try:
            have[canonicalize_name(parse_wheel_filename(wheel.name)[0])] = _requires_dist(wheel)
        except InvalidWheelFilename:
            continue
    wanted: list[Requirement] = []
    for line in requirements:
        try:
            wanted.append(Requirement(line))
        except InvalidRequirement:
            continue
    extras: dict[str, set[str]] = {}
    for req in wanted:
        extras.setdefault(canonicalize_name(req.name), set()).update(req.extras)
    for provider, lines in have.items():
        for line in lines:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if _marker_true(req, env, extras.get(provider, set())):
                wanted.append(req)
                extras.setdefault(canonicalize_name(req.name), set()).update(req.extras)
    out: list[str] = []
    for req in wanted:
        if canonicalize_name(req.name) in have or (req.marker is not None and not _marker_true(req, env, set())):
            continue
        text = f"{req.name}{req.specifier}"
        if text not in out:
            out.append(text)
    return out


def _marker_true(req: Requirement, env: dict[str, str], extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**env, "extra": extra}) for extra in (extras or {""}) | {""})


def _requires_dist(wheel: Path) -> list[str]:
    """``Requires-Dist`` lines of a wheel's METADATA, read from the zip (no code of it runs)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            name = next((n for n in archive.namelist()
                         if n.count("/") == 1 and n.endswith(".dist-info/METADATA")), None)
            if name is None or archive.getinfo(name).file_size > MAX_SPEC_BYTES:
                return []
            text = archive.read(name).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile):
        return []
    return [str(v) for v in email.parser.Parser().parsestr(text, headersonly=True).get_all("Requires-Dist") or []]


def _docker_build(client: Any, context: Path, tag: str, timeout: float) -> None:
    """``docker build`` with no network: installing wheels with ``--no-index`` needs none."""
    import docker.errors

    last: list[str] = []
    try:
        for chunk in client.api.build(path=str(context), tag=tag, network_mode="none", rm=True, forcerm=True,
                                      decode=True, pull=False, timeout=int(timeout)):
            if "error" in chunk:
                raise ImageError(f"environment image build failed: {str(chunk['error']).strip()} "
                                 f"({' | '.join(last[-2:])})")
            text = str(chunk.get("stream", "")).strip()
            if text:
                last.append(text)
    except docker.errors.DockerException as exc:
        raise ImageError(f"environment image build failed: {exc}") from exc
