"""Contract tests: PyGithub against a local server replaying GitHub REST v3 response shapes.

The server mounts the API under ``/api/v3`` as GitHub Enterprise does, binds 127.0.0.1 on a
free port, records every request, and shuts itself down after a minute at the latest.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from crew.delivery.config import DeliveryConfig
from crew.delivery.github_forge import codeowners_for, open_or_update_pr
from crew.errors import DeliveryError
from tests.replay_server import Reply, serving
from tests.replay_server import Request as RawRequest

pytestmark = pytest.mark.timeout(60)

OWNER, NAME = "acme", "pricing"
TOKEN = "ghp_FAKE0contract0test0token000000000000"
TOKEN_ENV = "HEALCREW_TEST_GITHUB_TOKEN"
BRANCH = "healcrew/pricing-zero-division"
NOW = 1_800_000_000.0  # the fake clock


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGitHub:
    """The state of one fake repository and the requests made to it."""

    port: int = 0
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # (METHOD, path regex) -> queued (status, headers, body) answered before the normal behaviour
    script: dict[tuple[str, str], list[tuple[int, dict[str, str], Any]]] = field(default_factory=dict)
    next_number: int = 41

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v3"

    def on(self, method: str, path: str, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.script.setdefault((method, path), []).append((status, headers or {}, body))

    def calls(self, method: str, path_regex: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(path_regex, r.path)]

    def add_pull(self, **fields: Any) -> dict[str, Any]:
        self.next_number += 1
        n = self.next_number
        repo = f"{self.api}/repos/{OWNER}/{NAME}"
        pr: dict[str, Any] = {
            "id": 1000 + n,
            "number": n,
            "state": "open",
            "title": "Fix ZeroDivisionError in calc (app/pricing.py:27)",
            "body": "old body",
            "url": f"{repo}/pulls/{n}",
            "issue_url": f"{repo}/issues/{n}",
            "html_url": f"https://github.example.com/{OWNER}/{NAME}/pull/{n}",
            "draft": False,
            "merged_at": None,
            "closed_at": None,
            "labels": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "user": {"login": "healcrew-bot", "id": 7, "type": "Bot"},
            "head": {"ref": BRANCH, "label": f"{OWNER}:{BRANCH}", "sha": "0" * 40},
            "base": {"ref": "main", "label": f"{OWNER}:main", "sha": "1" * 40},
        }
        pr.update(fields)
        self.pulls[n] = pr
        return pr

    # -- the REST API

    def answer(self, req: Request) -> tuple[int, dict[str, str], Any]:
        for (method, pattern), queue in self.script.items():
            if method == req.method and re.fullmatch(pattern, req.path) and queue:
                return queue.pop(0)
        if req.headers.get("authorization") != f"token {TOKEN}":
            return 401, {}, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        prefix = f"/api/v3/repos/{OWNER}/{NAME}"
        if not req.path.startswith(prefix):
            return 404, {}, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        rest = req.path[len(prefix) :]
        repo_json = {
            "id": 1,
            "name": NAME,
            "full_name": f"{OWNER}/{NAME}",
            "owner": {"login": OWNER, "id": 2, "type": "Organization"},
            "url": f"{self.api}/repos/{OWNER}/{NAME}",
            "default_branch": "main",
        }
        if req.method == "GET" and rest == "":
            return 200, {}, repo_json
        if req.method == "GET" and rest == "/pulls":
            state = req.query.get("state", ["open"])[0]
            head = req.query.get("head", [None])[0]
            found = [
                p
                for p in self.pulls.values()
                if (head is None or p["head"]["label"] == head) and (state == "all" or p["state"] == state)
            ]
            return 200, {}, found
        if req.method == "POST" and rest == "/pulls":
            body = req.body
            pr = self.add_pull(
                title=body["title"],
                body=body.get("body"),
                draft=bool(body.get("draft", False)),
                head={"ref": body["head"], "label": f"{OWNER}:{body['head']}", "sha": "0" * 40},
                base={"ref": body["base"], "label": f"{OWNER}:{body['base']}", "sha": "1" * 40},
            )
            return 201, {}, pr
        m = re.fullmatch(r"/pulls/(\d+)(/.*)?", rest)
        if m and int(m.group(1)) in self.pulls:
            pr = self.pulls[int(m.group(1))]
            sub = m.group(2) or ""
            if req.method == "PATCH" and sub == "":
                pr.update({k: v for k, v in req.body.items() if k in ("title", "body", "state")})
                return 200, {}, pr
            if req.method == "POST" and sub == "/requested_reviewers":
                pr["requested_reviewers"] = [{"login": u, "id": 9} for u in req.body.get("reviewers", [])]
                pr["requested_teams"] = [{"slug": t, "id": 10} for t in req.body.get("team_reviewers", [])]
                return 201, {}, pr
            if req.method == "GET" and sub == "/files":
                return 200, {}, [{"filename": f, "status": "modified", "sha": "2" * 40} for f in pr.get("_files", [])]
        m = re.fullmatch(r"/issues/(\d+)/(labels|comments)", rest)
        if m and req.method == "POST" and int(m.group(1)) in self.pulls:
            pr = self.pulls[int(m.group(1))]
            if m.group(2) == "labels":
                names = [label["name"] for label in pr["labels"]] + [n for n in req.body if n not in pr["labels"]]
                pr["labels"] = [{"name": n, "id": i} for i, n in enumerate(dict.fromkeys(names))]
                return 200, {}, pr["labels"]
            return 201, {}, {"id": 77, "body": req.body["body"], "url": f"{self.api}/repos/x/issues/comments/77"}
        m = re.fullmatch(r"/contents/(.+)", rest)
        if m and req.method == "GET":
            path = m.group(1)
            if path in self.files:
                content = base64.b64encode(self.files[path].encode()).decode()
                return (
                    200,
                    {},
                    {
                        "type": "file",
                        "encoding": "base64",
                        "content": content,
                        "path": path,
                        "name": path.rsplit("/", 1)[-1],
                        "sha": "3" * 40,
                        "size": len(self.files[path]),
                    },
                )
        return 404, {}, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    def handle(raw: RawRequest) -> Reply:
        req = Request(method=raw.method, path=raw.path, query=raw.query, headers=raw.headers,
                      body=json.loads(raw.body) if raw.body else None)
        fake.requests.append(req)
        status, headers, body = fake.answer(req)
        return status, {"Content-Type": "application/json; charset=utf-8", **headers}, json.dumps(body).encode()

    with serving(handle) as server:
        fake.port = server.port
        yield fake


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def _config(fake: FakeGitHub, **overrides: Any) -> DeliveryConfig:
    github = {"repo": f"{OWNER}/{NAME}", "base_url": fake.api, "token_env": TOKEN_ENV}
    github.update(overrides.pop("github", {}))
    return DeliveryConfig(forge="github", github=github, **overrides)


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _open(fake: FakeGitHub, config: DeliveryConfig | None = None, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "branch": BRANCH,
        "base": "main",
        "title": "Fix ZeroDivisionError in calc (app/pricing.py:27)",
        "body": "## Summary\n\nthe case for the fix",
        "incident_id": "pricing-zero-division",
        "draft": False,
        "labels": ["healcrew", "bug"],
        "reviewers": ["alice", "acme/payments"],
        "touched_files": ["app/pricing.py"],
        "sleep": kw.pop("sleep", FakeSleep()),
        "clock": lambda: NOW,
        "throttle": False,
        "timeout": 5,
    }
    args.update(kw)
    return open_or_update_pr(config or _config(fake), **args)


# --------------------------------------------------------------------------- happy paths


def test_creates_labels_and_requests_review(github: FakeGitHub) -> None:
    info = _open(github)

    assert info.created is True and info.forge == "github" and info.state == "open"
    assert info.number == 42 and info.url.endswith(f"/{OWNER}/{NAME}/pull/42")
    assert all(r.headers["authorization"] == f"token {TOKEN}" for r in github.requests)
    (create,) = github.calls("POST", r"/pulls$")
    assert create.path == f"/api/v3/repos/{OWNER}/{NAME}/pulls"
    assert create.body["head"] == BRANCH and create.body["base"] == "main" and create.body["draft"] is False
    assert create.body["body"].startswith("## Summary")
    lookup = github.calls("GET", r"/pulls$")[0]
    assert lookup.query["state"] == ["all"] and lookup.query["head"] == [f"{OWNER}:{BRANCH}"]
    (labels,) = github.calls("POST", r"/issues/42/labels$")
    assert labels.body == ["healcrew", "bug"]
    (review,) = github.calls("POST", r"/pulls/42/requested_reviewers$")
    assert review.body == {"reviewers": ["alice"], "team_reviewers": ["payments"]}
    assert info.labels == ["healcrew", "bug"] and info.reviewers == ["alice", "acme/payments"]
    assert not github.calls("POST", r"/comments$")


def test_draft_when_asked(github: FakeGitHub) -> None:
    info = _open(github, draft=True)
    assert github.calls("POST", r"/pulls$")[0].body["draft"] is True
    assert info.draft is True


def test_second_run_updates_and_comments_instead_of_opening_another(github: FakeGitHub) -> None:
    first = _open(github)
    second = _open(github, title="Fix ZeroDivisionError in calc (app/pricing.py:27) v2", body="new body")

    assert len(github.calls("POST", r"/pulls$")) == 1  # no second PR
    assert second.created is False and second.number == first.number
    (patch,) = github.calls("PATCH", rf"/pulls/{first.number}$")
    assert patch.body == {"title": "Fix ZeroDivisionError in calc (app/pricing.py:27) v2", "body": "new body"}
    (comment,) = github.calls("POST", rf"/issues/{first.number}/comments$")
    assert "pricing-zero-division" in comment.body["body"] and "title and the description" in comment.body["body"]
    assert second.comment == comment.body["body"]
    assert len(github.calls("POST", r"/labels$")) == 1  # labels already there: not posted again
    assert len(github.calls("POST", r"/requested_reviewers$")) == 1  # humans own reviewers after opening
    assert set(second.labels) == {"healcrew", "bug"}
    assert second.reviewers == ["alice", "acme/payments"]
    assert not github.calls("GET", r"/(pulls|issues)/\d+$")  # everything came from the list: no lazy fetches


def test_reviewers_from_codeowners_when_none_configured(github: FakeGitHub) -> None:
    github.files["CODEOWNERS"] = (
        "# owners\n*            @acme/platform\n/app/        @maya @acme/payments\n"
        "app/pricing.py @tom @healcrew-bot\n*.md docs@example.com\n"
    )
    info = _open(github, reviewers=[], touched_files=["app/pricing.py", "README.md"])

    looked = [r.path.rsplit("/contents/", 1)[1] for r in github.calls("GET", r"/contents/")]
    assert looked == [".github/CODEOWNERS", "CODEOWNERS"]  # GitHub's order, first found wins
    assert github.calls("GET", r"/contents/")[0].query == {"ref": ["main"]}
    (review,) = github.calls("POST", r"/requested_reviewers$")
    assert review.body == {"reviewers": ["tom"], "team_reviewers": []}  # the PR author is not asked
    assert info.reviewers == ["tom"]


def test_reviewers_from_codeowners_for_the_prs_files(github: FakeGitHub) -> None:
    github.files[".github/CODEOWNERS"] = "deploy/ @acme/sre\n"
    original = github.add_pull

    def add_pull(**fields: Any) -> dict[str, Any]:
        return original(_files=["deploy/deployment.yaml"], **fields)

    github.add_pull = add_pull  # type: ignore[method-assign]
    info = _open(github, reviewers=[], touched_files=None)
    assert github.calls("GET", r"/pulls/42/files$")
    assert github.calls("POST", r"/requested_reviewers$")[0].body == {"reviewers": [], "team_reviewers": ["sre"]}
    assert info.reviewers == ["acme/sre"]


def test_refused_reviewers_do_not_fail_the_pull_request(github: FakeGitHub) -> None:
    github.on(
        "POST",
        r".*/requested_reviewers",
        422,
        {"message": "Reviews may only be requested from collaborators.", "documentation_url": "x"},
    )
    info = _open(github)
    assert info.created is True and info.reviewers == []


def test_closed_by_a_person_within_cooldown_is_respected(github: FakeGitHub) -> None:
    closed = github.add_pull(state="closed", closed_at="2027-01-15T07:00:00Z")  # 1 h before NOW
    info = _open(github, _config(github, cooldown_hours=24))

    assert info.state == "closed" and info.created is False and info.number == closed["number"]
    assert not github.calls("POST") and not github.calls("PATCH")  # no reopen, no new PR, no comment


def test_after_the_cooldown_a_new_pr_names_the_closed_one(github: FakeGitHub) -> None:
    closed = github.add_pull(state="closed", closed_at="2027-01-10T08:00:00Z")  # 5 days before NOW
    info = _open(github, _config(github, cooldown_hours=24))
    assert info.created is True and info.number != closed["number"]
    assert f"Supersedes #{closed['number']}" in github.calls("POST", r"/pulls$")[0].body["body"]
    assert not github.calls("PATCH")


def test_merged_means_nothing_to_do(github: FakeGitHub) -> None:
    github.add_pull(state="closed", closed_at="2027-01-15T07:00:00Z", merged_at="2027-01-15T07:00:00Z")
    info = _open(github)
    assert info.state == "merged" and info.created is False
    assert not github.calls("POST") and not github.calls("PATCH")


def test_already_exists_race_finds_and_updates(github: FakeGitHub) -> None:
    existing = github.add_pull()
    github.on("GET", r".*/pulls", 200, [])  # our first lookup misses the concurrent run's PR
    github.on(
        "POST",
        r".*/pulls",
        422,
        {
            "message": "Validation Failed",
            "errors": [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {OWNER}:{BRANCH}.",
                }
            ],
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        },
    )
    info = _open(github)
    assert info.created is False and info.number == existing["number"]
    assert github.calls("PATCH", rf"/pulls/{existing['number']}$")
    assert github.calls("POST", rf"/issues/{existing['number']}/comments$")


# --------------------------------------------------------------------------- failures


def test_missing_token(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(DeliveryError, match=f"set {TOKEN_ENV} to a GitHub token"):
        _open(github)
    assert not github.requests
    with pytest.raises(DeliveryError, match="set GITHUB_TOKEN"):
        _open(github, _config(github, github={"token_env": "GITHUB_TOKEN"}))


def test_bad_token_401(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "ghp_wrong")
    with pytest.raises(DeliveryError) as err:
        _open(github)
    assert f"rejected the token in ${TOKEN_ENV} (401 Bad credentials)" in str(err.value)
    assert "\n" not in str(err.value) and "ghp_wrong" not in str(err.value)


def test_unknown_repo_404(github: FakeGitHub) -> None:
    with pytest.raises(
        DeliveryError, match=r"repository acme/nope not found at http://127\.0\.0\.1:\d+/api/v3 \(404\)"
    ):
        _open(github, _config(github, github={"repo": "acme/nope"}))


def test_other_422_reports_githubs_message(github: FakeGitHub) -> None:
    github.on(
        "POST",
        r".*/pulls",
        422,
        {
            "message": "Validation Failed",
            "errors": [
                {"resource": "PullRequest", "code": "custom", "message": f"No commits between main and {BRANCH}"}
            ],
        },
    )
    with pytest.raises(DeliveryError) as err:
        _open(github)
    assert str(err.value) == (
        f"GitHub rejected the pull request for {OWNER}/{NAME} (422 Validation Failed: No commits between main and "
        f"{BRANCH})"
    )


def _rate_limited(github: FakeGitHub, reset_in: float, times: int = 1) -> None:
    for _ in range(times):
        github.on(
            "POST",
            r".*/pulls",
            403,
            {
                "message": "API rate limit exceeded for user ID 7.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            },
            {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW + reset_in))},
        )


def test_rate_limit_waits_for_the_reset(github: FakeGitHub) -> None:
    _rate_limited(github, reset_in=30)
    sleep = FakeSleep()
    info = _open(github, sleep=sleep)
    assert sleep.calls == [31.0]  # until the reset, plus a second
    assert info.created is True
    assert len(github.calls("POST", r"/pulls$")) == 2


def test_rate_limit_reset_too_far_fails_with_the_reset_time(github: FakeGitHub) -> None:
    _rate_limited(github, reset_in=3600)
    sleep = FakeSleep()
    with pytest.raises(DeliveryError) as err:
        _open(github, _config(github, github={"max_wait_seconds": 120}), sleep=sleep)
    assert sleep.calls == []
    assert "rate limit exceeded; resets at 2027-01-15 09:00:00 UTC" in str(err.value)
    assert "max_wait_seconds=120" in str(err.value)


def test_rate_limit_policy_fail(github: FakeGitHub) -> None:
    _rate_limited(github, reset_in=5)
    sleep = FakeSleep()
    with pytest.raises(DeliveryError, match=r"resets at 2027-01-15 08:00:05 UTC \(rate_limit is 'fail'\)"):
        _open(github, _config(github, github={"rate_limit": "fail"}), sleep=sleep)
    assert sleep.calls == []


def test_rate_limit_that_never_lifts_gives_up(github: FakeGitHub) -> None:
    _rate_limited(github, reset_in=10, times=10)
    sleep = FakeSleep()
    with pytest.raises(DeliveryError, match="rate limit exceeded again after waiting"):
        _open(github, sleep=sleep)
    assert len(sleep.calls) == 3


def test_unreachable_server_is_one_line(github: FakeGitHub) -> None:
    config = _config(github, github={"base_url": "http://127.0.0.1:9/api/v3"})
    with pytest.raises(DeliveryError, match=r"cannot reach GitHub at http://127\.0\.0\.1:9/api/v3"):
        _open(github, config)


# --------------------------------------------------------------------------- CODEOWNERS


CODEOWNERS = """\
# Lines starting with '#' are comments.
*                       @acme/everyone
*.py                    @py-owner
/docs/                  @docs-team-lead
docs/*                  @acme/docs
apps/                   @app-owner
**/logs                 @log-owner
/build/logs/            @build-owner
app/pricing.py          @tom @acme/payments
app/unowned.py
config/*.yaml           maya@example.com @sre
"""


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("README", ["acme/everyone"]),
        ("app/main.py", ["py-owner"]),
        ("app/pricing.py", ["tom", "acme/payments"]),  # last match wins
        ("app/unowned.py", []),  # a pattern without owners clears them
        ("docs/getting-started.md", ["acme/docs"]),
        ("docs/build-app/troubleshooting.md", ["docs-team-lead"]),  # docs/* is one level only
        ("src/apps/x/y.txt", ["app-owner"]),  # apps/ anywhere
        ("deep/a/logs/x.txt", ["log-owner"]),
        ("build/logs/x.txt", ["build-owner"]),
        ("config/app.yaml", ["sre"]),  # e-mail owners cannot be requested
    ],
)
def test_codeowners_last_match_wins(path: str, owners: list[str]) -> None:
    assert codeowners_for([path], CODEOWNERS) == owners


def test_codeowners_union_in_order_without_duplicates() -> None:
    assert codeowners_for(["app/pricing.py", "app/main.py", "app/pricing.py"], CODEOWNERS) == [
        "tom",
        "acme/payments",
        "py-owner",
    ]
    assert codeowners_for(["x.py"], "") == []
