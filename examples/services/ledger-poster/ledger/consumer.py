"""Post journal entries from the ``ledger.entries`` queue, in order, one at a time."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from ledger.book import Book
from ledger.journal import JournalEntry, post_entry
from ledger.jsonlog import JsonFormatter

log = logging.getLogger("ledger.consumer")


def main() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    queue = Path(os.environ.get("LEDGER_QUEUE", "/var/run/ledger/entries.jsonl"))
    book = Book()
    log.info("ledger consumer started", extra={"queue": str(queue)})
    for line in queue.read_text(encoding="utf-8").splitlines():
        entry = JournalEntry.from_message(json.loads(line))
        log.info("posting entry", extra={"entry_id": entry.id, "source": entry.source,
                                         "postings": len(entry.postings)})
        try:
            post_entry(entry, book)
        except Exception:
            log.exception("entry rejected, stopping consumer", extra={"entry_id": entry.id})
            sys.exit(1)


if __name__ == "__main__":
    main()
