"""Environment images: a repo's dependencies from a wheelhouse of ready-made or container-built wheels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox import SandboxConfig, prepare
from sandbox.images import collect_requirements, ensure_env_image, env_key

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("no_leftover_containers")]

APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/price/{amount}")
def price(amount: float, discount: float = 1.0) -> dict[str, float]:
    return {"price": amount / discount}
"""
TEST = """\
from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)


def test_price() -> None:
    assert client.get("/price/4?discount=2").json() == {"price": 2.0}


def test_zero_discount() -> None:
    client.get("/price/4?discount=0")
"""


@pytest.fixture
def fastapi_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "pricing"
    (repo / "app").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "app" / "__init__.py").write_text("")
    (repo / "app" / "main.py").write_text(APP)
    (repo / "tests" / "test_main.py").write_text(TEST)
    (repo / "requirements.txt").write_text("fastapi\nhttpx\npytest\n")
    return repo


def test_fastapi_repo_runs_pytest_in_its_environment_image(
    fastapi_repo: Path, base_image: str, run_label: str, docker_client: Any
) -> None:
    cfg = SandboxConfig(backend="docker", memory_mb=512, pids=128, timeout=120, labels={"org.healcrew.test": run_label})
    with prepare(fastapi_repo, config=cfg) as box:
        assert box.image is not None and box.image.startswith("healcrew/env:")
        result = box.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--junitxml=/tmp/healcrew-junit.xml"])
    assert result.exit_code == 1, result.stdout + result.stderr
    by_id = {t.test_id: t for t in result.tests}
    assert by_id["tests/test_main.py::test_price"].outcome == "passed"
    zero = by_id["tests/test_main.py::test_zero_discount"]
    assert (zero.outcome, zero.exc_type, zero.frame) == ("failed", "ZeroDivisionError", "app/main.py:8")
    image = docker_client.images.get(box.image)
    assert image.labels.get("org.healcrew.sandbox") == "env"


def test_environment_image_is_reused_until_dependencies_change(
    fastapi_repo: Path, base_image: str, docker_client: Any
) -> None:
    cache = SandboxConfig().cache_dir
    first = ensure_env_image(docker_client, base_image, fastapi_repo, cache)
    again = ensure_env_image(docker_client, base_image, fastapi_repo, cache)
    assert again.cached and again.tag == first.tag and again.how == "cached"
    (fastapi_repo / "app" / "main.py").write_text(APP + "\n# code changes do not matter\n")
    assert ensure_env_image(docker_client, base_image, fastapi_repo, cache).tag == first.tag
    base_id = docker_client.images.get(base_image).id
    (fastapi_repo / "requirements.txt").write_text("fastapi\nhttpx\npytest\nanyio\n")
    changed = env_key(base_id, first.python, collect_requirements(fastapi_repo))
    assert f"healcrew/env:{changed}" != first.tag


def test_repo_needing_an_old_python_runs_its_suite_on_that_python(
    tmp_path: Path, run_label: str, docker_client: Any
) -> None:
    repo = tmp_path / "legacy"
    (repo / "tests").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[project]\nname = "legacy"\nversion = "1"\nrequires-python = ">=3.8,<3.10"\n')
    (repo / "tests" / "test_version.py").write_text(
        "import sys\n\n\ndef test_runs_on_39():\n    assert sys.version_info[:2] == (3, 9)\n")
    cfg = SandboxConfig(backend="docker", memory_mb=256, pids=128, timeout=120, labels={"org.healcrew.test": run_label})
    with prepare(repo, config=cfg) as box:
        assert box.python is not None and box.python.version == "3.9"
        assert "requires-python '>=3.8,<3.10'" in box.python.reason
        result = box.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--junitxml=/tmp/healcrew-junit.xml"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [(t.test_id, t.outcome) for t in result.tests] == [("tests/test_version.py::test_runs_on_39", "passed")]
    assert docker_client.images.get(box.image).labels.get("org.healcrew.python") == "3.9"


def test_dependencies_only_in_setup_py_are_installed_and_setup_py_never_runs(
    tmp_path: Path, run_label: str
) -> None:
    ran = tmp_path / "setup-py-ran"
    repo = tmp_path / "svc"
    (repo / "tests").mkdir(parents=True)
    (repo / "setup.py").write_text(
        "from setuptools import setup\n"
        f"open({str(ran)!r}, 'w').write('executed')\n"
        "setup(name='svc', install_requires=['six'], extras_require={'test': ['iniconfig']},\n"
        "      tests_require=[line for line in open('extra.txt')])\n")
    (repo / "extra.txt").write_text("requests\n")
    (repo / "tests" / "test_imports.py").write_text(
        "import importlib.util\n\nimport iniconfig\nimport six\n\n\n"
        "def test_literal_deps_are_there():\n    assert six.PY3 and iniconfig.IniConfig\n\n\n"
        "def test_computed_deps_were_not_read():\n    assert importlib.util.find_spec('requests') is None\n")
    cfg = SandboxConfig(backend="docker", memory_mb=256, pids=128, timeout=120, labels={"org.healcrew.test": run_label})
    with prepare(repo, config=cfg) as box:
        notes = [r.note() for r in box.refused]
        result = box.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--junitxml=/tmp/healcrew-junit.xml"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert {t.outcome for t in result.tests} == {"passed"} and len(result.tests) == 2
    assert any("setup.py:tests_require" in n and "never run" in n for n in notes), notes
    assert not ran.exists(), "setup.py was executed"


def test_cli_builds_a_base_image_per_python_and_runs_on_the_requested_one(
    plain_repo: Path, docker_client: Any, run_label: str
) -> None:
    import json

    from typer.testing import CliRunner

    from crew.cli_sandbox import sandbox_app

    cli = CliRunner()
    built = cli.invoke(sandbox_app, ["build-image", "--python", "3.9", "--json"])
    assert built.exit_code == 0, built.output
    [info] = json.loads(built.stdout)
    assert (info["tag"], info["python"]) == ("healcrew/python-base:bullseye", "3.9")
    assert docker_client.images.get(info["tag"]).labels["org.healcrew.python"] == "3.9"
    ran = cli.invoke(sandbox_app, ["run", "--repo", str(plain_repo), "--sandbox", "docker", "--python", "3.13",
                                   "--", "python", "-c", "import sys; print(sys.version_info[:2])"])
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.strip() == "(3, 13)"
    assert "python 3.13: --python 3.13 requested" in ran.stderr
    bad = cli.invoke(sandbox_app, ["run", "--repo", str(plain_repo), "--python", "3.x", "--", "true"])
    assert bad.exit_code == 2 and "invalid python" in bad.stderr and "Traceback" not in bad.output


def test_repair_runner_records_the_python_and_why(tmp_path: Path) -> None:
    from crew.errors import SandboxError
    from crew.sandbox_runner import open_runner
    from tests.sandbox.conftest import make_git_repo

    repo, _ = make_git_repo(tmp_path)
    runner = open_runner(repo, "docker")
    outcome = runner.run(["python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], None,
                         {"setup.cfg": "[options]\npython_requires = <3.10\n"}, 60)
    assert outcome.stdout.strip() == "3.9"
    assert runner.python is not None and runner.python.version == "3.9"
    assert "setup.cfg python_requires '<3.10'" in runner.python.reason
    assert runner.policy_decisions == []  # the choice is the report's sandbox_python, not a refusal
    with pytest.raises(SandboxError, match="X.Y"):
        open_runner(repo, "docker", python="three")
