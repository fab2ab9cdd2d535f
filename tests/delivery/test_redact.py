"""Redaction: every kind of secret in a realistic log goes, ordinary text stays, twice is once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from crew.delivery.redact import redact, redact_report
from crew.handoffs import RunReport

FIXTURES = Path(__file__).parent / "fixtures"
SECRETS_LOG = (FIXTURES / "secrets.log").read_text(encoding="utf-8")

# The environment the service ran with: two secret-looking variables and harmless ones.
ENV = {
    "PRICING_API_TOKEN": "FakeEnvTokenValue2026",
    "DATABASE_URL": "postgresql://pricing:Hunter2-fake-db-pass@db.example.com:5432/pricing",
    "HOME": "/home/app",
    "LOG_LEVEL": "DEBUG",
    "SHORT_SECRET": "abc",  # shorter than 6 characters: never redacted on its own
    "GOOGLE_APPLICATION_CREDENTIALS": "/var/run/secrets/gcp.json",  # a path, not the secret
}

# Every secret value written into secrets.log, with the kind expected in its place.
SECRETS = {
    "AKIAIOSFODNN7EXAMPLE": "aws-access-key",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "aws-secret-key",
    "ASIAY34FZKBOKMUTVV7A": "aws-access-key",
    "ghp_FAKE0example0token0for0tests0only000": "github-token",
    "github_pat_11FAKE0EXAMPLE0ONLY0000_abcdefghijklmnopqrstuvwxyz0123456789FAKEexample": "github-token",
    "ghs_FAKEinstallationTokenForTests0000001": "github-token",
    "gho_FAKEoauthTokenForTestsOnly00000000002": "github-token",
    "xoxb-123456789012-123456789012-FAKEfakeFAKEfakeFAKE0000": "slack-token",
    "FAKEfakeFAKEfake00000000": "slack-webhook",
    "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9": "jwt",
    "c2lnbmF0dXJlLWZha2UtZXhhbXBsZS1vbmx5": "jwt",
    "sk-live-FAKE0123456789abcdef": "bearer",
    "ZGVwbG95OmZha2UtYmFzaWMtcGFzcw==": "authorization",
    "Hunter2-fake-db-pass": None,  # URL password -> ***
    "FakeRedisPass99": None,
    "CorrectHorseFake1": "password",
    "FakeJsonPass#42": "password",
    "FakeEscapedSecret77": "secret",
    "FakeApiKeyValue123": "api-key",
    "FakeHeaderKey456": "api-key",
    "FakePasswd789": "password",
    "FakeSecretColon0": "secret",
    "FakeRefreshToken321": "token",
    "FakeAccessToken654": "token",
    "MIIEowIBAAKCAQEAfakeFAKE": "private-key",
    "FAKEkeyMaterialLine2": "private-key",
    "MIIEvQIBADANFAKEinlineKeyMaterial": "private-key",
    "FakeEnvTokenValue2026": "env:PRICING_API_TOKEN",
}

# Things that look a little like secrets but are the evidence a reviewer needs.
KEEP = [
    "755d4d7d14f8272059b2183deb61df1f37d217ef",  # a git sha
    "3f2b8c1e-7d4a-4e5b-9c6d-1a2b3c4d5e6f",  # a UUID
    "/app/config/settings.yaml",
    'File "/app/app/pricing.py", line 27, in calc',
    'token = request.headers.get("X-Token")',
    'password = os.environ["DB_PASSWORD"]',
    "ZeroDivisionError: float division by zero",
    "postgresql://pricing:***@db.example.com:5432/pricing",
    "redis://:***@cache.example.com:6379/0",
    "https://api.example.com/v2/rates?currency=EUR&api_key=",
    "user=alice",
    '"user": "bob"',
    "region=eu-west-1",
]


def test_no_secret_of_the_fixture_survives() -> None:
    out = redact(SECRETS_LOG, ENV)
    for secret in SECRETS:
        assert secret in SECRETS_LOG, f"fixture lost {secret!r}"
        assert secret not in out, f"{secret!r} survived redaction"
    assert "PRIVATE KEY-----" not in out
    assert "Hunter2" not in out


def test_each_secret_is_replaced_by_its_kind() -> None:
    out = redact(SECRETS_LOG, ENV)
    for kind in {k for k in SECRETS.values() if k is not None}:
        assert f"[REDACTED:{kind}]" in out, kind
    assert out.count("[REDACTED:github-token]") == 4
    assert out.count("[REDACTED:private-key]") == 2


def test_ordinary_text_survives() -> None:
    out = redact(SECRETS_LOG, ENV)
    for text in KEEP:
        assert text in out, text
    # the traceback is untouched, line by line
    tb = SECRETS_LOG[SECRETS_LOG.index("Traceback") :]
    assert tb in out
    assert len(out.splitlines()) < len(SECRETS_LOG.splitlines())  # the multi-line key block collapsed


def test_idempotent() -> None:
    once = redact(SECRETS_LOG, ENV)
    assert redact(once, ENV) == once
    assert redact(redact(once, {"X_SECRET": "secret"}), ENV) == redact(once, {"X_SECRET": "secret"})


@pytest.mark.parametrize(
    "code",
    [
        "def connect(user: str, password: str | None = None) -> None:",
        "conn = connect(user=user, password=password)",
        "token = get_token()",
        "api_key = settings.API_KEY",
        "secret = os.environ['APP_SECRET']",
        "KeyError: 'api_key'",
        "max_tokens=100 token_count=5",
        "the bearer of bad news",
        "-    return p / d\n+    if not d:\n+        return p",
        "Traceback (most recent call last):",
        "commit 220d2f4fcf019fe277a5663bd47981d8d644cc8d",
        'password=""',
        "secret: ${APP_SECRET}",
        "/usr/local/lib/python3.11/site-packages/starlette/middleware/errors.py",
    ],
)
def test_code_is_not_mangled(code: str) -> None:
    assert redact(code, {}) == code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://deploy:s3cr3t-pass@git.example.com/o/r.git", "https://deploy:***@git.example.com/o/r.git"),
        ('cfg = {"api_key": "abc123xyz"}', 'cfg = {"api_key": "[REDACTED:api-key]"}'),
        ("DB_PASSWORD: 'p4ss-w0rd'", "DB_PASSWORD: '[REDACTED:password]'"),
        ("curl -H 'authorization: bearer abcdef0123456789'", "curl -H 'authorization: bearer [REDACTED:bearer]'"),
    ],
)
def test_shapes(text: str, expected: str) -> None:
    assert redact(text, {}) == expected


def test_env_values_are_redacted_wherever_they_appear() -> None:
    env = {"STRIPE_API_KEY": "rk_fake_51Hxyz", "APP_SECRET": "plain-words-here", "SHORT_TOKEN": "abcde"}
    out = redact("got rk_fake_51Hxyz and plain-words-here, abcde stays", env)
    assert out == "got [REDACTED:env:STRIPE_API_KEY] and [REDACTED:env:APP_SECRET], abcde stays"
    # the database password is redacted on its own too, not only inside the URL
    assert "Hunter2-fake-db-pass" not in redact("auth failed for pass Hunter2-fake-db-pass", ENV)


def test_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALCREW_TEST_TOKEN", "env-default-value-42")
    assert redact("value env-default-value-42 here") == "value [REDACTED:env:HEALCREW_TEST_TOKEN] here"


def test_fast_enough_for_a_big_log() -> None:
    big = SECRETS_LOG * 300  # about 11k lines
    start = time.perf_counter()
    out = redact(big, ENV)
    elapsed = time.perf_counter() - start
    assert "AKIAIOSFODNN7EXAMPLE" not in out
    assert elapsed < 5.0, elapsed


def _flagship() -> RunReport:
    return RunReport.model_validate_json((FIXTURES / "flagship_report.json").read_text(encoding="utf-8"))


def test_redact_report_leaves_a_clean_report_unchanged() -> None:
    report = _flagship()
    assert redact_report(report, {}) == report


def test_redact_report_reaches_every_string() -> None:
    report = _flagship()
    assert report.evidence is not None and report.evidence.tracebacks
    lines = SECRETS_LOG.splitlines()
    ev = report.evidence.model_copy(
        update={
            "log_excerpt": lines,
            "context_lines": [json.dumps({"password": "FakeJsonPass#42", "msg": lines[2]})],
            "tracebacks": [
                report.evidence.tracebacks[0].model_copy(update={"exc_message": lines[5], "raw": SECRETS_LOG})
            ],
        }
    )
    alert = report.incident.alerts[0].model_copy(
        update={"annotations": {"description": "token=ghp_FAKE0example0token0for0tests0only000"}}
    )
    incident = report.incident.model_copy(update={"alerts": [alert]})
    dirty = report.model_copy(update={"evidence": ev, "incident": incident})

    clean = redact_report(dirty, ENV)

    assert isinstance(clean, RunReport)
    assert clean.evidence is not None and clean.diagnosis is not None
    dumped = clean.model_dump_json()
    for secret in SECRETS:
        assert secret not in dumped, secret
    assert len(clean.evidence.log_excerpt) == len(lines)  # a key block spread over lines is redacted line by line
    assert clean.incident.alerts[0].annotations["description"] == "token=[REDACTED:github-token]"
    assert clean.evidence.tracebacks[0].frames == report.evidence.tracebacks[0].frames
    assert clean.diagnosis == report.diagnosis
    assert clean.incident.commit == report.incident.commit
    assert dirty.evidence is not None and "AKIAIOSFODNN7EXAMPLE" in dirty.evidence.log_excerpt[2]  # input untouched
