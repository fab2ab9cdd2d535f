"""Attack: with no Docker engine, ``--sandbox auto`` quietly ran the repository's code on the host.

Before the fix ``auto`` fell back to the process backend (and that backend, without bubblewrap,
ran the code as the host user with the host's files, or with no isolation at all). Now ``auto``
means a container and fails with a one-line error saying what to do; the process backend runs
only when asked for explicitly, and only under bubblewrap.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import SandboxConfig, choose_backend, prepare
from sandbox.errors import EngineUnavailableError
from sandbox.process_backend import ProcessBackend, available_mode

UNREACHABLE = "unix:///nonexistent/healcrew-docker.sock"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", UNREACHABLE)


@pytest.fixture
def marker() -> Iterator[Path]:
    path = Path("/tmp") / f"healcrew-auto-marker-{uuid.uuid4().hex}"
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "calc.py").write_text("X = 1\n")
    return root


@pytest.mark.usefixtures("no_engine")
def test_auto_without_an_engine_refuses_instead_of_using_the_host() -> None:
    with pytest.raises(EngineUnavailableError) as caught:
        choose_backend("auto", ping_timeout=1.0)
    message = str(caught.value)
    assert "\n" not in message
    assert "--sandbox process" in message and "Docker engine" in message


@pytest.mark.usefixtures("no_engine")
def test_auto_without_an_engine_never_runs_the_command(repo: Path, marker: Path) -> None:
    with pytest.raises(EngineUnavailableError), prepare(repo, config=SandboxConfig(backend="auto")) as box:
        box.run(["touch", str(marker)])
    assert not marker.exists()


@pytest.mark.parametrize("mode", ["unshare", "plain"])
def test_process_backend_refuses_to_run_without_bubblewrap(mode: str, repo: Path, marker: Path) -> None:
    with pytest.raises(EngineUnavailableError, match="needs bubblewrap"):
        ProcessBackend(SandboxConfig(backend="process"), mode=mode).run(repo, ["touch", str(marker)], timeout=10)
    assert not marker.exists()


def test_explicit_process_choice_checks_for_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> None:
    import sandbox.process_backend

    monkeypatch.setattr(sandbox.process_backend, "available_mode", lambda: "unshare")
    with pytest.raises(EngineUnavailableError, match="install bubblewrap"):
        choose_backend("process")


@pytest.mark.skipif(available_mode() != "bwrap", reason="bubblewrap cannot create namespaces here")
@pytest.mark.usefixtures("no_engine")
def test_explicit_process_backend_runs_isolated_as_nobody(repo: Path, marker: Path) -> None:
    with prepare(repo, config=SandboxConfig(backend="process", timeout=30)) as box:
        result = box.run(["sh", "-c", f"id -u; touch {marker}; echo done"])
    assert result.backend == "process"
    assert result.stdout.split()[0] == "65534"
    assert not marker.exists()  # the host's /tmp is not the sandbox's


def test_cli_auto_without_an_engine_is_one_line_and_exit_2(repo: Path, marker: Path) -> None:
    env = {"DOCKER_HOST": UNREACHABLE, "PATH": "/usr/bin:/bin", "HOME": str(repo.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "crew.cli", "sandbox", "run", "--repo", str(repo), "--", "touch", str(marker)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--sandbox process" in lines[0], proc.stderr
    assert not marker.exists()


@pytest.mark.usefixtures("no_engine")
def test_validation_runner_under_auto_without_an_engine_fails_with_one_line(repo: Path) -> None:
    from crew.errors import SandboxError
    from crew.sandbox_runner import SandboxRunner

    class Repo:
        path, commit = repo, None

    with pytest.raises(SandboxError) as caught:
        SandboxRunner(Repo(), "auto")  # type: ignore[arg-type]
    assert "\n" not in str(caught.value) and "--sandbox process" in str(caught.value)
