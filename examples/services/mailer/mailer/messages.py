"""Build RFC 5322 messages from queued notification requests."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any


def build_message(request: dict[str, Any], mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = request["to"]
    message["Subject"] = request["subject"].strip()
    message.set_content(request["body"])
    if request.get("reply_to"):
        message["Reply-To"] = request["reply_to"]
    return message
