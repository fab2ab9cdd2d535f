import pytest

from mailer.config import load_settings
from mailer.messages import build_message


def test_smtp_host_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "relay.internal")
    assert load_settings().smtp_host == "relay.internal"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "relay.internal")
    monkeypatch.delenv("SMTP_PORT", raising=False)
    settings = load_settings()
    assert settings.smtp_port == 25 and not settings.use_starttls


def test_starttls_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "relay.internal")
    monkeypatch.setenv("SMTP_STARTTLS", "TRUE")
    assert load_settings().use_starttls


def test_build_message() -> None:
    msg = build_message({"to": "a@example.com", "subject": " Hi ", "body": "Hello",
                         "reply_to": "support@example.com"}, "no-reply@example.com")
    assert msg["Subject"] == "Hi" and msg["Reply-To"] == "support@example.com"
    assert msg.get_content().strip() == "Hello"
