"""The healcrew image: deploy/build-image.sh builds it with no network in the build, and it runs.

The script is idempotent (the wheelhouse is reused while pyproject.toml is unchanged and Docker's
layer cache holds the dependencies), so after bootstrap has built the image this test's build
takes seconds; it builds from the current checkout either way, so what is checked is this code.
Containers run with no network, as the Deployment would run them: read-only root filesystem, all
capabilities dropped, only /tmp and the state folder writable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = "healcrew/healcrew"
BASE = "healcrew/python-base:bookworm"
LOCKED = ["--network", "none", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
          "--tmpfs", "/tmp", "--tmpfs", "/var/lib/healcrew:uid=10001,gid=10001"]

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def image(docker_client: Any) -> str:
    import docker.errors

    try:
        docker_client.images.get(BASE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"no base image {BASE}: `healcrew sandbox build-image` (scripts/bootstrap.sh) builds it")
    proc = subprocess.run(["bash", str(ROOT / "deploy" / "build-image.sh")], cwd=ROOT, capture_output=True,
                          text=True, timeout=1800, env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{IMAGE}:{VERSION} and :latest built in" in proc.stdout, proc.stdout
    return f"{IMAGE}:latest"


def _run(image: str, *args: str, entrypoint: str | None = None, timeout: float = 120) -> str:
    cmd = ["docker", "run", "--rm", *LOCKED, *(["--entrypoint", entrypoint] if entrypoint else []), image, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc.stdout


def test_both_tags_name_one_image_labelled_with_the_version(docker_client: Any, image: str) -> None:
    latest, tagged = docker_client.images.get(image), docker_client.images.get(f"{IMAGE}:{VERSION}")
    assert latest.id == tagged.id
    config = latest.attrs["Config"]
    assert config["Labels"]["org.opencontainers.image.version"] == VERSION
    assert config["Entrypoint"] == ["healcrew"] and config["Cmd"][:3] == ["serve", "--host", "0.0.0.0"]
    # Nothing secret baked in: no token-like variable in the image's environment.
    assert not [e for e in config["Env"] if any(w in e.split("=")[0] for w in ("TOKEN", "KEY", "SECRET"))]


def test_the_user_is_not_root(docker_client: Any, image: str) -> None:
    user = docker_client.images.get(image).attrs["Config"]["User"]
    assert user and user.split(":")[0] not in ("", "0", "root")
    assert _run(image, "-c", "id -u; id -g", entrypoint="sh").split() == ["10001", "10001"]


def test_version_and_serve_help_show_the_executor(image: str) -> None:
    assert _run(image, "--version").strip() == f"healcrew {VERSION}"
    assert "--executor" in _run(image, "serve", "--help")


def test_git_and_the_role_prompts_are_in_the_image(image: str) -> None:
    out = _run(image, "-c", "git --version && python -c 'from crew.llm.prompts import load; "
               "print(sorted(load(r).role for r in (\"critic\", \"repairer\")))'", entrypoint="sh")
    assert out.startswith("git version") and "['critic', 'repairer']" in out


def test_serve_with_the_argo_executor_is_ready_on_a_read_only_root(image: str) -> None:
    # As the Deployment runs it: the Argo Server need not answer for the service to be ready; Docker is not asked.
    script = (
        "healcrew serve --host 127.0.0.1 --port 8080 --executor argo --argo-server http://127.0.0.1:9 "
        "--state sqlite:////var/lib/healcrew/state.db --audit-log /var/lib/healcrew/audit.jsonl & "
        "python - <<'EOF'\n"
        "import time, urllib.request\n"
        "for _ in range(120):\n"
        "    try:\n"
        "        print(urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).read().decode()); break\n"
        "    except OSError:\n"
        "        time.sleep(0.5)\n"
        "EOF\n"
        "kill %1"
    )
    out = subprocess.run(["docker", "run", "--rm", *LOCKED, "-e", "HEALCREW_WEBHOOK_TOKEN=t", "--entrypoint", "sh",
                          image, "-c", script], capture_output=True, text=True, timeout=180)
    assert '"status":"ok"' in out.stdout and '"docker"' not in out.stdout, (out.stdout, out.stderr[-2000:])
