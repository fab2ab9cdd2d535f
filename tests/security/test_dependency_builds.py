"""Attack: a repository's dependency specs make the host build and run its code, or read host files.

Before the fix the host's ``pip wheel -r <repo requirements>`` ran a ``name @ file://`` or path
requirement's ``setup.py`` on the host as root, a ``setup.cfg`` symlinked to a host file was read
and its first line printed, and the environment image was built with the host network. Now the
host only downloads ready-made wheels, everything else is built in a locked-down container, spec
files are opened without following links, and refused lines come back with a reason.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import tarfile
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import SandboxConfig, prepare
from sandbox.errors import ImageError
from sandbox.images import _docker_build, collect_requirements, ensure_env_image
from sandbox.requirements import Refusal
from sandbox.wheels import PipSetup, build_in_container, copy_wheels_out, host_pip_setup

SETUP_PY = """\
import os
from setuptools import setup

try:
    with open({marker!r}, "w") as fh:
        fh.write("setup.py ran as uid %d" % os.getuid())
except OSError:
    pass
with open("probe_built.py", "w") as fh:
    fh.write("UID = %d\\n" % os.getuid())
setup(name={name!r}, version="1.0", py_modules=["probe_built"])
"""


def make_sdist(folder: Path, name: str, marker: Path) -> Path:
    """An sdist whose setup.py writes ``marker`` when it runs (made with tarfile: nothing runs here)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-1.0"
    archive = folder / f"{stem}.tar.gz"
    files = {
        "setup.py": SETUP_PY.format(marker=str(marker), name=name),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
    }
    with tarfile.open(archive, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}/{rel}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    archive.chmod(0o644)
    folder.chmod(0o755)
    return archive


def repo_reqs(reqs: list[str]) -> list[str]:
    """The requirements that came from the repo (healcrew adds pytest and its own plugins)."""
    return [r for r in reqs if not r.startswith(("pytest", "pytest-timeout"))]


def reasons(refused: list[Refusal]) -> dict[str, str]:
    return {r.line: r.reason for r in refused}


# --- vetting (no Docker needed) -------------------------------------------------------------------


def test_option_lines_urls_vcs_and_paths_are_refused_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "requests>=2\n"
        "--extra-index-url http://127.0.0.1:1/\n"
        "-i http://127.0.0.1:1/simple\n"
        "--find-links=http://127.0.0.1:1/links\n"
        "--trusted-host 127.0.0.1\n"
        "-e git+https://127.0.0.1:1/x.git#egg=x\n"
        "-c constraints.txt\n"
        "evil @ file:///tmp/evil-1.0.tar.gz\n"
        "remote @ https://127.0.0.1:1/remote-1.0.tar.gz\n"
        "git+https://127.0.0.1:1/vcs.git\n"
        "vendor/local-1.0.tar.gz\n"
        "./vendor/other\n"
        "../outside\n"
        "leak==${AWS_SECRET_ACCESS_KEY}\n"
        "flagged --global-option=--build-cmd\n"
    )
    refused: list[Refusal] = []
    assert repo_reqs(collect_requirements(tmp_path, refused)) == ["requests>=2"]
    why = reasons(refused)
    assert "only the operator's index" in why["--extra-index-url http://127.0.0.1:1/"]
    assert "only the operator's index" in why["-i http://127.0.0.1:1/simple"]
    assert "only the operator's index" in why["--find-links=http://127.0.0.1:1/links"]
    assert "only the operator's index" in why["--trusted-host 127.0.0.1"]
    assert "editable" in why["-e git+https://127.0.0.1:1/x.git#egg=x"]
    assert "constraint" in why["-c constraints.txt"]
    assert "local path" in why["evil @ file:///tmp/evil-1.0.tar.gz"]
    assert "direct URL" in why["remote @ https://127.0.0.1:1/remote-1.0.tar.gz"]
    assert "VCS" in why["git+https://127.0.0.1:1/vcs.git"]
    for path in ("vendor/local-1.0.tar.gz", "./vendor/other", "../outside"):
        assert "local path" in why[path], path
    assert "environment variable" in why["leak==${AWS_SECRET_ACCESS_KEY}"]
    assert "pip options" in why["flagged --global-option=--build-cmd"]
    assert all(r.source.startswith("requirements.txt:") for r in refused)


def test_direct_references_in_pyproject_and_setup_cfg_are_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "svc"\ndependencies = ["evil @ file:///tmp/evil.tar.gz", "click"]\n'
    )
    (tmp_path / "setup.cfg").write_text("[options]\ninstall_requires =\n    other @ https://127.0.0.1:1/o.zip\n")
    refused: list[Refusal] = []
    assert repo_reqs(collect_requirements(tmp_path, refused)) == ["click"]
    assert {r.source for r in refused} == {"pyproject.toml:dependencies", "setup.cfg:install_requires"}


# --- symlinked spec files (no Docker needed) -----------------------------------------------------------


@pytest.fixture
def host_secret(tmp_path: Path) -> Path:
    """A file outside the repository standing for /etc/shadow."""
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_text("root:$y$SECRETHASH-do-not-print:19000:0:99999:7:::\n")
    return secret


def test_setup_cfg_symlinked_to_a_host_file_is_not_read_or_printed(tmp_path: Path, host_secret: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "setup.cfg").symlink_to(host_secret)
    refused: list[Refusal] = []
    try:
        reqs = collect_requirements(repo, refused)
    except ImageError as exc:  # before the fix: configparser quoted the host file's first line
        pytest.fail(f"a linked setup.cfg was read: {exc}")
    assert repo_reqs(reqs) == []
    assert [(r.source, "symbolic link" in r.reason) for r in refused] == [("setup.cfg", True)]
    assert "SECRETHASH" not in repr(refused)


def test_linked_pyproject_requirements_and_includes_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["host-secret-token-abc"]\n')
    (outside / "reqs.txt").write_text("host-secret-from-include\n")
    repo = tmp_path / "repo"
    (repo / "requirements").mkdir(parents=True)
    (repo / "pyproject.toml").symlink_to(outside / "pyproject.toml")
    (repo / "requirements-dev.txt").symlink_to(outside / "reqs.txt")
    (repo / "requirements" / "base.txt").write_text("-r ../../outside/reqs.txt\n-r inner.txt\n")
    (repo / "requirements" / "inner.txt").symlink_to(outside / "reqs.txt")
    refused: list[Refusal] = []
    reqs = collect_requirements(repo, refused)
    assert repo_reqs(reqs) == []
    sources = {r.source: r.reason for r in refused}
    assert "symbolic link" in sources["pyproject.toml"]
    assert "symbolic link" in sources["requirements-dev.txt"]
    assert "symbolic link" in sources["requirements/inner.txt"]
    assert "outside the repository" in sources["requirements/base.txt:1"]


def test_a_linked_requirements_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "prod.txt").write_text("host-secret-name\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements").symlink_to(outside)
    refused: list[Refusal] = []
    assert repo_reqs(collect_requirements(repo, refused)) == []
    assert [r.source for r in refused] == ["requirements/"]


# --- real Docker ---------------------------------------------------------------------------------------


@pytest.fixture
def marker() -> Iterator[Path]:
    """A host path that repo code would create if it ever ran on the host."""
    path = Path("/tmp") / f"healcrew-host-marker-{uuid.uuid4().hex}"
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.docker
def test_file_url_sdist_in_requirements_never_runs_on_the_host(
    tmp_path: Path, marker: Path, base_image: str, docker_client: Any
) -> None:
    sdist = make_sdist(tmp_path / "dist", "evil", marker)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text(f"evil @ file://{sdist}\nvendor/evil-1.0.tar.gz\n")
    (repo / "vendor").mkdir()
    (repo / "vendor" / "evil-1.0.tar.gz").write_bytes(sdist.read_bytes())
    info = ensure_env_image(docker_client, base_image, repo, tmp_path / "cache")
    assert not marker.exists(), marker.read_text()
    why = reasons(list(info.refused))
    assert "local path" in why[f"evil @ file://{sdist}"]
    assert "local path" in why["vendor/evil-1.0.tar.gz"]


@pytest.mark.docker
def test_a_patch_adding_a_requirements_file_goes_through_the_same_vetting(
    tmp_path: Path, marker: Path, base_image: str, run_label: str
) -> None:
    sdist = make_sdist(tmp_path / "dist", "evil", marker)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("X = 1\n")
    patch = ("diff --git a/requirements.txt b/requirements.txt\nnew file mode 100644\n--- /dev/null\n"
             f"+++ b/requirements.txt\n@@ -0,0 +1,2 @@\n+evil @ file://{sdist}\n+--extra-index-url http://127.0.0.1:1/\n")
    cfg = SandboxConfig(backend="docker", memory_mb=256, timeout=60, cache_dir=tmp_path / "cache",
                        labels={"org.healcrew.test": run_label})
    with prepare(repo, patch=patch, config=cfg) as box:
        assert (box.path / "requirements.txt").is_file()
        refused = box.refused
        result = box.run(["python", "-c", "import importlib.util; print(importlib.util.find_spec('evil'))"])
    assert not marker.exists()
    assert result.stdout.strip() == "None"
    assert {r.line for r in refused} == {f"evil @ file://{sdist}", "--extra-index-url http://127.0.0.1:1/"}


@pytest.mark.docker
def test_sdist_is_built_in_the_container_as_nobody_not_on_the_host(
    tmp_path: Path, marker: Path, base_image: str, docker_client: Any, run_label: str
) -> None:
    sdist = make_sdist(tmp_path / "dist", "probe-sdist", marker)
    dest = tmp_path / "wheelhouse"
    offline = PipSetup(config_text="", env={"PIP_NO_INDEX": "1"})  # everything it needs is in /in
    built = build_in_container(docker_client, base_image, [f"/in/{sdist.name}"], dest, inputs=[sdist],
                               pip=offline, timeout=300, labels={"org.healcrew.test": run_label})
    assert not marker.exists(), marker.read_text()
    [wheel] = built
    assert wheel.startswith("probe_sdist-1.0-") and wheel.endswith(".whl")
    with zipfile.ZipFile(dest / wheel) as zf:
        assert zf.read("probe_built.py").decode().strip() == "UID = 65534"
    leftovers = docker_client.api.containers(all=True, filters={"label": "org.healcrew.sandbox=wheel-build"})
    assert [c for c in leftovers if c["Labels"].get("org.healcrew.test") == run_label] == []


@pytest.mark.docker
def test_sdist_only_dependency_from_the_operators_index_ends_in_the_env_image(
    tmp_path: Path, marker: Path, base_image: str, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"healcrew-probe-{uuid.uuid4().hex[:8]}"
    links = tmp_path / "operator-links"
    make_sdist(links, name, marker)
    monkeypatch.setenv("PIP_FIND_LINKS", f"{links} {os.environ.get('PIP_FIND_LINKS', '')}".strip())
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text(f"{name}==1.0\n")
    info = ensure_env_image(docker_client, base_image, repo, tmp_path / "cache")
    assert not marker.exists(), marker.read_text()
    assert info.refused == ()
    out = docker_client.containers.run(info.tag, ["python", "-c", "import probe_built; print(probe_built.UID)"],
                                       network_mode="none", remove=True, user="65534:65534")
    assert out.decode().strip() == "65534"


@pytest.mark.docker
def test_environment_image_build_has_no_network(tmp_path: Path, base_image: str, docker_client: Any) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        for _ in range(150):
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(True)
            conn.close()

    watcher = threading.Thread(target=accept, daemon=True)
    watcher.start()
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f"RUN python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 3)\" "
        "&& echo reached > /network || echo blocked > /network\n"
    )
    tag = f"healcrew/test-netcheck:{uuid.uuid4().hex[:8]}"
    try:
        _docker_build(docker_client, tmp_path, tag, 120)
        out = docker_client.containers.run(tag, ["cat", "/network"], network_mode="none", remove=True)
    finally:
        server.close()
        watcher.join(5)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False, timeout=60)
    assert out.decode().strip() == "blocked"
    assert accepted == []


@pytest.mark.docker
def test_env_image_build_asks_the_engine_for_no_network(
    tmp_path: Path, base_image: str, docker_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    # a marker that always holds but is new each time, so the image is really built
    (repo / "requirements.txt").write_text(f"iniconfig; platform_release != '{uuid.uuid4().hex}'\n")
    seen: list[object] = []
    real_build = docker_client.api.build

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("network_mode"))
        return real_build(*args, **kwargs)

    monkeypatch.setattr(docker_client.api, "build", spy)
    cache = tmp_path / "cache"
    ensure_env_image(docker_client, base_image, repo, cache)
    assert seen and set(seen) == {"none"}


def test_wheels_are_copied_out_of_the_build_folder_without_following_links(tmp_path: Path, host_secret: Path) -> None:
    outbox, dest = tmp_path / "out", tmp_path / "dest"
    outbox.mkdir()
    (outbox / "good-1.0-py3-none-any.whl").write_bytes(b"PK wheel")
    (outbox / "evil-1.0-py3-none-any.whl").symlink_to(host_secret)
    os.mkfifo(outbox / "fifo-1.0-py3-none-any.whl")
    (outbox / "notes.txt").write_text("not a wheel")
    assert copy_wheels_out(outbox, dest) == ["good-1.0-py3-none-any.whl"]
    assert sorted(p.name for p in dest.iterdir()) == ["good-1.0-py3-none-any.whl"]


def test_build_container_gets_the_hosts_pip_settings_and_only_their_files(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    links = tmp_path / "links"
    links.mkdir()
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PIP_CONFIG_FILE": os.devnull,
               "PIP_CERT": str(ca), "PIP_FIND_LINKS": f"{links} {tmp_path / 'missing'}",
               "PIP_INDEX_URL": "https://index.invalid/simple", "AWS_SECRET_ACCESS_KEY": "x"}
    setup = host_pip_setup(environ)
    assert setup.env == {"PIP_CERT": str(ca), "PIP_FIND_LINKS": f"{links} {tmp_path / 'missing'}",
                         "PIP_INDEX_URL": "https://index.invalid/simple"}
    assert setup.mounts == {str(ca): str(ca), str(links): str(links)}


@pytest.mark.docker
def test_refused_dependency_lines_reach_the_run_report_as_policy_decisions(
    tmp_path: Path, marker: Path, base_image: str
) -> None:
    from crew.repo import GitRepo
    from crew.sandbox_runner import SandboxRunner

    sdist = make_sdist(tmp_path / "dist", "evil", marker)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("X = 1\n")
    (repo / "requirements.txt").write_text(f"evil @ file://{sdist}\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "first"]):
        subprocess.run([*git, *cmd], cwd=repo, check=True, capture_output=True, timeout=30)
    runner = SandboxRunner(GitRepo(repo), "docker", memory_mb=256)
    first = runner.run(["python", "-c", "print('ok')"], None, {}, timeout=60)
    runner.run(["python", "-c", "print('again')"], None, {}, timeout=60)
    assert first.exit_code == 0 and first.stdout.strip() == "ok"
    assert not marker.exists()
    [note] = runner.policy_decisions  # once, however many runs
    assert note.startswith("dependency refused: requirements.txt:1: evil @ file://") and "local path" in note


def _hanging_sdist(tmp_path: Path) -> Path:
    """An sdist whose setup.py never returns: a build that only a timeout ends."""
    folder = tmp_path / "dist"
    folder.mkdir()
    archive = folder / "hang-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"import time\ntime.sleep(3600)\n"
        info = tarfile.TarInfo("hang-1.0/setup.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.mark.docker
def test_a_build_that_never_ends_is_killed_at_its_timeout(tmp_path: Path, base_image: str, docker_client: Any,
                                                           run_label: str) -> None:
    import time

    archive = _hanging_sdist(tmp_path)
    started = time.monotonic()
    with pytest.raises(ImageError, match="longer than"):
        build_in_container(docker_client, base_image, [f"/in/{archive.name}"], tmp_path / "dest", inputs=[archive],
                           pip=PipSetup(config_text="", env={"PIP_NO_INDEX": "1"}), timeout=5,
                           labels={"org.healcrew.test": run_label})
    assert time.monotonic() - started < 60
    left = docker_client.api.containers(all=True, filters={"label": f"org.healcrew.test={run_label}"})
    assert left == []


@pytest.mark.docker
def test_a_build_container_carries_its_owner_and_deadline_for_the_sweep(tmp_path: Path, base_image: str,
                                                                        docker_client: Any, run_label: str) -> None:
    """A healcrew killed with -9 mid-build leaves a container the next start-up sweep recognises."""
    import time

    from sandbox.sweep import DEADLINE, OWNER_PID, _container_is_orphan

    archive = _hanging_sdist(tmp_path)
    started = time.time()

    def build() -> None:
        with pytest.raises(ImageError):
            build_in_container(docker_client, base_image, [f"/in/{archive.name}"], tmp_path / "dest",
                               inputs=[archive], pip=PipSetup(config_text="", env={"PIP_NO_INDEX": "1"}), timeout=8,
                               labels={"org.healcrew.test": run_label})

    worker = threading.Thread(target=build)
    worker.start()
    try:
        seen: list[dict[str, Any]] = []
        while not seen and worker.is_alive() and time.time() - started < 30:
            seen = docker_client.api.containers(all=True, filters={"label": f"org.healcrew.test={run_label}"})
            time.sleep(0.2)
        assert seen, "the build container was never seen"
        labels = seen[0]["Labels"]
        assert labels[OWNER_PID] == str(os.getpid())
        deadline = float(labels[DEADLINE])
        assert started < deadline < started + 8 + 30
        assert not _container_is_orphan(labels, started, now=time.time())  # its owner is alive, before its deadline
        assert _container_is_orphan(labels, started, now=deadline + 1)
    finally:
        worker.join(60)
