"""A small HTTP API that serves the finance reports as text."""

from __future__ import annotations

import json
import logging
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from app.reports import daily, monthly

log = logging.getLogger("app.main")
DATA = Path(os.environ.get("REPORTS_DATA", "/data/reports"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/healthz":
            body = "ok"
        elif self.path == "/reports/daily":
            body = "\n".join(daily.daily_summary(json.loads((DATA / "daily.json").read_text())))
        elif self.path == "/reports/monthly":
            body = "\n".join(monthly.monthly_report(json.loads((DATA / "monthly.json").read_text())))
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    port = int(os.environ.get("PORT", "8080"))
    log.info("reports-api listening on :%d", port)
    ThreadingHTTPServer(("", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
