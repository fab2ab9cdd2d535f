"""In the real sandbox: an input that raises the production type for another reason is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Frame, Traceback
from crew.repo import GitRepo
from tests.e2e_helpers import commit_repo

pytestmark = [pytest.mark.docker]

LABELS = '''"""Address labels."""


def city_label(user):
    """The city line of a user's address."""
    return user.address.city.upper()
'''


@pytest.mark.timeout(600)
def test_the_same_type_for_another_attribute_is_not_reported_as_a_reproduction(
    tmp_path: Path, docker_client: Any,
) -> None:
    from crew.sandbox_runner import SandboxRunner
    from crew.validate import prepare_baseline

    repo = GitRepo(commit_repo(tmp_path / "labels", {"labels/__init__.py": "", "labels/city.py": LABELS,
                                                     "requirements.txt": "pytest\n"}, "init"))
    message = "'NoneType' object has no attribute 'city'"  # the address was None, not the user
    tb = Traceback(exc_type="AttributeError", exc_message=message, frames=[
        Frame(file="/srv/app/labels/city.py", line=6, function="city_label", code="return user.address.city.upper()")])
    evidence = CrashEvidence(incident_id="i", source="t", tracebacks=[tb], groups=[
        CrashGroup(signature="s", exc_type="AttributeError", exc_message=message, count=1, example=0)])
    diagnosis = diagnose(evidence, repo)
    baseline = prepare_baseline(diagnosis, evidence, repo, SandboxRunner(repo, "docker"), "i",
                                "python -m pytest -q", timeout=300)
    # None as ``user`` raises AttributeError on the same line, for 'address': another crash
    assert baseline.test is None and baseline.reproduction is not None and baseline.reproduction.args is None
    assert baseline.reproduction.refused >= 1
    assert baseline.closest is not None and baseline.closest.part == "message"
    assert "'city'" in baseline.closest.production and "'address'" in baseline.closest.reproduction
    assert baseline.failure is not None and "message differs" in baseline.failure
