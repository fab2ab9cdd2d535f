"""Fixtures for sandbox tests: small repos, a cached base image, limits small enough to be fast."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import SandboxConfig

MODULE = "def div(a, b):\n    return a / b\n"
TESTS = (
    "from calc import div\n\n\n"
    "def test_ok():\n    assert div(4, 2) == 2\n\n\n"
    "def test_zero():\n    assert div(1, 0) == 0\n"
)


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def make_git_repo(root: Path) -> tuple[Path, str]:
    """A git repo with two commits; returns it and the first commit's sha."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "calc.py").write_text("def div(a, b):\n    return 0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "calc.py").write_text(MODULE)
    (repo / "tests").mkdir()
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "second")
    return repo, first


@pytest.fixture
def git_repo(tmp_path: Path) -> tuple[Path, str]:
    return make_git_repo(tmp_path)


@pytest.fixture
def plain_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "plain"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(MODULE)
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    return repo


def tree_digest(root: Path) -> str:
    """Hash of every path, mode and content under ``root`` (``.git`` included)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode() + oct(path.lstat().st_mode).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def run_label() -> str:
    """A label value unique to this test session, so counting containers ignores anyone else's."""
    return uuid.uuid4().hex


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    """healcrew's base image, built once (or reused when `healcrew sandbox build-image` ran)."""
    from sandbox.images import ensure_base_image

    return ensure_base_image(docker_client, pull_timeout=5).tag


@pytest.fixture
def docker_config(base_image: str, run_label: str) -> SandboxConfig:
    """Small limits; the base image directly (no dependency install) for speed."""
    return SandboxConfig(backend="docker", install_deps=False, memory_mb=128, pids=64, cpus=1.0, timeout=30,
                         output_cap_bytes=64 * 1024, scratch_mb=64, labels={"org.healcrew.test": run_label})


@pytest.fixture
def no_leftover_containers(docker_client: Any, run_label: str) -> Iterator[None]:
    """Count this session's containers before and after the test: they must be equal."""

    def count() -> int:
        # the low-level call: the model's list() inspects each container and races with removals
        return len(docker_client.api.containers(all=True, filters={"label": f"org.healcrew.test={run_label}"}))

    before = count()
    yield
    assert count() == before, "a sandbox container was left behind"
