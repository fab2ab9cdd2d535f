"""Webhook and API authentication: a bearer token or an HMAC-SHA256 of the body, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os

from pydantic import BaseModel, ConfigDict

from crew.errors import HealcrewError


class AuthConfigError(HealcrewError):
    """Neither a token nor an HMAC key is set, so the service must not start."""


class Secrets(BaseModel):
    """The shared secrets, read from the environment only."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = None
    hmac_key: str | None = None


def secrets_from_env() -> Secrets:
    """The configured secrets; ``AuthConfigError`` when there is none."""
    token = os.environ.get("HEALCREW_WEBHOOK_TOKEN") or None
    key = os.environ.get("HEALCREW_WEBHOOK_HMAC_KEY") or None
    if not token and not key:
        raise AuthConfigError("set HEALCREW_WEBHOOK_TOKEN or HEALCREW_WEBHOOK_HMAC_KEY before starting the service")
    return Secrets(token=token, hmac_key=key)


def authorized(secrets: Secrets, authorization: str | None, signature: str | None, body: bytes) -> bool:
    """Whether the request carries the bearer token or a valid body signature."""
    if secrets.token and authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), secrets.token.encode()):
            return True
    if secrets.hmac_key and signature and signature.startswith("sha256="):
        expected = hmac.new(secrets.hmac_key.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature[len("sha256="):].strip().lower().encode(), expected.encode())
    return False
