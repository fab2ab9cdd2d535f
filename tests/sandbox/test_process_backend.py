"""The process backend under bubblewrap: no network, private /tmp, a copy of the repo, rlimits."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from sandbox import SandboxConfig, prepare
from sandbox.errors import EngineUnavailableError
from sandbox.process_backend import ProcessBackend, available_mode

from .conftest import tree_digest

needs_bwrap = pytest.mark.skipif(available_mode() != "bwrap", reason="bubblewrap cannot create namespaces here")

CONFIG = SandboxConfig(backend="process", memory_mb=512, timeout=30, output_cap_bytes=8192)


@needs_bwrap
def test_pytest_runs_and_junit_is_parsed(git_repo: tuple[Path, str]) -> None:
    repo, _ = git_repo
    with prepare(repo, config=CONFIG) as box:
        result = box.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=/tmp/junit.xml"])
    assert result.backend == "process"
    assert "WEAKER" in result.isolation_note
    assert result.exit_code == 1
    outcomes = {t.test_id: (t.outcome, t.exc_type, t.frame) for t in result.tests}
    assert outcomes == {
        "tests/test_calc.py::test_ok": ("passed", None, None),
        "tests/test_calc.py::test_zero": ("failed", "ZeroDivisionError", "calc.py:2"),
    }


@needs_bwrap
def test_network_is_unreachable(plain_repo: Path) -> None:
    code = (
        "import socket\ntry:\n    socket.create_connection(('10.255.255.1', 80), timeout=3)\n"
        "except OSError as e:\n    print('blocked', e.errno)\nelse:\n    print('connected')"
    )
    with prepare(plain_repo, config=CONFIG) as box:
        result = box.run(["python", "-c", code])
    assert result.stdout.startswith("blocked"), result.stdout + result.stderr


@needs_bwrap
def test_host_tmp_and_home_are_not_visible(plain_repo: Path, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"healcrew-marker-{uuid.uuid4().hex}"
    marker.write_text("secret")
    try:
        with prepare(plain_repo, config=CONFIG) as box:
            result = box.run(["python", "-c", f"import os; print(os.path.exists({str(marker)!r}), os.getuid())"])
    finally:
        marker.unlink()
    assert result.stdout.split() == ["False", "65534"]


@needs_bwrap
def test_timeout_kills_and_is_reported(plain_repo: Path) -> None:
    with prepare(plain_repo, config=CONFIG) as box:
        result = box.run(["python", "-c", "while True: pass"], timeout=1.5)
    assert result.timed_out and result.exit_code is None
    assert result.duration < 10


@needs_bwrap
def test_memory_limit_stops_a_hog(plain_repo: Path) -> None:
    cfg = CONFIG.model_copy(update={"memory_mb": 256})
    with prepare(plain_repo, config=cfg) as box:
        result = box.run(["python", "-c", "x = []\nwhile True: x.append(bytearray(10**7))"])
    assert result.exit_code != 0 and result.oom_killed
    assert "MemoryError" in result.stderr


@needs_bwrap
def test_deleting_everything_leaves_the_checkout_unchanged(git_repo: tuple[Path, str]) -> None:
    repo, _ = git_repo
    before = tree_digest(repo)
    with prepare(repo, config=CONFIG) as box:
        result = box.run(["sh", "-c", "rm -rf ./* ./.[!.]* ; ls -A | wc -l"])
        again = box.run(["sh", "-c", "ls"])
    assert result.stdout.strip() == "0"
    assert "calc.py" in again.stdout  # each run starts from the prepared copy
    assert tree_digest(repo) == before


@pytest.mark.parametrize("mode", ["unshare", "plain"])
def test_modes_without_bubblewrap_are_refused(mode: str, git_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, _ = git_repo
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    marker = tmp_path / "ran"
    with pytest.raises(EngineUnavailableError, match="needs bubblewrap"):
        ProcessBackend(CONFIG, mode=mode).run(copy, ["touch", str(marker)], timeout=30)
    assert not marker.exists()


@needs_bwrap
def test_broken_junit_report_keeps_the_run_outcome(plain_repo: Path) -> None:
    with prepare(plain_repo, config=CONFIG) as box:
        result = box.run(["sh", "-c", "echo '<testsuites><oops' > /tmp/j.xml; exit 4"], junit_path="/tmp/j.xml")
    assert result.exit_code == 4 and result.tests == []
    assert result.junit_error is not None and "JUnit XML" in result.junit_error


def test_auto_does_not_fall_back_to_process_when_no_base_image_can_be_made(
    plain_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sandbox.api
    from sandbox.errors import ImageError

    def no_image(*args: object, **kwargs: object) -> None:
        raise ImageError("debootstrap needs root")

    def docker(requested: str, config: object = None) -> tuple[sandbox.api.BackendChoice, _FakeClient]:
        return sandbox.api.BackendChoice(name="docker", reason="test"), _FakeClient()

    monkeypatch.setattr(sandbox.api, "choose_backend", docker)
    monkeypatch.setattr(sandbox.api, "ensure_base_image", no_image)
    for backend in ("auto", "docker"):
        with pytest.raises(ImageError, match="debootstrap needs root"):
            prepare(plain_repo, config=SandboxConfig(backend=backend))  # type: ignore[arg-type]


class _FakeClient:
    def close(self) -> None:
        return None
