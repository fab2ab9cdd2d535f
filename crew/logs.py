"""Structured logs: JSON lines when stderr is not a terminal, the run's correlation id on every line.

Level from ``HEALCREW_LOG_LEVEL`` (default WARNING, so the Rich progress stays the only
terminal output). Messages pass through secret redaction before they leave the process.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
from datetime import UTC, datetime

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
_CONFIGURED = False


def _redact(text: str) -> str:
    try:
        from crew.delivery.redact import redact
    except ImportError:
        return text
    return redact(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "correlation_id": correlation_id.get(),
            "msg": _redact(record.getMessage()),
        }
        for key in ("stage", "seconds", "status", "incident"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Human lines for a terminal, still carrying the correlation id."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower():7} [{correlation_id.get()}] {_redact(record.getMessage())}"


def configure_logging() -> None:
    """Install the handler once; idempotent."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if sys.stderr.isatty() else JsonFormatter())
    root = logging.getLogger("healcrew")
    root.addHandler(handler)
    root.setLevel(os.environ.get("HEALCREW_LOG_LEVEL", "WARNING").upper())
    root.propagate = False
    _CONFIGURED = True


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``healcrew`` namespace."""
    return logging.getLogger(f"healcrew.{name}")
