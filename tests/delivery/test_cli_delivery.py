"""CLI: pr show / pr close, --deliver and --remote, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crew.delivery import local_forge
from crew.delivery.config import DeliveryConfig
from crew.delivery.deliver import deliver
from crew.handoffs import RunReport
from crew.repo import GitRepo
from tests.e2e_helpers import assert_one_line_error, healcrew

from .conftest import DEPLOYED, ROOT, Checkout, git, remote_branches

FLAGSHIP = ROOT / "examples" / "incidents" / "pricing-zero-division"


def test_pr_show_and_close(checkout: Checkout, report: RunReport, tmp_path: Path) -> None:
    out = tmp_path / "out"
    record = deliver(report, GitRepo(checkout.path, DEPLOYED), DeliveryConfig(), out)
    cache = tmp_path / "cache"
    shown = healcrew("pr", "show", str(out), "--raw", cache=cache)
    assert shown.returncode == 0 and shown.stdout == (out / "PR.md").read_text()
    via_json = healcrew("pr", "show", str(out / "report.json"), cache=cache)  # not a terminal: raw
    assert via_json.returncode == 0 and "ZeroDivisionError" in via_json.stdout

    closed = healcrew("pr", "close", str(out), cache=cache)
    assert closed.returncode == 0 and "closed local PR #1" in closed.stdout
    assert record.remote is not None
    stored = local_forge.load_pr(record.remote, report.incident.id, cache)
    assert stored is not None and stored.state == "closed" and stored.closed_at is not None


def test_pr_show_without_a_delivery_renders_the_report(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "accepted_report.json"
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.json").write_text(fixture.read_text())
    shown = healcrew("pr", "show", str(out), "--raw", cache=tmp_path / "cache")
    assert shown.returncode == 0 and "pricing-zero-division" in shown.stdout
    assert_one_line_error(healcrew("pr", "close", str(out), cache=tmp_path / "cache"), 2, "opened no pull request")


def test_pr_commands_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(healcrew("pr", "show", str(tmp_path / "nope"), cache=tmp_path), 2, "no report.json")
    (tmp_path / "report.json").write_text("{}")
    assert_one_line_error(healcrew("pr", "show", str(tmp_path), cache=tmp_path), 2, "not a healcrew run report")


def test_bad_deliver_value_fails_before_the_run(tmp_path: Path) -> None:
    proc = healcrew("replay", str(FLAGSHIP), "--deliver", "email", "--out", str(tmp_path / "o"), cache=tmp_path / "c")
    assert_one_line_error(proc, 2, "--deliver must be local, github or none")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ the whole pipeline (real Docker engine)


@pytest.mark.docker
@pytest.mark.e2e
def test_replay_delivers_to_a_remote_then_updates_it(tmp_path: Path, docker_client: Any) -> None:
    cache = tmp_path / "cache"
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    out = tmp_path / "out"
    args = ("replay", str(FLAGSHIP), "--sandbox", "docker", "--remote", str(remote), "--out", str(out), "--json")
    first = healcrew(*args, cache=cache, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    report = RunReport.model_validate_json(first.stdout)
    assert report.outcome == "fixed" and report.delivery is not None and report.delivery.pushed
    assert [t.stage for t in report.timings][-1] == "delivery"
    branch = report.delivery.branch
    assert remote_branches(remote)[branch] == report.delivery.commit
    assert (out / "PR.md").is_file() and (out / "fix.patch").is_file()

    second = healcrew(*args, cache=cache, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    again = json.loads(second.stdout)["delivery"]
    assert again["pull_request"]["number"] == report.delivery.pull_request.number  # type: ignore[union-attr]
    assert again["pull_request"]["created"] is False and again["pull_request"]["comment"]
    assert list(remote_branches(remote)) == [branch]


@pytest.mark.docker
@pytest.mark.e2e
def test_replay_with_deliver_none_and_with_a_bad_remote(tmp_path: Path, docker_client: Any) -> None:
    cache = tmp_path / "cache"
    none = healcrew("replay", str(FLAGSHIP), "--sandbox", "docker", "--deliver", "none", "--out",
                    str(tmp_path / "a"), "--json", cache=cache, timeout=600)
    assert none.returncode == 0, none.stderr[-2000:]
    assert json.loads(none.stdout)["delivery"] is None and not (tmp_path / "a" / "PR.md").exists()

    out = tmp_path / "b"
    bad = healcrew("replay", str(FLAGSHIP), "--sandbox", "docker", "--remote", "ssh://127.0.0.1:1/nothing.git",
                   "--out", str(out), cache=cache, timeout=600)
    assert_one_line_error(bad, 2, "cannot reach remote ssh://127.0.0.1:1/nothing.git")
    saved = RunReport.model_validate_json((out / "report.json").read_text())
    assert saved.stopped_at == "delivery" and saved.delivery is not None
    assert saved.delivery.error is not None and "cannot reach remote" in saved.delivery.error
    assert "if not d:" in (out / "fix.patch").read_text()  # the validated fix is not lost
