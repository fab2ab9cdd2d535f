"""JSON log lines shaped like python-json-logger's JsonFormatter (stdlib only)."""

from __future__ import annotations

import json
import logging

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"asctime": self.formatTime(record), "levelname": record.levelname,
               "name": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)
