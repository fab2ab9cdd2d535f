"""The PR body carries the whole case for the fix, with working links and no secrets."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from crew.delivery.pr_body import MAX_BODY_CHARS, fix_in_one_sentence, render_pr_body, repo_web_url_from
from crew.handoffs import Attempt, Critique, DeliveryRecord, Finding, RunReport

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://github.com/acme/pricing-service"
DEPLOYED = "755d4d7d14f8272059b2183deb61df1f37d217ef"
SUSPECT = "220d2f4fcf019fe277a5663bd47981d8d644cc8d"
FIX_SHA = "0123456789abcdef0123456789abcdef01234567"


def _load(name: str) -> RunReport:
    return RunReport.model_validate_json((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def flagship() -> RunReport:
    return _load("flagship_report.json")


@pytest.fixture
def oom() -> RunReport:
    return _load("oom_report.json")


def _delivery(report: RunReport) -> DeliveryRecord:
    return DeliveryRecord(
        incident_id=report.incident.id,
        forge="github",
        branch=f"healcrew/{report.incident.id}",
        base_commit=DEPLOYED,
        commit=FIX_SHA,
        remote="origin",
        pushed=True,
        notes=["rebased onto main (abc); the sandbox validated the fix on the deployed commit"],
    )


def _section(body: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", body, re.S | re.M)
    assert m, f"section {title!r} missing"
    return m.group(1)


def test_every_section_is_present(flagship: RunReport) -> None:
    body = render_pr_body(flagship, _delivery(flagship), repo_web_url=URL, replay_hint="examples/incidents/x")
    for title in (
        "Summary",
        "Root cause",
        "Evidence",
        "The change",
        "Regression test",
        "Sandbox verdicts",
        "Review",
        "Reproduce locally",
        "Roll back",
    ):
        _section(body, title)
    assert "## Attempts" not in body  # one attempt: no table
    assert body.startswith("<!-- healcrew:incident=pricing-zero-division run=")


def test_summary_says_what_how_often_since_when_and_the_fix(flagship: RunReport) -> None:
    summary = _section(render_pr_body(flagship), "Summary")
    assert "pricing-service" in summary
    assert "`ZeroDivisionError: float division by zero`" in summary
    assert "**3×**" in summary
    assert "since 2026-11-04 02:12:24 UTC" in summary
    assert "`guard-zero-divisor-identity`" in summary and "`app/pricing.py`" in summary
    assert "Guard the divisor where the division happens" in summary


def test_links_to_fault_line_and_suspect_commit(flagship: RunReport) -> None:
    root = _section(render_pr_body(flagship, repo_web_url=URL + "/"), "Root cause")
    assert f"[`app/pricing.py:27`]({URL}/blob/{DEPLOYED}/app/pricing.py#L27)" in root
    assert f"[`{SUSPECT[:12]}`]({URL}/commit/{SUSPECT})" in root
    assert "Apply per-item discount divisor" in root and "Tom Okafor" in root
    assert "tom.okafor@example.com" not in root  # names, not emails
    assert ">   27      return p / d" in root  # the code around the fault line, marked


def test_plain_locations_without_a_web_url(flagship: RunReport) -> None:
    body = render_pr_body(flagship)
    assert f"`app/pricing.py:27` @ `{DEPLOYED[:12]}`" in body
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


def test_evidence_has_alert_signature_count_and_collapsed_traceback(flagship: RunReport) -> None:
    ev = _section(render_pr_body(flagship), "Evidence")
    assert "`KubePodCrashLooping`" in ev and "startsAt 2026-11-04 02:13:47 UTC" in ev
    assert "`namespace=shop`" in ev and "`reason=CrashLoopBackOff`" in ev
    assert "| `c780cee39f18` | `ZeroDivisionError: float division by zero` | 3 |" in ev
    details = ev[ev.index("<details>") : ev.index("</details>")]
    assert "<summary>Traceback" in details
    assert 'File "/app/app/pricing.py", line 27, in calc' in details
    assert "`app/pricing.py:27` in `calc` ← fault" in ev
    assert "quote request" in ev  # the inputs logged near the crash


def test_diff_and_regression_test_with_input_source(flagship: RunReport) -> None:
    body = render_pr_body(flagship)
    change = _section(body, "The change")
    assert "```diff\ndiff --git a/app/pricing.py b/app/pricing.py" in change
    assert "+    if not d:\n+        return p" in change
    test = _section(body, "Regression test")
    assert "`tests/test_healcrew_pricing_zero_division.py` calls `calc(12.5, 0.0)`" in test
    assert "values the service logged near the crash" in test
    assert "from pathlib import Path\n\nsys.path.insert" in test  # code blocks keep their blank lines


def test_sandbox_verdicts_table(flagship: RunReport) -> None:
    table = _section(render_pr_body(flagship), "Sandbox verdicts")
    assert re.search(
        r"\| regression test on the deployed code \| ✅ \| failed with `ZeroDivisionError` at "
        r"`app/pricing.py:27` \(the fault frame\)",
        table,
    )
    assert "| regression test on the patched code | ✅ | passed |" in table
    assert "12 passed, none newly failing" in table
    assert "25 inputs, 0 differ" in table
    assert "`docker`: docker container: no network" in table


def test_review_confidence_reproduce_and_rollback(flagship: RunReport) -> None:
    body = render_pr_body(flagship, _delivery(flagship), replay_hint="examples/incidents/pricing-zero-division")
    review = _section(body, "Review")
    assert "Reflection verdict: **accept**" in review and "diagnosis 0.90" in review
    assert "[!WARNING]" not in body
    repro = _section(body, "Reproduce locally")
    assert "healcrew replay examples/incidents/pricing-zero-division" in repro
    assert "git checkout healcrew/pricing-zero-division -- tests/test_healcrew_pricing_zero_division.py" in repro
    assert f"git revert {FIX_SHA}" in _section(body, "Roll back")
    assert "Branch `healcrew/pricing-zero-division` at `0123456789ab`" in body
    assert "Note: rebased onto main" in body
    # without a bundle, the run command on the deployed commit
    assert f"healcrew run --repo . --log logs.json --commit {DEPLOYED}" in render_pr_body(flagship)


def test_low_confidence_warns(flagship: RunReport) -> None:
    assert flagship.diagnosis is not None
    low = flagship.model_copy(update={"diagnosis": flagship.diagnosis.model_copy(update={"confidence": 0.4})})
    body = render_pr_body(low)
    assert "> [!WARNING]\n> Low confidence: the diagnosis scores 0.40, below 0.70" in body
    config = SimpleNamespace(github=SimpleNamespace(repo=None, base_url=None), draft_below_confidence=0.3)
    assert "[!WARNING]" not in render_pr_body(low, None, config)


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
    attempts = _section(body, "Attempts")
    assert "| 1 | `guard-zero-divisor-raise` | ➖ | ➖ | ➖ | revise | the patch hides \\| the error |" in attempts
    assert "| 2 | `guard-zero-divisor-identity` | ✅ | ✅ | ✅ | accept |" in attempts


def test_oom_config_fix_without_a_test(oom: RunReport) -> None:
    body = render_pr_body(oom, _delivery(oom))
    assert "crashed with an out-of-memory kill (OOMKilled, exit code 137)" in _section(body, "Summary")
    assert "`raise-memory-limit`" in body
    assert "-              memory: 256Mi\n+              memory: 512Mi" in _section(body, "The change")
    assert "configuration change" in _section(body, "Regression test")
    assert "Not run" in _section(body, "Sandbox verdicts")
    assert "Termination:** oom killed" in _section(body, "Evidence")
    assert "batch.loading" in _section(body, "Evidence")  # the last lines before the kill
    rollback = _section(body, "Roll back")
    assert "`deploy/deployment.yaml:32`: `memory: 256Mi`" in rollback
    assert f"git revert {FIX_SHA}" in rollback
    assert "healcrew run --repo . --log logs.jsonl --commit 6170c3acd022" in body
    assert "None" not in _section(body, "Root cause")  # no empty fault/suspect lines


def test_secrets_in_the_evidence_do_not_survive(flagship: RunReport, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRICING_API_TOKEN", "FakeEnvTokenValue2026")
    secrets_log = (FIXTURES / "secrets.log").read_text(encoding="utf-8")
    assert flagship.evidence is not None and flagship.incident.alerts
    tb = flagship.evidence.tracebacks[0].model_copy(update={"raw": secrets_log})
    evidence = flagship.evidence.model_copy(
        update={"tracebacks": [tb, *flagship.evidence.tracebacks[1:]], "context_lines": secrets_log.splitlines()}
    )
    alert = flagship.incident.alerts[0].model_copy(
        update={"annotations": {"summary": "crash loop; token=ghp_FAKE0example0token0for0tests0only000"}}
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
    assert "since 2026-01-02 03:04:05" in render_pr_body(naive)
    g2 = g.model_copy(update={"first_seen": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})
    aware = flagship.model_copy(update={"evidence": flagship.evidence.model_copy(update={"groups": [g2]})})
    assert "since 2026-01-02 03:04:05 UTC" in render_pr_body(aware)
