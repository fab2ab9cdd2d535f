"""The mailer loop: send every queued notification through the SMTP relay."""

from __future__ import annotations

import json
import logging
import smtplib
import time
from pathlib import Path

from mailer import __version__
from mailer.config import Settings, load_settings
from mailer.messages import build_message

log = logging.getLogger("mailer")


def send_spooled(settings: Settings) -> int:
    sent = 0
    for path in sorted(Path(settings.spool_dir).glob("*.json")):
        message = build_message(json.loads(path.read_text()), settings.mail_from)
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.use_starttls:
                smtp.starttls()
            smtp.send_message(message)
        path.unlink()
        sent += 1
    return sent


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s")
    log.info("mailer %s starting", __version__)
    settings = load_settings()
    log.info("relay %s:%d, spool %s", settings.smtp_host, settings.smtp_port, settings.spool_dir)
    while True:
        if sent := send_spooled(settings):
            log.info("sent %d messages", sent)
        time.sleep(5)
