"""In the real sandbox: the value the crashing input had before the regression becomes the test's assert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crew.repair import expected as ex
from crew.repair import regression_test as rt
from crew.repair import reproduce as r
from tests.repair.test_regression_style import GUARDED, UNGUARDED, _crash, _rep, two_commit_repo

pytestmark = [pytest.mark.docker]


@pytest.mark.timeout(600)
def test_the_value_before_the_regression_is_probed_in_the_sandbox_and_asserted(
    tmp_path: Path, docker_client: Any,
) -> None:
    from crew.sandbox_runner import SandboxRunner

    repo = two_commit_repo(tmp_path / "svc", GUARDED, UNGUARDED)  # the second commit drops the guard
    diagnosis = _crash(repo, "app/mod.py", "return p / d", "ZeroDivisionError", "float division by zero")
    target = r.find_target(diagnosis, repo)
    assert target is not None
    runner = SandboxRunner(repo, "docker")
    rep = _rep(["12.5", "0.0"], ["float"], normal=[(["10.0", "2.0"], "5.0")])
    before = ex.probe_before_regression(runner, repo, target, rep, diagnosis, timeout=300)
    assert before is not None and before.literal == "12.5"
    assert before.source.startswith(f"the code before the regression (the parent of {repo.commit[:12]})")

    test = rt.render_test(target, rep, diagnosis, "i", rt.test_path(repo, "i"), repo=repo, before=before)
    assert "    assert result == 12.5\n" in test.code and test.expected_from == before.source
    command = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", test.path]
    on_original = runner.run(command, None, {test.path: test.code}, 300)
    assert on_original.exit_code == 1 and "ZeroDivisionError" in on_original.stdout, on_original.stdout
    reverted = ex.revert_diff(repo, diagnosis)
    assert reverted is not None
    on_reverted = runner.run(command, reverted[0], {test.path: test.code}, 300)
    assert on_reverted.exit_code == 0, on_reverted.stdout


@pytest.mark.timeout(600)
def test_a_crash_that_was_always_there_gives_no_value_before_the_regression(
    tmp_path: Path, docker_client: Any,
) -> None:
    from crew.sandbox_runner import SandboxRunner

    always = UNGUARDED.replace("return p / d", "return p / d  # unchanged")
    repo = two_commit_repo(tmp_path / "svc", UNGUARDED, always)  # the last commit only touched a comment
    diagnosis = _crash(repo, "app/mod.py", "return p / d", "ZeroDivisionError", "float division by zero")
    target = r.find_target(diagnosis, repo)
    assert target is not None
    found = ex.probe_before_regression(SandboxRunner(repo, "docker"), repo, target,
                                       _rep(["12.5", "0.0"], normal=[(["10.0", "2.0"], "5.0")]),
                                       diagnosis, timeout=300)
    assert found is None  # the parent crashes the same way: there is no value to assert


@pytest.mark.timeout(600)
def test_an_old_rule_is_no_oracle_for_the_crashing_input(tmp_path: Path, docker_client: Any) -> None:
    from crew.sandbox_runner import SandboxRunner

    old_rule = "def calc(p, d):\n    if not d:\n        return 0.0\n    return p * d\n"  # another meaning
    repo = two_commit_repo(tmp_path / "svc", old_rule, UNGUARDED)
    diagnosis = _crash(repo, "app/mod.py", "return p / d", "ZeroDivisionError", "float division by zero")
    target = r.find_target(diagnosis, repo)
    assert target is not None
    found = ex.probe_before_regression(SandboxRunner(repo, "docker"), repo, target,
                                       _rep(["12.5", "0.0"], normal=[(["10.0", "2.0"], "5.0")]),
                                       diagnosis, timeout=300)
    assert found is None  # before the change, calc(10.0, 2.0) was 20.0: the old 0.0 is not what is meant now
