"""Pick up POS batches from the spool, parse them and append them to the sales journal."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from ingest.batch import decode_body, parse_batch

log = logging.getLogger("ingest")


def ingest_file(path: Path, journal: Path) -> int:
    data = path.read_bytes()
    store = path.name.split("-")[1]
    log.info("batch %s from store %s (%d bytes)", path.stem, store, len(data))
    lines = parse_batch(decode_body(data))
    with journal.open("a", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps({"store": store, "product": line.product, "quantity": line.quantity,
                                  "unit_price": str(line.unit_price)}, ensure_ascii=False) + "\n")
    path.unlink()
    return len(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, datefmt="%Y-%m-%d %H:%M:%S %z",
                        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")
    spool = Path(os.environ.get("SPOOL_DIR", "/var/spool/pos"))
    journal = Path(os.environ.get("JOURNAL", "/data/sales.jsonl"))
    log.info("watching %s", spool)
    while True:
        for path in sorted(spool.glob("pos-*.batch")):
            count = ingest_file(path, journal)
            log.info("ingested %d sale lines", count)
        time.sleep(1)


if __name__ == "__main__":
    main()
