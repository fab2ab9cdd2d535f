"""Send reminders for every overdue invoice once a day."""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import date
from pathlib import Path

from billing.models import Invoice
from billing.reminders import reminder_level, reminder_text

log = logging.getLogger("billing.reminders")


def run_once(rows: list[dict], outbox: Path, today: date) -> int:
    sent = 0
    for row in rows:
        invoice = Invoice.from_row(row)
        if invoice.paid or reminder_level(invoice, today) is None:
            continue
        log.info("reminder invoice=%s to=%s days_overdue=%d", invoice.number,
                 invoice.customer_email, invoice.days_overdue(today))
        (outbox / f"{invoice.number}.txt").write_text(reminder_text(invoice, today))
        sent += 1
    return sent


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    source = Path(os.environ.get("INVOICES_FILE", "/data/overdue.json"))
    outbox = Path(os.environ.get("OUTBOX", "/data/outbox"))
    outbox.mkdir(parents=True, exist_ok=True)
    while True:
        rows = json.loads(source.read_text(encoding="utf-8"))
        log.info("loaded %d open invoices from %s", len(rows), source)
        sent = run_once(rows, outbox, date.today())
        log.info("sent %d reminders", sent)
        time.sleep(int(os.environ.get("INTERVAL_SECONDS", "86400")))


if __name__ == "__main__":
    main()
