"""Real git everywhere: the example pricing-service repo, cloned as a user's checkout with a bare remote."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from crew.handoffs import RunReport

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "accepted_report.json"
DEPLOYED = "755d4d7d14f8272059b2183deb61df1f37d217ef"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git in ``cwd`` as a human developer would; the stdout, stripped."""
    proc = subprocess.run(
        ["git", "-c", "user.name=Dev Human", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false",
         *args], cwd=cwd, capture_output=True, text=True, check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def example_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pricing-service example materialized once (stable shas, the fixture's deployed commit)."""
    from crew.history import materialize

    return materialize(ROOT / "examples" / "pricing-service", tmp_path_factory.mktemp("materialized"))


@dataclass
class Checkout:
    """A user's checkout (on a feature branch, with a local edit) and its bare remote."""

    path: Path
    remote: Path


@pytest.fixture
def checkout(tmp_path: Path, example_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Checkout:
    monkeypatch.setenv("HEALCREW_CACHE", str(tmp_path / "cache"))
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    user = tmp_path / "user"
    git(tmp_path, "clone", "-q", str(example_repo), str(user))
    git(user, "remote", "set-url", "origin", str(remote))
    git(user, "push", "-q", "origin", "main")
    git(user, "checkout", "-q", "-b", "feature/wip")
    (user / "NOTES.md").write_text("uncommitted work in progress\n")
    return Checkout(user, remote)


@pytest.fixture
def report(checkout: Checkout) -> RunReport:
    """A RunReport with an accepted fix, saved from a real run, pointed at the checkout."""
    r = RunReport.model_validate_json(FIXTURE.read_text(encoding="utf-8"))
    r.incident.repo = str(checkout.path)
    assert r.incident.commit == DEPLOYED
    return r


def remote_branches(remote: Path) -> dict[str, str]:
    """branch -> sha on the bare remote."""
    out = git(remote, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
    return dict(line.split(" ", 1) for line in out.splitlines())  # type: ignore[misc]
