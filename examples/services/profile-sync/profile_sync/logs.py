"""JSON log lines in the shape structlog's JSONRenderer writes (stdlib only)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message"}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        event["event"] = record.getMessage()
        event["level"] = record.levelname.lower()
        event["logger"] = record.name
        stamp = datetime.fromtimestamp(record.created, timezone.utc)
        event["timestamp"] = stamp.isoformat().replace("+00:00", "Z")
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
