"""Import every supplier file that lands in the inbox, then move it to done/."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from inventory import stock
from inventory.csvfeed import parse_row, read_rows
from inventory.jsonlog import JsonFormatter

log = logging.getLogger("inventory.importer")


def import_file(path: Path, target: Path) -> int:
    lines = []
    for number, row in read_rows(path.read_text(encoding="utf-8")):
        try:
            lines.append(parse_row(row))
        except Exception:
            log.error("bad row", extra={"file": path.name, "line": number, "row": row})
            raise
    stock.save(stock.apply(lines), target)
    return len(lines)


def main() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    inbox = Path(os.environ.get("INBOX", "/data/inbox"))
    target = Path(os.environ.get("STOCK_DIR", "/data/stock"))
    while True:
        for path in sorted(inbox.glob("*.csv")):
            log.info("importing", extra={"file": path.name})
            try:
                count = import_file(path, target)
            except Exception:
                log.exception("import failed", extra={"file": path.name})
                sys.exit(1)
            path.rename(path.with_suffix(".done"))
            log.info("imported", extra={"file": path.name, "rows": count})
        time.sleep(30)


if __name__ == "__main__":
    main()
