"""`healcrew sandbox ...`: bad input is one line and exit 2; run passes the command's exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crew.cli_sandbox import sandbox_app
from sandbox.process_backend import available_mode

runner = CliRunner()
UNREACHABLE = {"DOCKER_HOST": "unix:///nonexistent/healcrew-docker.sock"}


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(sandbox_app, list(args), env=env)


def assert_one_line_error(result: Any, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("healcrew:")]  # other lines are progress notes
    assert len(errors) == 1 and lines[-1] == errors[0] and fragment in errors[0], result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_repo_that_does_not_exist(tmp_path: Path) -> None:
    result = invoke("run", "--repo", str(tmp_path / "nope"), "--sandbox", "process", "--", "true")
    assert_one_line_error(result, "repo path does not exist")


def test_patch_that_does_not_apply(plain_repo: Path, tmp_path: Path) -> None:
    patch = tmp_path / "fix.diff"
    patch.write_text("--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n-def nothing():\n+def other():\n     pass\n")
    result = invoke("run", "--repo", str(plain_repo), "--patch", str(patch), "--sandbox", "process", "--", "true")
    assert_one_line_error(result, "patch does not apply")


def test_patch_file_that_does_not_exist(plain_repo: Path, tmp_path: Path) -> None:
    result = invoke("run", "--repo", str(plain_repo), "--patch", str(tmp_path / "x.diff"), "--", "true")
    assert_one_line_error(result, "patch file not found")


def test_unknown_backend(plain_repo: Path) -> None:
    result = invoke("run", "--repo", str(plain_repo), "--sandbox", "vm", "--", "true")
    assert_one_line_error(result, "--sandbox must be docker, process or auto")


def test_unreachable_engine_under_docker(plain_repo: Path) -> None:
    result = invoke("run", "--repo", str(plain_repo), "--sandbox", "docker", "--", "true", env=UNREACHABLE)
    assert_one_line_error(result, "no Docker engine answered")


def test_doctor_without_engine_picks_nothing(plain_repo: Path) -> None:
    result = invoke("doctor", "--json", env=UNREACHABLE)
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["engine_reachable"] is False and report["backend"] == "none"
    assert "no Docker engine answered" in report["reason"] and "--sandbox process" in report["reason"]


@pytest.mark.skipif(available_mode() != "bwrap", reason="bubblewrap cannot create namespaces here")
def test_run_exit_code_json_and_timeout(plain_repo: Path) -> None:
    base = ["run", "--repo", str(plain_repo), "--sandbox", "process"]
    assert invoke(*base, "--", "python", "-c", "raise SystemExit(3)").exit_code == 3
    result = invoke(*base, "--json", "--", "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "--junitxml=/tmp/j.xml")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["backend"] == "process" and len(payload["tests"]) == 2
    timed = invoke(*base, "--timeout", "1", "--", "python", "-c", "while True: pass")
    assert timed.exit_code == 124
    assert "timed out" in timed.stderr


@pytest.mark.docker
@pytest.mark.usefixtures("no_leftover_containers", "base_image")
def test_unknown_image_under_docker(plain_repo: Path, docker_client: Any) -> None:
    result = invoke("run", "--repo", str(plain_repo), "--sandbox", "docker", "--image",
                    "healcrew/no-such-image:0", "--", "true")
    assert_one_line_error(result, "unknown image")


@pytest.mark.docker
def test_build_image_is_idempotent(base_image: str) -> None:
    result = invoke("build-image")
    assert result.exit_code == 0, result.output
    assert f"{base_image}: cached, nothing rebuilt" in result.stdout


@pytest.mark.docker
@pytest.mark.usefixtures("no_leftover_containers", "base_image")
def test_run_in_docker_reports_through_the_cli(plain_repo: Path) -> None:
    result = invoke("run", "--repo", str(plain_repo), "--sandbox", "docker", "--", "python3", "-c",
                    "import sys; print('out'); sys.exit(5)")
    assert result.exit_code == 5
    assert result.stdout == "out\n"
