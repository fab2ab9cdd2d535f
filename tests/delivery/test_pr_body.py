"""The PR body carries the whole case for the fix, with the reviewer's minute on the first screen, working
links, commands that work on a fresh clone, and no secrets or noise."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from crew.delivery.pr_body import MAX_BODY_CHARS, fix_in_one_sentence, render_pr_body, repo_web_url_from, safe_url
from crew.delivery.repo_facts import RepoFacts, Workload
from crew.handoffs import (
    AlertInfo,
    Attempt,
    Critique,
    DeliveryRecord,
    Finding,
    KubernetesSource,
    LogSource,
    LokiSource,
    RunReport,
)
from tests.delivery.conftest import git

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://github.com/acme/pricing-service"
DEPLOYED = "755d4d7d14f8272059b2183deb61df1f37d217ef"
SUSPECT = "220d2f4fcf019fe277a5663bd47981d8d644cc8d"
CREATED = "09aa995dc5d8e35c89391cae9c8354b655c550d8"  # the commit that added app/pricing.py
FIX_SHA = "0123456789abcdef0123456789abcdef01234567"
ROLLOUT = Workload(kind="Rollout", name="pricing-service", namespace="shop", path="deploy/rollout.yaml",
                   containers=("pricing",))


def _load(name: str) -> RunReport:
    return RunReport.model_validate_json((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def flagship() -> RunReport:
    return _load("flagship_report.json")


@pytest.fixture
def oom() -> RunReport:
    return _load("oom_report.json")


def _delivery(report: RunReport, **updates: object) -> DeliveryRecord:
    values: dict[str, object] = {
        "incident_id": report.incident.id, "forge": "github", "branch": f"healcrew/{report.incident.id}",
        "base_commit": DEPLOYED, "commit": FIX_SHA, "remote": "origin", "pushed": True,
        "notes": ["rebased onto origin/main (abc); the sandbox validated the fix on the deployed commit"],
    }
    return DeliveryRecord(**(values | updates))  # type: ignore[arg-type]


def _section(body: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |^---$|\Z)", body, re.S | re.M)
    assert m, f"section {title!r} missing"
    return m.group(1)


def _top(body: str) -> str:
    """Everything before the first heading: the reviewer's first screen."""
    return body[: body.index("\n## ")]


def _footer(body: str) -> str:
    return body[body.rindex("\n---\n"):]


# --------------------------------------------------------------------------- the first screen


def test_the_first_screen_is_summary_diff_and_checks_before_any_evidence(flagship: RunReport) -> None:
    body = render_pr_body(flagship, _delivery(flagship), repo_web_url=URL)
    assert body.startswith("<!-- healcrew:incident=pricing-zero-division run=")
    top = _top(body)
    crash, fix, proof = (top.index(f"- **{w}") for w in ("Crash:", "Fix", "Proof:"))
    diff, table = top.index("```diff\n"), top.index("| check | result |")
    assert crash < fix < proof < diff < table  # three lines, then the diff, then the pass/fail table
    assert body.index("## ") > table  # no section (root cause, evidence, ...) comes before them
    headings = re.findall(r"^## (.+)$", body, re.M)
    assert headings == ["Root cause", "Why this fix", "Regression test", "How it was checked", "Evidence",
                        "Reproduce locally", "Roll back"]


def test_the_summary_says_what_crashed_how_often_since_which_commit_the_fix_and_the_proof(flagship: RunReport) -> None:
    top = _top(render_pr_body(flagship, repo_web_url=URL))
    crash = re.search(r"^- \*\*Crash:\*\* (.+)$", top, re.M)
    assert crash is not None
    assert "**pricing-service**" in crash.group(1) and "`ZeroDivisionError: float division by zero`" in crash.group(1)
    assert "**3×** between 2026-11-04 02:12:24 UTC and 02:13:39 UTC" in crash.group(1)
    since = f'since commit [`{SUSPECT[:12]}`]({URL}/commit/{SUSPECT}) "Apply per-item discount divisor"'
    assert since in crash.group(1)
    assert "- **Fix** (guard in `app/pricing.py`): Guard the divisor where the division happens" in top
    assert ("- **Proof:** the new regression test fails on the deployed code with production's `ZeroDivisionError` "
            "and passes with the fix; the existing suite stays green (12 passed); 25 ordinary inputs return what "
            "they did before") in top


def test_the_checks_are_in_plain_words_not_only_marks(flagship: RunReport) -> None:
    table = _top(render_pr_body(flagship))
    assert re.search(r"\| regression test, deployed code \| ✅ fails before: `ZeroDivisionError` at "
                     r"`app/pricing.py:27` \(the fault line\), as in production \|", table)
    assert "| regression test, with the fix | ✅ passes after |" in table
    assert "| existing test suite | ✅ suite green: 12 passed, none newly failing; 12 passed before |" in table
    assert "| differential check, ordinary inputs | ✅ 25 inputs compared, same results before and after |" in table


def test_failing_checks_say_so_in_words(flagship: RunReport) -> None:
    assert flagship.accepted is not None and flagship.accepted.validation is not None
    bad = flagship.accepted.validation.model_copy(update={
        "newly_failing": ["tests/test_pricing.py::test_total"], "no_regressions": False,
        "differential_ok": False, "differential_mismatches": ["calc(1.0, 2.0)"]})
    accepted = flagship.accepted.model_copy(update={"validation": bad})
    top = _top(render_pr_body(flagship.model_copy(update={"accepted": accepted})))
    assert "| existing test suite | ❌ suite not green: 1 newly failing: `tests/test_pricing.py::test_total` |" in top
    assert "| differential check, ordinary inputs | ❌ 25 inputs compared, 1 differ |" in top
    assert "1 existing tests newly fail" in top and "1 of 25 ordinary inputs now return something else" in top


def test_behaviour_change_and_kind_in_one_sentence(flagship: RunReport) -> None:
    assert flagship.accepted is not None and flagship.accepted.proposal.test is not None
    test = flagship.accepted.proposal.test.model_copy(update={"expected": "12.5"})
    proposal = flagship.accepted.proposal.model_copy(update={"test": test})
    report = flagship.model_copy(update={"accepted": flagship.accepted.model_copy(update={"proposal": proposal})})
    top = _top(render_pr_body(report))
    assert ("**Behaviour change:** `calc(12.5, 0.0)` now returns `12.5` instead of raising `ZeroDivisionError`; "
            "the 25 ordinary inputs compared return what they did before. **Kind of fix:** guard — ") in top
    assert "`calc(12.5, 0.0)` no longer raises `ZeroDivisionError`" in _top(render_pr_body(flagship))


def test_confidence_and_repair_score_are_explained_in_words(flagship: RunReport) -> None:
    top = _top(render_pr_body(flagship))
    assert "**Confidence: high** — diagnosis 0.90, repair score 0.80." in top
    assert "The diagnosis score is how sure healcrew is of the fault line and its cause" in top
    assert "none here" in top and "it only ordered the candidates" in top
    assert "Below 0.70 the PR opens as a draft." in top
    assert "[!WARNING]" not in top


def test_a_low_confidence_is_marked_at_the_very_top_as_a_draft(flagship: RunReport) -> None:
    assert flagship.diagnosis is not None
    doubts = flagship.diagnosis.hypothesis + " Doubts: 2 distinct crash signatures were seen."
    low = flagship.model_copy(update={"diagnosis": flagship.diagnosis.model_copy(
        update={"confidence": 0.4, "hypothesis": doubts})})
    body = render_pr_body(low)
    first = body.splitlines()[1:3]
    assert first[0] == "> [!WARNING]"
    assert first[1].startswith("> **Needs a careful look.** Opened as a draft: the diagnosis confidence 0.40 is "
                               "below 0.70 (2 distinct crash signatures were seen).")
    assert "**Confidence: low** — diagnosis 0.40" in body and "here: 2 distinct crash signatures were seen" in body
    # the threshold is the one delivery drafts with: draft_below_confidence
    config = SimpleNamespace(github=SimpleNamespace(repo=None, base_url=None), draft_below_confidence=0.3)
    assert "[!WARNING]" not in render_pr_body(low, None, config)
    assert "**Confidence: medium**" in render_pr_body(low, None, config)


def test_links_to_alert_runbook_logs_suspect_and_incident(flagship: RunReport) -> None:
    body = render_pr_body(flagship, repo_web_url=URL, incident_url="http://healcrew.internal:8080/incidents/abc123")
    links = re.search(r"^\*\*Links:\*\* (.+)$", body, re.M)
    assert links is not None
    line = links.group(1)
    assert "[alert `KubePodCrashLooping`](http://prometheus.monitoring.svc:9090/graph?g0.expr=max_over_time%28" in line
    assert "[runbook](https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping)" in line
    assert "logs: the file `logs.json` given to healcrew" in line
    assert f"suspect commit [`{SUSPECT[:12]}`]({URL}/commit/{SUSPECT})" in line
    assert "[this incident in healcrew serve](http://healcrew.internal:8080/incidents/abc123)" in line
    assert "the incident" in _footer(body) and "/approve" in _footer(body)


def test_the_log_source_is_linked_for_loki_and_named_for_kubernetes(flagship: RunReport) -> None:
    loki = LogSource(loki=LokiSource(url="http://loki:3100", query='{namespace="shop", container="pricing"}'))
    body = render_pr_body(flagship.model_copy(update={"incident": flagship.incident.model_copy(update={"logs": loki})}))
    m = re.search(r"\[Loki query\]\((http://loki:3100/loki/api/v1/query_range\?[^)]+)\) `(.+?)`", body)
    assert m is not None and m.group(2) == '{namespace="shop", container="pricing"}'
    assert "query=%7Bnamespace%3D%22shop%22" in m.group(1) and "&start=" in m.group(1) and "&end=" in m.group(1)
    kube = LogSource(kubernetes=KubernetesSource(namespace="shop", pod="pricing-x", container="pricing"))
    body = render_pr_body(flagship.model_copy(update={"incident": flagship.incident.model_copy(update={"logs": kube})}))
    assert "logs: `kubectl logs --previous -n shop pricing-x -c pricing`" in body
    assert "kubectl logs --previous -n shop pricing-x -c pricing > crash.log" in _section(body, "Reproduce locally")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "http://",
                                 "http://a b.example/", "http://x.example/\n[y](javascript:1)"])
def test_only_http_urls_become_links(url: str) -> None:
    assert safe_url(url) is None


def test_a_hostile_alert_url_cannot_break_out_of_its_link(flagship: RunReport) -> None:
    alert = flagship.incident.alerts[0].model_copy(update={
        "generator_url": "http://x.example/a)](javascript:alert(1))<img/src=x/onerror=alert(1)>",
        "annotations": {"runbook_url": "javascript:alert(1)"}})
    body = render_pr_body(flagship.model_copy(update={"incident": flagship.incident.model_copy(
        update={"alerts": [alert]})}))
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(body)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(h.startswith("http") for h in hrefs)
    assert "<img" not in html and "runbook" not in body


def test_the_root_cause_links_the_fault_line_and_the_suspect(flagship: RunReport) -> None:
    root = _section(render_pr_body(flagship, repo_web_url=URL + "/"), "Root cause")
    assert f"[`app/pricing.py:27`]({URL}/blob/{DEPLOYED}/app/pricing.py#L27)" in root
    assert f"[`{SUSPECT[:12]}`]({URL}/commit/{SUSPECT})" in root
    assert "Apply per-item discount divisor" in root and "Tom Okafor" in root
    assert "tom.okafor@example.com" not in root  # names, not emails
    assert ">   27      return p / d" in root  # the code around the fault line, marked


def test_plain_locations_without_a_web_url(flagship: RunReport) -> None:
    body = render_pr_body(flagship)
    assert f"`app/pricing.py:27` @ `{DEPLOYED[:12]}`" in _section(body, "Root cause")
    assert "](http" not in _section(body, "Root cause")
    assert f"`{SUSPECT[:12]}`" in body


def test_web_url_from_config_for_github_and_enterprise(flagship: RunReport) -> None:
    gh = SimpleNamespace(github=SimpleNamespace(repo="acme/pricing-service", base_url=None), draft_below_confidence=0.7)
    ghe = SimpleNamespace(github=SimpleNamespace(repo="acme/pricing", base_url="https://ghe.example.com/api/v3"))
    assert repo_web_url_from(gh) == URL
    assert repo_web_url_from(ghe) == "https://ghe.example.com/acme/pricing"
    assert repo_web_url_from(SimpleNamespace(github=SimpleNamespace(repo=None, base_url=None))) is None
    body = render_pr_body(flagship, None, ghe)
    assert f"https://ghe.example.com/acme/pricing/blob/{DEPLOYED}/app/pricing.py#L27" in body


# --------------------------------------------------------------------------- noise out


def test_the_commit_that_created_the_file_is_not_a_suspect(flagship: RunReport) -> None:
    """The diagnosis flags the suspect that added app/pricing.py (tests/test_diagnostic.py checks git's answer)."""
    report = flagship
    assert report.diagnosis is not None
    flags = {s.sha: s.created_file for s in report.diagnosis.suspect_commits}
    assert flags == {SUSPECT: False, CREATED: True}  # git log -L lists both
    body = render_pr_body(report)
    assert CREATED[:12] not in body and "Add pricing service" not in body
    assert body.count("**Suspect commit:**") == 1 and SUSPECT[:12] in _section(body, "Root cause")
    # when the only suspect created the file, the PR says the line is as old as the file
    only = report.diagnosis.model_copy(update={"suspect_commits": [report.diagnosis.suspect_commits[-1]]})
    assert only.suspect_commits[0].sha == CREATED
    body = render_pr_body(report.model_copy(update={"diagnosis": only}))
    assert "- **Suspect commit:** none; the fault line is as old as the file" in body
    assert "since commit" not in _top(body) and f"on the deployed commit `{DEPLOYED[:12]}`" in _top(body)


def test_only_the_alert_labels_that_matter(flagship: RunReport) -> None:
    ev = _section(render_pr_body(flagship), "Evidence")
    assert "`severity=warning`" in ev and "`reason=CrashLoopBackOff`" in ev
    for noise in ("uid=", "instance=", "prometheus=", "endpoint=", "job=", "namespace=shop", "pod="):
        assert noise not in ev, noise  # scrape plumbing, or already said in the summary


def test_traceback_source_lines_are_not_data_near_the_crash(flagship: RunReport) -> None:
    ev = _section(render_pr_body(flagship), "Evidence")
    data = ev[ev.index("<summary>Log lines with data near the crash"):]
    data = data[: data.index("</details>")]
    assert "quote request" in data
    assert "unit = round(calc(price, discount), 2)" not in data and "result = await app(" not in data
    assert "<summary>Log lines with data near the crash (10 from logs.json" in ev


def test_internal_delivery_notes_stay_out_of_the_body(flagship: RunReport) -> None:
    notes = ["the remote branch already holds this fix (0123456789ab); not pushed again",
             "local PR #1 is already merged; nothing pushed",
             "opened as a draft: diagnosis confidence 0.40 is below 0.70",
             "rebased onto origin/main (abc123); the sandbox validated the fix on the deployed commit 755d4d7d14f8"]
    report = flagship.model_copy(update={"policy_decisions": [
        "example repository: the branch goes to healcrew's own demo remote x.git in its cache",
        "nothing pushed: the review bundle (PR.md, fix.patch, report.json) is in the output folder",
        ".healcrew.yaml: policy.max_files: 9 ignored: it may only be lowered (from 3)"]})
    body = render_pr_body(report, _delivery(report, notes=notes))
    assert "not pushed again" not in body and "already merged" not in body and "opened as a draft" not in body
    assert "Note: rebased onto origin/main" in body
    assert "demo remote" not in body and "nothing pushed" not in body
    assert "- **Policy:** .healcrew.yaml: policy.max\\_files: 9 ignored" in body


def test_no_body_claims_a_canary_that_did_not_run(flagship: RunReport, oom: RunReport) -> None:
    """The templates speak of a canary only under a real result: without one, no body says it."""
    from crew.handoffs import CanaryResult

    not_run = CanaryResult(backend="local", decision="not_run", reason="no cluster", stable="a", candidate="b")
    for report in (flagship, oom, flagship.model_copy(update={"canary": not_run})):
        assert "canary" not in render_pr_body(report, _delivery(report)).lower()


def test_oom_config_fix_without_a_test(oom: RunReport) -> None:
    body = render_pr_body(oom, _delivery(oom))
    top = _top(body)
    assert "crashed with an out-of-memory kill (OOMKilled, exit code 137)" in top
    assert "- **Proof:** no sandbox run: a configuration change has no test to run" in top
    assert "-              memory: 256Mi\n+              memory: 512Mi" in top
    assert ("**Behaviour change:** Only the deployment's configuration changes: `memory: 256Mi` becomes "
            "`memory: 512Mi` in `deploy/deployment.yaml`.") in top
    assert "canary" not in body.lower()
    assert "configuration change" in _section(body, "Regression test")
    assert "Termination:** oom killed" in _section(body, "Evidence")
    assert "batch.loading" in _section(body, "Evidence")  # the last lines before the kill
    rollback = _section(body, "Roll back")
    assert "`deploy/deployment.yaml:32`: `memory: 256Mi`" in rollback
    assert f"git revert {FIX_SHA}" in rollback
    assert "None" not in _section(body, "Root cause")  # no empty fault/suspect lines


# --------------------------------------------------------------------------- reproduce, roll back, feedback


def test_reproduce_locally_names_only_what_a_fresh_clone_has(flagship: RunReport) -> None:
    body = render_pr_body(flagship, _delivery(flagship))
    repro = _section(body, "Reproduce locally")
    lines = [ln for ln in repro.strip().strip("`").splitlines() if ln and ln != "sh"]
    assert lines[0] == "git fetch origin healcrew/pricing-zero-division"  # fetch the branch first
    assert "git checkout FETCH_HEAD -- tests/test_healcrew_pricing_zero_division.py" in repro
    assert f"healcrew run --repo . --commit {DEPLOYED} --log crash.log" in repro
    assert "# save the traceback under Evidence as crash.log" in repro
    assert "logs.json" not in repro  # the log file is not in the repository
    assert "healcrew replay examples/incidents/pricing-zero-division" in repro  # one of healcrew's own bundles


def test_a_bundle_outside_healcrew_is_not_named(flagship: RunReport, tmp_path: Path) -> None:
    logs = LogSource(file=str(tmp_path / "bundle" / "logs.json"))
    report = flagship.model_copy(update={"incident": flagship.incident.model_copy(update={"logs": logs})})
    repro = _section(render_pr_body(report, _delivery(report)), "Reproduce locally")
    assert "healcrew replay" not in repro and str(tmp_path) not in repro
    hinted = _section(render_pr_body(report, _delivery(report), replay_hint="healcrew replay ./b"), "Reproduce locally")
    assert "healcrew replay ./b" in hinted


def test_the_reproduce_commands_work_on_a_fresh_clone(flagship: RunReport, example_repo: Path, tmp_path: Path) -> None:
    """The git lines, run as printed in a fresh clone, put the test on the deployed commit, then the fix."""
    assert flagship.accepted is not None and flagship.accepted.proposal.test is not None
    test_path = flagship.accepted.proposal.test.path
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(example_repo), str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    git(work, "checkout", "-q", "-b", "healcrew/pricing-zero-division", DEPLOYED)
    (work / test_path).write_text(flagship.accepted.proposal.test.code, encoding="utf-8")
    git(work, "add", test_path)
    git(work, "commit", "-q", "-m", "fix")
    fix = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", "origin", "healcrew/pricing-zero-division")

    repro = _section(render_pr_body(flagship, _delivery(flagship)), "Reproduce locally")
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    seen = []
    for line in repro.splitlines():
        if not line.startswith("git "):
            continue  # the test runs and healcrew itself are not run here: repo code never runs on the host
        git(fresh, *shlex.split(line, comments=True)[1:])
        seen.append((git(fresh, "rev-parse", "HEAD"), (fresh / test_path).is_file()))
    assert [s[1] for s in seen] == [False, False, True, True]  # every git line ran
    assert seen[1][0] == DEPLOYED and seen[2][0] == DEPLOYED  # the test on the deployed code
    assert seen[3][0] == fix  # then the fix


def test_rollback_covers_the_deployment_when_the_repo_ships_a_rollout(flagship: RunReport, example_repo: Path) -> None:
    report = flagship.model_copy(update={"incident": flagship.incident.model_copy(update={"repo": str(example_repo)})})
    rollback = _section(render_pr_body(report, _delivery(report)), "Roll back")
    assert f"- **The code:** `git revert {FIX_SHA}`." in rollback
    assert ("- **The deployment:** `kubectl argo rollouts undo pricing-service -n shop` returns the Argo Rollout "
            "`pricing-service` in `deploy/rollout.yaml` to its previous revision.") in rollback
    deployment = Workload(kind="Deployment", name="pricing", namespace="", path="k8s/app.yaml", containers=("pricing",))
    plain = _section(render_pr_body(flagship, facts=RepoFacts(workloads=(deployment,))), "Roll back")
    assert "`kubectl rollout undo deployment/pricing -n shop`" in plain
    assert "kubectl" not in _section(render_pr_body(flagship, facts=RepoFacts()), "Roll back")


def test_the_footer_says_how_to_retry_or_stop_with_commands_that_exist(flagship: RunReport) -> None:
    from typer.main import get_command

    from crew.cli import app

    cli = get_command(app)
    footer = _footer(render_pr_body(flagship, _delivery(flagship, forge="local")))
    assert "**Try again:**" in footer and "never opens a second one" in footer
    assert "**Stop:** close this PR with `healcrew pr close OUT_DIR`" in footer and "for 24 h" in footer
    body = render_pr_body(flagship, _delivery(flagship, forge="local"))
    commands = re.findall(r"(?:^|`)healcrew ([a-z]+)(?: ([a-z]+))?", body, re.M)
    assert {c[0] for c in commands} >= {"run", "replay", "pr"}
    for name, sub in commands:
        assert name in cli.commands, name  # type: ignore[attr-defined]
        group = cli.commands[name]  # type: ignore[attr-defined]
        if hasattr(group, "commands"):
            assert sub in group.commands, (name, sub)
    cooldown = SimpleNamespace(github=SimpleNamespace(repo=None, base_url=None), draft_below_confidence=0.7,
                               cooldown_hours=48)
    assert "for 48 h" in _footer(render_pr_body(flagship, _delivery(flagship), cooldown))


# --------------------------------------------------------------------------- kept from before


def test_attempts_table_when_more_than_one(flagship: RunReport) -> None:
    assert flagship.accepted is not None
    first = Attempt(
        number=1,
        proposal=flagship.accepted.proposal.model_copy(update={"strategy": "guard-zero-divisor-raise"}),
        critique=Critique(
            verdict="revise",
            findings=[Finding(rule="hides-error", severity="blocker", message="x")],
            feedback="return the price unchanged instead of raising",
        ),
        rejected_because="the patch hides | the error",
    )
    second = flagship.accepted.model_copy(update={"number": 2})
    body = render_pr_body(flagship.model_copy(update={"attempts": [first, second], "accepted": second}))
    checked = _section(body, "How it was checked")
    assert "| 1 | `guard-zero-divisor-raise` | - | - | - | revise | the patch hides \\| the error |" in checked
    assert "| 2 | `guard-zero-divisor-identity` | yes | yes | yes | accept |" in checked


def test_how_it_was_checked_names_the_sandbox_and_the_verdict(flagship: RunReport) -> None:
    checked = _section(render_pr_body(flagship), "How it was checked")
    assert "- **Sandbox:** `docker`: docker container: no network" in checked
    assert "- **Reflection:** accept, no findings." in checked


def test_evidence_has_alert_signature_count_and_collapsed_traceback(flagship: RunReport) -> None:
    ev = _section(render_pr_body(flagship), "Evidence")
    assert "`KubePodCrashLooping`" in ev and "startsAt 2026-11-04 02:13:47 UTC" in ev
    assert "| `c780cee39f18` | `ZeroDivisionError: float division by zero` | 3 |" in ev
    details = ev[ev.index("<details>") : ev.index("</details>")]
    assert "<summary>Traceback" in details
    assert 'File "/app/app/pricing.py", line 27, in calc' in details
    assert "`app/pricing.py:27` in `calc` ← fault" in ev


def test_diff_and_regression_test_with_input_source(flagship: RunReport) -> None:
    body = render_pr_body(flagship)
    assert "```diff\ndiff --git a/app/pricing.py b/app/pricing.py" in _top(body)
    assert "+    if not d:\n+        return p" in _top(body)
    test = _section(body, "Regression test")
    assert "`tests/test_healcrew_pricing_zero_division.py` calls `calc(12.5, 0.0)`" in test
    assert "values the service logged near the crash" in test
    assert "from pathlib import Path\n\nsys.path.insert" in test  # code blocks keep their blank lines


def test_secrets_in_the_evidence_do_not_survive(flagship: RunReport, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICING_API_TOKEN", "FakeEnvTokenValue2026")
    secrets_log = (FIXTURES / "secrets.log").read_text(encoding="utf-8")
    assert flagship.evidence is not None and flagship.incident.alerts
    tb = flagship.evidence.tracebacks[0].model_copy(update={"raw": secrets_log})
    evidence = flagship.evidence.model_copy(
        update={"tracebacks": [tb, *flagship.evidence.tracebacks[1:]], "context_lines": secrets_log.splitlines()}
    )
    alert = flagship.incident.alerts[0].model_copy(
        update={"annotations": {"summary": "crash loop; token=ghp_FAKE0example0token0for0tests0only000"},
                "generator_url": "https://user:Hunter2-fake-db-pass@prom.example/graph"}
    )
    dirty = flagship.model_copy(
        update={"evidence": evidence, "incident": flagship.incident.model_copy(update={"alerts": [alert]})}
    )
    body = render_pr_body(dirty, repo_web_url=URL)
    for secret in (
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "ghp_FAKE0example0",
        "xoxb-123456789012",
        "eyJhbGciOiAiSFMyNTYi",
        "Hunter2-fake-db-pass",
        "CorrectHorseFake1",
        "FakeJsonPass#42",
        "FakeApiKeyValue123",
        "MIIEowIBAAKCAQEAfake",
        "FakeEnvTokenValue2026",
        "sk-live-FAKE0123456789abcdef",
        "ZGVwbG95OmZha2UtYmFzaWMtcGFzcw==",
    ):
        assert secret not in body, secret
    assert "[REDACTED:github-token]" in body
    assert f"{URL}/blob/{DEPLOYED}/app/pricing.py#L27" in body  # links and shas survive


def test_a_huge_report_is_cut_to_fit_github(flagship: RunReport) -> None:
    assert flagship.accepted is not None
    big_diff = flagship.accepted.proposal.diff + "".join(f"+x = {i}  # {'y' * 300}\n" for i in range(400))
    proposal = flagship.accepted.proposal.model_copy(update={"diff": big_diff})
    accepted = flagship.accepted.model_copy(update={"proposal": proposal})
    body = render_pr_body(flagship.model_copy(update={"accepted": accepted, "attempts": [accepted]}))
    assert len(body) <= MAX_BODY_CHARS
    assert body.count("```") % 2 == 0


def test_fix_in_one_sentence() -> None:
    assert (
        fix_in_one_sentence("`x / y` divides by zero. Guard the divisor: return x.") == "Guard the divisor: return x."
    )
    assert fix_in_one_sentence("It crashed. The key was renamed.") == "The key was renamed."
    assert fix_in_one_sentence("") == ""


def test_naive_and_aware_times_render(flagship: RunReport) -> None:
    assert flagship.evidence is not None
    g = flagship.evidence.groups[0].model_copy(update={"first_seen": datetime(2026, 1, 2, 3, 4, 5)})
    naive = flagship.model_copy(update={"evidence": flagship.evidence.model_copy(update={"groups": [g]})})
    assert "between 2026-01-02 03:04:05 and" in render_pr_body(naive)
    g2 = g.model_copy(update={"first_seen": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "last_seen": None})
    aware = flagship.model_copy(update={"evidence": flagship.evidence.model_copy(update={"groups": [g2]})})
    assert "**3×** at 2026-01-02 03:04:05 UTC" in render_pr_body(aware)


def test_an_alert_without_evidence_still_says_when(flagship: RunReport) -> None:
    alert = AlertInfo(status="firing", alertname="KubePodCrashLooping",
                      starts_at=datetime(2026, 11, 4, 2, 13, 47, tzinfo=UTC))
    report = flagship.model_copy(update={"evidence": None, "incident": flagship.incident.model_copy(
        update={"alerts": [alert], "started_at": None})})
    assert "alerting since 2026-11-04 02:13:47 UTC" in _top(render_pr_body(report))


def test_delivery_puts_the_serve_incident_link_in_the_body(flagship: RunReport) -> None:
    from crew.delivery.config import DeliveryConfig
    from crew.delivery.deliver import pr_body
    from crew.handoffs import DeliveryRecord

    record = DeliveryRecord(incident_id=flagship.incident.id, forge="local", branch="healcrew/x",
                            base_commit=flagship.incident.commit or "")
    url = "https://healcrew.example.com/incidents/abc123"
    assert url in pr_body(flagship, record, DeliveryConfig(incident_url=url))
    assert "healcrew.example.com" not in pr_body(flagship, record, DeliveryConfig())
