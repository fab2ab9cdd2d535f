"""Open (or update) the fix's pull request on GitHub or GitHub Enterprise, with PyGithub.

One incident never opens two pull requests: the PR is found by its head branch first.

- an **open** PR for the branch is updated (title, body) and gets a comment saying what changed;
- a **merged** PR means there is nothing to do: its info is returned, ``state="merged"``;
- a PR **closed by a human** less than ``cooldown_hours`` ago is respected: it is not reopened
  and no new PR is opened; its info is returned with ``state="closed"`` and ``created=False``,
  so the caller records the cool-down as a note instead of failing the run (a person said no;
  that is an outcome, not an error). After the cool-down a new PR is opened that names the
  closed one;
- otherwise a PR is created (as a draft when asked), labelled, and review is requested from the
  configured reviewers or, when none are configured, from the CODEOWNERS of the touched files.

Every GitHub failure becomes one ``DeliveryError`` line. Rate limits are waited out when the
config says ``wait`` and the reset is near enough, else reported with the reset time. PyGithub's
own retries are off (``retry=None``) so that this module alone decides how long to wait.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from crew.errors import DeliveryError
from crew.handoffs import PullRequestInfo

__all__ = ["open_or_update_pr", "codeowners_for", "CODEOWNERS_PATHS"]

log = logging.getLogger(__name__)

CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")  # GitHub's lookup order
DEFAULT_TIMEOUT = 20
_MAX_RATE_LIMIT_RETRIES = 3
_T = TypeVar("_T")


# --------------------------------------------------------------------------- CODEOWNERS


def _codeowners_regex(pattern: str) -> re.Pattern[str]:
    """A CODEOWNERS (gitignore-style) pattern as a regex over repo-relative paths."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    directory = pattern.endswith("/")
    p = pattern.strip("/")
    out = []
    i = 0
    while i < len(p):
        if p.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif p.startswith("/**", i) and i + 3 == len(p):
            out.append("/.*")
            i += 3
        elif p.startswith("**", i):
            out.append(".*")
            i += 2
        elif p[i] == "*":
            out.append("[^/]*")
            i += 1
        elif p[i] == "?":
            out.append("[^/]")
            i += 1
        elif p[i] == "\\" and i + 1 < len(p):
            out.append(re.escape(p[i + 1]))
            i += 2
        else:
            out.append(re.escape(p[i]))
            i += 1
    body = "".join(out)
    prefix = "^" if anchored else "^(?:.*/)?"
    if directory:
        suffix = "/.*$"
    elif pattern.endswith("/*"):
        suffix = "$"  # ``docs/*`` owns the files in docs/, not those in its subfolders
    else:
        suffix = "(?:/.*)?$"  # a name owns the directory of that name and everything below it
    return re.compile(prefix + body + suffix)


def _parse_codeowners(text: str) -> list[tuple[re.Pattern[str], list[str]]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("["):  # comments, GitLab-style sections
            continue
        parts = re.split(r"(?<!\\)\s+", line.split(" #", 1)[0].strip())
        pattern, owners = parts[0], parts[1:]
        try:
            rules.append((_codeowners_regex(pattern), owners))
        except re.error:
            continue
    return rules


def codeowners_for(paths: list[str], codeowners_text: str) -> list[str]:
    """The owners of ``paths`` by a CODEOWNERS file: ``user`` and ``org/team``, without the ``@``.

    The last matching pattern wins for each path (GitHub's rule); a matching pattern with no
    owners means the path has none. E-mail owners are dropped: review cannot be requested from
    an address. The result keeps first-seen order without duplicates.
    """
    rules = _parse_codeowners(codeowners_text)
    owners: list[str] = []
    for path in paths:
        rel = path.lstrip("/")
        matched: list[str] | None = None
        for regex, who in rules:
            if regex.match(rel):
                matched = who
        for owner in matched or []:
            if owner.startswith("@") and owner[1:] not in owners:
                owners.append(owner[1:])
    return owners


# --------------------------------------------------------------------------- errors and rate limits


def _lower_headers(exc: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (getattr(exc, "headers", None) or {}).items()}


def _gh_message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    message = ""
    details: list[str] = []
    if isinstance(data, dict):
        message = str(data.get("message") or "")
        for err in data.get("errors") or []:
            if isinstance(err, dict):
                text = err.get("message") or " ".join(str(err.get(k, "")) for k in ("resource", "field", "code"))
                details.append(str(text).strip())
            elif err:
                details.append(str(err))
    elif data:
        message = str(data)
    text = message or getattr(exc, "message", None) or ""
    if details:
        text = f"{text}: {'; '.join(d for d in details if d)}" if text else "; ".join(details)
    return " ".join(str(text).split())[:300]


def _rate_limit_wait(exc: Any, clock: Callable[[], float]) -> tuple[float, datetime | None] | None:
    """Seconds to wait (and the reset time) when ``exc`` is a rate limit, else None."""
    status = getattr(exc, "status", None)
    if status not in (403, 429):
        return None
    headers = _lower_headers(exc)
    message = _gh_message(exc).lower()
    limited = (
        status == 429
        or headers.get("x-ratelimit-remaining") == "0"
        or "retry-after" in headers
        or "rate limit" in message
    )
    if not limited:
        return None
    now = clock()
    if "retry-after" in headers:
        try:
            wait = max(0.0, float(headers["retry-after"]))
            return wait, datetime.fromtimestamp(now + wait, UTC)
        except ValueError:
            pass
    if "x-ratelimit-reset" in headers:
        try:
            reset = float(headers["x-ratelimit-reset"])
            return max(0.0, reset - now) + 1.0, datetime.fromtimestamp(reset, UTC)
        except ValueError:
            pass
    return 60.0, None  # GitHub's advice for a secondary limit without headers: wait at least a minute


def _error_line(exc: Any, repo_name: str, token_env: str, where: str, repo_lookup: bool = False) -> str:
    status = getattr(exc, "status", None)
    message = _gh_message(exc)
    if status == 401:
        return f"GitHub rejected the token in ${token_env} (401 {message or 'Bad credentials'}); check it is valid"
    if status == 404 and not repo_lookup:
        return f"GitHub returned 404 for a request on {repo_name} at {where} ({message or 'Not Found'})"
    if status == 404:
        return (
            f"GitHub repository {repo_name} not found at {where} (404); check delivery.github.repo and that "
            f"the token in ${token_env} can see it"
        )
    if status == 403:
        return f"GitHub refused the request for {repo_name} (403 {message}); the token needs pull request write access"
    if status == 422:
        return f"GitHub rejected the pull request for {repo_name} (422 {message})"
    return f"GitHub API error for {repo_name} ({status} {message})".strip()


class _Api:
    """Calls into PyGithub with the rate-limit policy applied to each call."""

    def __init__(self, config: Any, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        gh = getattr(config, "github", config)
        self.policy = str(getattr(gh, "rate_limit", "wait"))
        self.max_wait = float(getattr(gh, "max_wait_seconds", 300))
        self.sleep, self.clock = sleep, clock

    def call(self, fn: Callable[[], _T]) -> _T:
        from github.GithubException import GithubException

        for attempt in range(_MAX_RATE_LIMIT_RETRIES + 1):
            try:
                return fn()
            except GithubException as exc:
                limit = _rate_limit_wait(exc, self.clock)
                if limit is None:
                    raise
                wait, reset = limit
                when = f"resets at {reset:%Y-%m-%d %H:%M:%S} UTC" if reset else "no reset time given"
                if self.policy != "wait":
                    raise DeliveryError(f"GitHub rate limit exceeded; {when} (rate_limit is 'fail')") from None
                if wait > self.max_wait:
                    raise DeliveryError(
                        f"GitHub rate limit exceeded; {when}, in {wait:.0f} s, longer than "
                        f"max_wait_seconds={self.max_wait:.0f}"
                    ) from None
                if attempt == _MAX_RATE_LIMIT_RETRIES:
                    raise DeliveryError(f"GitHub rate limit exceeded again after waiting; {when}") from None
                log.warning("GitHub rate limit exceeded; waiting %.0f s (%s)", wait, when)
                self.sleep(wait)
        raise AssertionError("unreachable")


# --------------------------------------------------------------------------- pull requests


def _info(
    pr: Any,
    *,
    created: bool,
    labels: list[str] | None = None,
    reviewers: list[str] | None = None,
    comment: str | None = None,
) -> PullRequestInfo:
    state: Literal["open", "closed", "merged"] = (
        "merged" if getattr(pr, "merged_at", None) else ("open" if pr.state == "open" else "closed")
    )
    if labels is None:
        labels = [label.name for label in pr.labels or []]
    if reviewers is None:
        reviewers = [u.login for u in pr.requested_reviewers or []]
        # the team objects in a PR carry no organization; the PR's own organization owns them
        org = pr.base.label.split(":", 1)[0] if getattr(pr.base, "label", None) else ""
        reviewers += [f"{org}/{t.slug}" if org else t.slug for t in pr.requested_teams or []]
    return PullRequestInfo(
        forge="github",
        number=pr.number,
        url=pr.html_url,
        state=state,
        draft=bool(pr.draft),
        created=created,
        labels=labels,
        reviewers=reviewers,
        comment=comment,
    )


def _pick_existing(pulls: list[Any]) -> Any | None:
    """The open PR if there is one, else the most recently closed or merged."""
    open_prs = [p for p in pulls if p.state == "open"]
    if open_prs:
        return max(open_prs, key=lambda p: p.number)
    if not pulls:
        return None
    epoch = datetime.min.replace(tzinfo=UTC)
    return max(pulls, key=lambda p: (p.merged_at or p.closed_at or epoch, p.number))


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def _client(token: str, base_url: str | None, timeout: int, throttle: bool, lazy: bool = False) -> Any:
    from github import Auth, Github

    kwargs: dict[str, Any] = {"auth": Auth.Token(token), "timeout": timeout, "retry": None, "per_page": 50}
    if lazy:  # objects are made from what we know, without a GET each
        kwargs["lazy"] = True
    if base_url:
        kwargs["base_url"] = base_url.rstrip("/")
    if not throttle:  # PyGithub spaces writes by a second by default (GitHub's advice); tests need not
        kwargs["seconds_between_requests"] = None
        kwargs["seconds_between_writes"] = None
    return Github(**kwargs)


def _fetch_codeowners(api: _Api, repo: Any, ref: str) -> str | None:
    from github.GithubException import GithubException

    for path in CODEOWNERS_PATHS:
        try:
            content = api.call(lambda p=path: repo.get_contents(p, ref=ref))  # type: ignore[misc]
        except GithubException as exc:
            if exc.status == 404:
                continue
            raise
        if isinstance(content, list):
            continue
        return content.decoded_content.decode("utf-8", errors="replace")
    return None


def _request_review(
    api: _Api,
    repo: Any,
    pr: Any,
    base: str,
    reviewers: list[str],
    touched_files: list[str] | None,
    codeowners_text: str | None,
) -> list[str]:
    from github.GithubException import GithubException

    wanted = [r.lstrip("@") for r in reviewers if r.strip("@ ")]
    if not wanted:
        if codeowners_text is None:
            codeowners_text = _fetch_codeowners(api, repo, base)
        if not codeowners_text:
            return []
        if touched_files is None:
            touched_files = [f.filename for f in api.call(lambda: list(pr.get_files()))]
        wanted = codeowners_for(touched_files, codeowners_text)
    author = getattr(getattr(pr, "user", None), "login", None)
    users = [w for w in wanted if "/" not in w and w != author]
    teams = [w.split("/", 1)[1] for w in wanted if "/" in w]
    if not users and not teams:
        return []
    try:
        api.call(lambda: pr.create_review_request(reviewers=users or [], team_reviewers=teams or []))
    except GithubException as exc:
        if exc.status != 422:
            raise
        # A reviewer who is not a collaborator must not cost us the pull request itself.
        log.warning("review request on PR #%s refused: %s", pr.number, _gh_message(exc))
        return []
    return [w for w in wanted if w != author]


def _update(api: _Api, pr: Any, title: str, body: str, incident_id: str, labels: list[str]) -> PullRequestInfo:
    changed = [
        name for name, old, new in (("title", pr.title, title), ("description", pr.body or "", body)) if old != new
    ]
    api.call(lambda: pr.edit(title=title, body=body))
    have = {label.name for label in pr.labels or []}
    missing = [label for label in labels if label not in have]
    if missing:
        api.call(lambda: pr.add_to_labels(*missing))
    if changed:
        said = (
            f"healcrew ran again for incident `{incident_id}` and updated the {' and the '.join(changed)} "
            "of this pull request with the latest evidence and verdicts."
        )
    else:
        said = f"healcrew ran again for incident `{incident_id}` and found the same fix; nothing changed."
    if missing:
        said += f" Added label(s): {', '.join(missing)}."
    api.call(lambda: pr.create_issue_comment(said))
    return _info(pr, created=False, labels=sorted(have | set(labels)), comment=said)


def open_or_update_pr(
    config: Any,
    branch: str,
    base: str,
    title: str,
    body: str,
    incident_id: str,
    draft: bool,
    labels: list[str],
    reviewers: list[str],
    *,
    touched_files: list[str] | None = None,
    codeowners_text: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    throttle: bool = True,
    timeout: int = DEFAULT_TIMEOUT,
) -> PullRequestInfo:
    """Open the pull request for ``branch`` into ``base``, or update the one already there.

    ``config`` is a ``DeliveryConfig`` (its ``github`` settings and ``cooldown_hours``) or any
    object with those attributes. Reviewers, when empty, come from CODEOWNERS for
    ``touched_files`` (or the PR's files); ``codeowners_text`` skips fetching the file. ``sleep``
    and ``clock`` are injectable for tests; ``throttle=False`` drops PyGithub's write spacing.
    Raises ``DeliveryError`` with one line on any failure.
    """
    import requests
    from github.GithubException import GithubException

    gh_cfg = getattr(config, "github", config)
    repo_name = getattr(gh_cfg, "repo", None)
    if not repo_name or "/" not in repo_name:
        raise DeliveryError("set delivery.github.repo to 'owner/name' to open a pull request on GitHub")
    token_env = str(getattr(gh_cfg, "token_env", None) or "GITHUB_TOKEN")
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise DeliveryError(f"set {token_env} to a GitHub token that may open pull requests on {repo_name}")
    base_url = getattr(gh_cfg, "base_url", None)
    where = base_url or "github.com"
    cooldown = timedelta(hours=float(getattr(config, "cooldown_hours", 24.0)))
    api = _Api(config, sleep, clock)
    owner = repo_name.split("/", 1)[0]
    client = _client(token, base_url, timeout, throttle)
    try:
        try:
            repo = api.call(lambda: client.get_repo(repo_name))
        except GithubException as exc:
            raise DeliveryError(_error_line(exc, repo_name, token_env, where, repo_lookup=True)) from None

        def find() -> Any | None:
            return _pick_existing(api.call(lambda: list(repo.get_pulls(state="all", head=f"{owner}:{branch}"))))

        existing = find()
        if existing is not None and existing.state == "open":
            return _update(api, existing, title, body, incident_id, labels)
        if existing is not None and existing.merged_at:
            return _info(existing, created=False, comment=None)
        if existing is not None:
            closed_at = _aware(existing.closed_at)
            now = datetime.fromtimestamp(clock(), UTC)
            if closed_at is None or now - closed_at < cooldown:
                log.info("PR #%s for %s was closed by a person; in cool-down, not reopening", existing.number, branch)
                return _info(existing, created=False, comment=None)
            body = body.rstrip() + (
                f"\n\n_Supersedes #{existing.number}, closed {closed_at:%Y-%m-%d %H:%M} UTC; "
                "the crash is still happening._\n"
            )
        try:
            pr = api.call(lambda: repo.create_pull(base=base, head=branch, title=title, body=body, draft=draft))
        except GithubException as exc:
            if exc.status == 422 and "already exists" in _gh_message(exc).lower():
                again = find()  # opened by a concurrent run between our lookup and our create
                if again is not None and again.state == "open":
                    return _update(api, again, title, body, incident_id, labels)
            raise
        if labels:
            api.call(lambda: pr.add_to_labels(*labels))
        requested = _request_review(api, repo, pr, base, reviewers, touched_files, codeowners_text)
        return _info(pr, created=True, labels=list(labels), reviewers=requested)
    except GithubException as exc:
        raise DeliveryError(_error_line(exc, repo_name, token_env, where)) from None
    except requests.exceptions.RequestException as exc:
        raise DeliveryError(f"cannot reach GitHub at {where}: {type(exc).__name__}") from None
    finally:
        client.close()


def comment_on_pr(
    config: Any,
    number: int,
    body: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    throttle: bool = True,
    timeout: int = DEFAULT_TIMEOUT,
) -> str:
    """Post ``body`` as a comment on pull request ``number``; the comment's URL. ``DeliveryError`` in one line."""
    import requests
    from github.GithubException import GithubException

    gh_cfg = getattr(config, "github", config)
    repo_name = getattr(gh_cfg, "repo", None)
    if not repo_name or "/" not in repo_name:
        raise DeliveryError("set delivery.github.repo to 'owner/name' to comment on a pull request on GitHub")
    token_env = str(getattr(gh_cfg, "token_env", None) or "GITHUB_TOKEN")
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise DeliveryError(f"set {token_env} to a GitHub token that may comment on {repo_name}")
    base_url = getattr(gh_cfg, "base_url", None)
    where = base_url or "github.com"
    api = _Api(config, sleep, clock)
    client = _client(token, base_url, timeout, throttle, lazy=True)  # one request: the comment's POST
    try:
        issue = client.get_repo(repo_name).get_issue(number)
        comment = api.call(lambda: issue.create_comment(body))
        return str(getattr(comment, "html_url", None) or getattr(comment, "url", ""))
    except GithubException as exc:
        raise DeliveryError(_error_line(exc, repo_name, token_env, where)) from None
    except requests.exceptions.RequestException as exc:
        raise DeliveryError(f"cannot reach GitHub at {where}: {type(exc).__name__}") from None
    finally:
        client.close()
