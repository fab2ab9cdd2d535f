"""Attack (a surprise, really): ``healcrew run`` pushed a branch to the user's ``origin`` unasked.

Now pushing needs a remote the operator named (``--remote``, the operator config, or
``--deliver github``); the default writes the local review bundle (``PR.md``, ``fix.patch``,
``report.json``) and pushes nothing. The repository's own file cannot ask for a push. An example
repository healcrew materialized pushes to healcrew's own demo remote in the cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crew.delivery.config import DeliveryConfig
from crew.delivery.deliver import deliver
from crew.delivery.settings import NOT_PUSHED, delivery_settings
from crew.handoffs import RunReport
from crew.repo import GitRepo
from tests.delivery.conftest import (  # noqa: F401
    DEPLOYED,
    ROOT,
    Checkout,
    checkout,
    example_repo,
    remote_branches,
    report,
)
from tests.e2e_helpers import healcrew_run


def _deliver(checkout: Checkout, report: RunReport, out: Path, cache: Path, **flags: Any) -> Any:  # noqa: F811
    settings = delivery_settings(checkout.path, DEPLOYED, flags.get("deliver"), flags.get("remote"),
                                 flags.get("config"), cache)
    assert settings.config is not None
    return deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig.model_validate(settings.config), out)


def test_by_default_nothing_is_pushed_and_the_review_bundle_is_written(
    checkout: Checkout, report: RunReport, tmp_path: Path,  # noqa: F811
) -> None:
    before = remote_branches(checkout.remote)
    out = tmp_path / "out"
    record = _deliver(checkout, report, out, tmp_path / "cache")
    assert remote_branches(checkout.remote) == before  # origin untouched
    assert not record.pushed and record.remote is None and NOT_PUSHED in record.notes
    assert {p.name for p in out.iterdir()} >= {"PR.md", "fix.patch", "report.json"}
    assert "ZeroDivisionError" in (out / "PR.md").read_text()


def test_explicit_deliver_local_still_pushes_nothing_without_a_remote(
    checkout: Checkout, report: RunReport, tmp_path: Path,  # noqa: F811
) -> None:
    before = remote_branches(checkout.remote)
    record = _deliver(checkout, report, tmp_path / "out", tmp_path / "cache", deliver="local")
    assert not record.pushed and remote_branches(checkout.remote) == before


def test_the_repo_file_cannot_ask_for_a_push(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:  # noqa: F811
    (checkout.path / ".healcrew.yaml").write_text("delivery:\n  push: true\n  remote: origin\n")
    before = remote_branches(checkout.remote)
    record = _deliver(checkout, report, tmp_path / "out", tmp_path / "cache")
    assert not record.pushed and remote_branches(checkout.remote) == before


@pytest.mark.parametrize("how", ["flag", "operator-config"])
def test_a_named_remote_is_pushed_to(checkout: Checkout, report: RunReport, tmp_path: Path, how: str) -> None:  # noqa: F811
    flags: dict[str, Any] = {"remote": "origin"}
    if how == "operator-config":
        operator = tmp_path / "operator.yaml"
        operator.write_text("delivery:\n  remote: origin\n")
        flags = {"config": operator}
    record = _deliver(checkout, report, tmp_path / "out", tmp_path / "cache", **flags)
    assert record.pushed and remote_branches(checkout.remote)[record.branch] == record.commit


def test_an_example_repo_pushes_to_healcrews_own_demo_remote(tmp_path: Path, example_repo: Path) -> None:  # noqa: F811
    from crew.history import materialize

    cache = tmp_path / "cache"
    repo = materialize(ROOT / "examples" / "pricing-service", cache / "repos")
    settings = delivery_settings(repo, DEPLOYED, None, None, None, cache)
    assert settings.config is not None and settings.config["push"] is True
    assert Path(str(settings.config["remote_url"])).is_relative_to(cache / "remotes")


@pytest.mark.docker
@pytest.mark.e2e
def test_healcrew_run_on_a_users_checkout_pushes_nothing(
    checkout: Checkout, tmp_path: Path, docker_client: Any,  # noqa: F811
) -> None:
    before = remote_branches(checkout.remote)
    log = ROOT / "examples" / "incidents" / "pricing-zero-division" / "logs.json"
    out = tmp_path / "out"
    proc, result = healcrew_run(checkout.path, log, out, tmp_path / "cache", "--commit", DEPLOYED, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert result["outcome"] == "fixed" and result["delivery"]["pushed"] is False
    assert remote_branches(checkout.remote) == before
    assert (out / "PR.md").is_file() and (out / "fix.patch").is_file()
