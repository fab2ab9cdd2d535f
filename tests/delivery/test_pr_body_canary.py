"""The canary's outcome in the pull request: in the body when it ran, on GitHub as a comment after the fact."""

from __future__ import annotations

from pathlib import Path

from crew.delivery.canary_outcome import canary_comment, share_canary_outcome
from crew.delivery.pr_body import render_pr_body
from crew.handoffs import DeliveryRecord, PullRequestInfo, RunReport
from tests.canary.records import aborted, promoted
from tests.delivery.test_github_forge import NAME, OWNER, TOKEN_ENV, FakeGitHub, _token, github  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures"


def _report() -> RunReport:
    return RunReport.model_validate_json((FIXTURES / "flagship_report.json").read_text(encoding="utf-8"))


def _top(body: str) -> str:
    return body[: body.index("\n## ")]


def test_a_promoted_canary_is_one_line_of_the_summary_and_a_table_of_steps() -> None:
    body = render_pr_body(_report().model_copy(update={"canary": promoted()}))
    top = _top(body)
    assert ("- **Canary:** promoted on the local canary after 7 of 7 step(s) passed; judge score 100 (pass): "
            "every step passed (stable `755d4d7d14f8`, candidate `9b1c2d3e4f5a`, 42 s).") in top
    assert "back on stable" not in top
    table = body[body.index("<summary>Canary steps</summary>"):body.index("</details>", body.index("Canary steps"))]
    assert "| step | traffic | outcome | judge | analysis | error rate (canary / stable) |" in table
    assert table.count("\n| ") == 8  # the header and seven steps
    assert "| 3\\. analysis | 20 % | passed | pass (100) | success-rate Successful, latency-p90 Successful |" in table
    assert "| 7\\. setWeight | 100 % | passed |" in table and "26 ms / 21 ms" in table


def test_an_aborted_canary_says_where_and_why_and_that_stable_serves_again() -> None:
    top = _top(render_pr_body(_report().model_copy(update={"canary": aborted()})))
    line = next(ln for ln in top.splitlines() if ln.startswith("- **Canary:**"))
    assert line.startswith("- **Canary:** aborted on the local canary after 2 of 3 step(s) passed; judge score 0 "
                           "(fail): analysis success-rate Failed at step 3; judge: error\\_rate high; all traffic is "
                           "back on stable")


def _github_record(number: int) -> DeliveryRecord:
    return DeliveryRecord(incident_id="pricing-zero-division", forge="github", branch="healcrew/pricing-zero-division",
                          base_commit="755d4d7d14f8272059b2183deb61df1f37d217ef", commit="9" * 40, pushed=True,
                          remote="origin", pull_request=PullRequestInfo(forge="github", number=number, url="u",
                                                                        created=True))


def test_the_outcome_is_posted_on_the_github_pr_once_the_canary_ended(github: FakeGitHub,  # noqa: F811
                                                                      tmp_path: Path) -> None:
    pr = github.add_pull()
    report = _report().model_copy(update={"canary": aborted(), "delivery": _github_record(pr["number"])})
    config = {"github": {"repo": f"{OWNER}/{NAME}", "base_url": github.api, "token_env": TOKEN_ENV}}
    notes = share_canary_outcome(report, config, tmp_path)
    assert notes == [f"the canary's outcome is posted on PR #{pr['number']}"]
    (posted,) = github.calls("POST", rf"/issues/{pr['number']}/comments$")
    assert posted.body["body"] == canary_comment(aborted())
    assert posted.body["body"].startswith("**Canary:** aborted on the local canary")
    assert "| 3\\. analysis | 20 % | failed | 11\\.00% / 0.00% | 66 ms / 21 ms |" in posted.body["body"]
    assert [r.method for r in github.requests] == ["POST"]  # no lookups: the PR number is known
    assert not (tmp_path / "PR.md").exists()


def test_a_refused_comment_is_a_note_and_a_canary_that_did_not_run_posts_nothing(github: FakeGitHub,  # noqa: F811
                                                                                 tmp_path: Path) -> None:
    report = _report().model_copy(update={"canary": promoted(), "delivery": _github_record(999)})
    config = {"github": {"repo": f"{OWNER}/{NAME}", "base_url": github.api, "token_env": TOKEN_ENV}}
    (note,) = share_canary_outcome(report, config, tmp_path)
    assert note.startswith("the canary's outcome was not posted on PR #999: GitHub returned 404") and "\n" not in note
    not_run = promoted().model_copy(update={"decision": "not_run"})
    before = len(github.requests)
    assert share_canary_outcome(report.model_copy(update={"canary": not_run}), config, tmp_path) == []
    assert len(github.requests) == before


def test_a_local_review_bundle_gets_its_pr_md_rendered_again(tmp_path: Path) -> None:
    record = DeliveryRecord(incident_id="pricing-zero-division", forge="local", branch="healcrew/x",
                            base_commit="755d4d7d14f8272059b2183deb61df1f37d217ef", commit="9" * 40, pushed=True,
                            remote=str(tmp_path / "remote.git"))
    (tmp_path / "PR.md").write_text("the body as delivered\n")
    report = _report().model_copy(update={"canary": promoted(), "delivery": record})
    assert share_canary_outcome(report, None, tmp_path) == ["PR.md is rendered again with the canary's outcome"]
    assert "- **Canary:** promoted on the local canary" in (tmp_path / "PR.md").read_text()
