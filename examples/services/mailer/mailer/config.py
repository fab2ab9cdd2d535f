"""Mailer settings, read once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_SMTP_HOST = "smtp-relay.mail.svc.cluster.local"


@dataclass(frozen=True)
class Settings:
    smtp_host: str
    smtp_port: int
    mail_from: str
    spool_dir: str
    use_starttls: bool


def load_settings() -> Settings:
    """Settings from the environment (see deploy/deployment.yaml)."""
    return Settings(
        smtp_host=os.environ["SMTP_HOST"],
        smtp_port=int(os.environ.get("SMTP_PORT", "25")),
        mail_from=os.environ.get("MAIL_FROM", "no-reply@example.com"),
        spool_dir=os.environ.get("SPOOL_DIR", "/var/spool/mailer"),
        use_starttls=os.environ.get("SMTP_STARTTLS", "false").lower() == "true",
    )
