"""Render every finalized invoice into the outbox the mailer picks up."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from invoicing.models import Invoice
from invoicing.render import render_text

log = logging.getLogger("invoicing.worker")


def process(line: str, outbox: Path) -> Path | None:
    event = json.loads(line)
    if event.get("type") != "invoice.finalized":
        return None
    invoice = Invoice.from_event(event["payload"])
    log.info("rendering invoice number=%s customer=%s lines=%d", invoice.number,
             invoice.customer_code, len(invoice.lines))
    target = outbox / f"{invoice.number}.txt"
    target.write_text(render_text(invoice), encoding="utf-8")
    return target


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)-5s %(name)s - %(message)s")
    queue = Path(os.environ.get("INVOICE_QUEUE", "/var/spool/invoices/events.jsonl"))
    outbox = Path(os.environ.get("INVOICE_OUTBOX", "/var/spool/invoices/outbox"))
    outbox.mkdir(parents=True, exist_ok=True)
    log.info("invoice-renderer ready queue=%s outbox=%s", queue, outbox)
    with queue.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                process(line, outbox)


if __name__ == "__main__":
    main()
