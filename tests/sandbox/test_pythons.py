"""Choosing the sandbox Python from what a repository declares, and reading setup.py / tox.ini statically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.images import _missing_for_target, collect_requirements
from sandbox.pythons import allows, choose_python, marker_environment, read_hints
from sandbox.requirements import Refusal, read_setup_py

IMAGES = ["3.9", "3.11", "3.13"]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_requires_python_upper_bound_picks_the_only_image_inside(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.8,<3.10"\n'})
    choice = choose_python(tmp_path, IMAGES, "3.11")
    assert choice.version == "3.9"
    assert "requires-python '>=3.8,<3.10'" in choice.reason and "3.9" in choice.reason


def test_no_hint_keeps_the_default_and_says_so(tmp_path: Path) -> None:
    choice = choose_python(tmp_path, IMAGES, "3.11")
    assert (choice.version, choice.reason) == ("3.11", "the repository states no Python version: the default, 3.11")


def test_override_wins_over_the_repo(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nname = "x"\nrequires-python = "<3.10"\n'})
    choice = choose_python(tmp_path, IMAGES, "3.11", override="3.13")
    assert (choice.version, choice.reason) == ("3.13", "--python 3.13 requested")


def test_pin_wins_among_allowed_and_is_ignored_when_forbidden(tmp_path: Path) -> None:
    write(tmp_path, {".python-version": "3.13.1\n", "setup.cfg": "[options]\npython_requires = >=3.9\n"})
    assert choose_python(tmp_path, IMAGES, "3.11").version == "3.13"
    (tmp_path / "setup.cfg").write_text("[options]\npython_requires = <3.12\n")
    choice = choose_python(tmp_path, IMAGES, "3.11")
    assert choice.version == "3.11" and "pins 3.13, for which there is no allowed image" in choice.reason


def test_dockerfile_of_the_service_pins_what_production_runs(tmp_path: Path) -> None:
    write(tmp_path, {"Dockerfile": "FROM python:3.11 AS build\nRUN x\nFROM docker.io/library/python:3.9-slim\n"})
    choice = choose_python(tmp_path, IMAGES, "3.11")
    assert choice.version == "3.9" and "Dockerfile FROM python:3.9" in choice.reason


def test_classifiers_tox_and_ci_narrow_the_choice(tmp_path: Path) -> None:
    write(tmp_path, {"setup.py": (
        "from setuptools import setup\nsetup(name='x', classifiers=['Programming Language :: Python :: 3.9',"
        " 'Programming Language :: Python :: 3.10'])\n")})
    choice = choose_python(tmp_path, IMAGES, "3.11")
    assert choice.version == "3.9" and "setup.py classifiers" in choice.reason
    (tmp_path / "setup.py").unlink()
    write(tmp_path, {"tox.ini": "[tox]\nenvlist = py{38,39}-django{3,4}, lint\n"})
    assert choose_python(tmp_path, IMAGES, "3.11").version == "3.9"
    (tmp_path / "tox.ini").unlink()
    write(tmp_path, {".github/workflows/ci.yml": (
        "jobs:\n  test:\n    strategy:\n      matrix:\n        python-version: ['3.12', '3.13']\n"
        "    steps:\n      - uses: actions/setup-python@v5\n        with:\n"
        "          python-version: ${{ matrix.python-version }}\n")})
    choice = choose_python(tmp_path, IMAGES, "3.11")
    assert choice.version == "3.13" and ".github/workflows/ci.yml python-version" in choice.reason


def test_declared_versions_without_an_image_do_not_override_requires_python(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.10"\n'
                                       'classifiers = ["Programming Language :: Python :: 3.10"]\n'})
    choice = choose_python(tmp_path, IMAGES, "3.11")
    assert choice.version == "3.11" and "none of the versions it declares or tests has an image" in choice.reason


def test_unsatisfiable_requires_python_uses_the_nearest_and_says_so(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nname = "x"\nrequires-python = ">=3.14"\n'})
    choice = choose_python(tmp_path, IMAGES, "3.11")
    assert choice.version == "3.13" and choice.reason.startswith("no base image satisfies")


def test_poetry_python_range(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[tool.poetry.dependencies]\npython = "~3.9"\n'})
    assert choose_python(tmp_path, IMAGES, "3.11").version == "3.9"


def test_allows_is_about_some_release_of_the_minor_version() -> None:
    from packaging.specifiers import SpecifierSet

    assert allows(SpecifierSet(">=3.9.2"), "3.9") and not allows(SpecifierSet("!=3.9.*"), "3.9")
    assert allows(SpecifierSet("<3.9.5"), "3.9") and not allows(SpecifierSet(">=3.10"), "3.9")


def test_hints_are_not_read_through_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside, {"pyproject.toml": '[project]\nname = "x"\nrequires-python = "<3.10"\n'})
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside / "pyproject.toml", repo / "pyproject.toml")
    os.symlink(outside, repo / ".github")
    hints = read_hints(repo)
    assert hints.requires == [] and any("symbolic link" in n for n in hints.notes)
    assert choose_python(repo, IMAGES, "3.11").version == "3.11"


SETUP_PY = """\
import os
from setuptools import setup

BASE = ["attrs>=22", "click"]
TEST = ["pytest-mock"]

setup(
    name="legacy-svc",
    python_requires=">=3.8",
    install_requires=BASE + ["six"] + [f"x=={os.environ['V']}"],
    tests_require=TEST,
    extras_require={"test": ["freezegun"], "docs": ["sphinx"]},
    **{"zip_safe": False},
)
"""


def test_setup_py_literals_are_read_and_computed_parts_refused(tmp_path: Path) -> None:
    write(tmp_path, {"setup.py": SETUP_PY})
    refused: list[Refusal] = []
    info = read_setup_py(tmp_path, refused)
    assert info is not None
    assert info.install_requires == ["attrs>=22", "click", "six"]
    assert (info.name, info.python_requires, info.tests_require) == ("legacy-svc", ">=3.8", ["pytest-mock"])
    assert info.extras_require == {"test": ["freezegun"], "docs": ["sphinx"]}
    assert [(r.source, r.reason) for r in refused] == [
        ("setup.py:install_requires", "computed by code, not a literal (setup.py is never run)"),
        ("setup.py:**", "computed by code, not a literal (setup.py is never run)")]
    reqs = collect_requirements(tmp_path)
    assert reqs == ["attrs>=22", "click", "freezegun", "pytest", "pytest-mock", "pytest-timeout", "six"]


def test_setup_py_names_rebound_or_mutated_are_not_taken_as_literals(tmp_path: Path) -> None:
    write(tmp_path, {"setup.py": (
        "import setuptools\nREQS = ['a']\nREQS.append('b')\nOTHER = ['c']\nOTHER = OTHER + ['d']\n"
        "setuptools.setup(install_requires=REQS, tests_require=OTHER)\n")})
    refused: list[Refusal] = []
    info = read_setup_py(tmp_path, refused)
    assert info is not None and info.install_requires == [] and info.tests_require == []
    assert [r.line for r in refused] == ["REQS", "OTHER"]


def test_setup_py_with_computed_requirements_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    write(tmp_path, {"setup.py": (
        f"from setuptools import setup\nopen({str(marker)!r}, 'w').write('x')\n"
        "setup(name='x', install_requires=open('reqs.in').read().split())\n"), "reqs.in": "requests\n"})
    refused: list[Refusal] = []
    assert collect_requirements(tmp_path, refused) == ["pytest", "pytest-timeout"]
    assert [r.source for r in refused] == ["setup.py:install_requires"]
    assert not marker.exists()


def test_test_requirement_files_and_tox_deps(tmp_path: Path) -> None:
    write(tmp_path, {
        "test-requirements.txt": "hypothesis\n", "dev-requirements.txt": "mypy\n",
        "requirements/test-base.txt": "responses\n", "tests/requirements.txt": "respx\n",
        "tox.ini": ("[tox]\nenvlist = py39\n[testenv]\ndeps =\n    -r{toxinidir}/requirements-tox.txt\n"
                    "    coverage  # measure\n    py39: mock\n    {env:EXTRA}\n    --index-url=http://x.invalid\n"),
        "requirements-tox.txt": "faker\n",
    })
    refused: list[Refusal] = []
    reqs = collect_requirements(tmp_path, refused)
    assert {"hypothesis", "mypy", "responses", "respx", "coverage", "faker"} <= set(reqs)
    assert not {"mock"} & set(reqs)
    reasons = {r.line: r.reason for r in refused}
    assert reasons["py39: mock"] == "factor-conditional tox deps are not evaluated"
    assert reasons["{env:EXTRA}"] == "tox substitutions are not expanded"
    assert "only the operator's index" in reasons["--index-url=http://x.invalid"]


def test_tox_include_cannot_leave_the_repository(tmp_path: Path) -> None:
    write(tmp_path / "outside", {"secret.txt": "leaked-package\n"})
    repo = write(tmp_path / "repo", {"tox.ini": "[testenv]\ndeps = -r../outside/secret.txt\n"})
    refused: list[Refusal] = []
    assert "leaked-package" not in collect_requirements(repo, refused)
    assert any("outside the repository" in r.reason for r in refused)


def test_missing_dependencies_are_found_for_the_target_python(tmp_path: Path) -> None:
    import zipfile

    def wheel(name: str, requires: list[str]) -> None:
        meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(
            f"Requires-Dist: {r}\n" for r in requires)
        with zipfile.ZipFile(tmp_path / f"{name}-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(f"{name}-1.0.dist-info/METADATA", meta)

    wheel("pytest", ['tomli>=1; python_version < "3.11"', "pluggy", 'colorama; sys_platform == "win32"'])
    wheel("pluggy", ['pytest; extra == "dev"'])
    assert _missing_for_target(["pytest"], tmp_path, marker_environment("3.9", "x86_64")) == ["tomli>=1"]
    assert _missing_for_target(["pytest"], tmp_path, marker_environment("3.11", "x86_64")) == []


@pytest.mark.parametrize("bad", ["3", "3.x", "python3.9", "3.11; rm"])
def test_config_refuses_malformed_python(bad: str) -> None:
    from pydantic import ValidationError

    from sandbox.config import SandboxConfig

    with pytest.raises(ValidationError):
        SandboxConfig(python=bad)


def test_run_report_carries_the_sandbox_python(tmp_path: Path) -> None:
    from crew.flow import FlowState, to_report
    from crew.handoffs import Incident, RunReport, SandboxPython

    choice = SandboxPython(version="3.9", reason="pyproject.toml requires-python '<3.10' allows 3.9")
    state = FlowState(id="i", incident=Incident(id="i", repo=str(tmp_path)), sandbox_python=choice)
    report = to_report(state)
    assert report.sandbox_python == choice
    assert RunReport.model_validate_json(report.model_dump_json()).sandbox_python == choice


def test_run_refuses_a_malformed_python_before_doing_anything(tmp_path: Path) -> None:
    import subprocess
    import sys

    healcrew = Path(sys.executable).parent / "healcrew"
    result = subprocess.run([str(healcrew), "run", "--repo", str(tmp_path), "--log", str(tmp_path / "x.log"),
                             "--python", "3.9; rm -rf /", "--sandbox", "process"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--python must be a version such as 3.11" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_bundle_cannot_name_a_malformed_python(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from crew.handoffs import Incident

    assert Incident(id="i", repo="r", sandbox_python="3.9").sandbox_python == "3.9"
    with pytest.raises(ValidationError):
        Incident(id="i", repo="r", sandbox_python="3.9 --index-url x")
