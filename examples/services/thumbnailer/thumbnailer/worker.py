"""Claim a batch of uploaded originals, load them, write thumbnails, repeat."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from thumbnailer.images import read_pgm, thumbnail

log = logging.getLogger("thumbnailer")


def log_event(event: str, **fields: object) -> None:
    stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    log.info(json.dumps({"ts": stamp.replace("+00:00", "Z"), "event": event, **fields}))


def claim_batch(inbox: Path, size: int) -> list[Path]:
    return sorted(inbox.glob("*.pgm"))[:size]


def process_batch(paths: list[Path], outbox: Path, box: int) -> int:
    originals = {path.name: read_pgm(path.read_bytes()) for path in paths}
    log_event("batch.loaded", images=len(originals))
    for name, image in originals.items():
        (outbox / name).write_bytes(thumbnail(image, box).to_pgm())
    for path in paths:
        path.unlink()
    return len(originals)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    inbox = Path(os.environ.get("INBOX", "/data/uploads"))
    outbox = Path(os.environ.get("OUTBOX", "/data/thumbs"))
    size = int(os.environ.get("BATCH_SIZE", "16"))
    box = int(os.environ.get("THUMB_BOX", "320"))
    log_event("worker.start", batch_size=size, box=box)
    while True:
        batch = claim_batch(inbox, size)
        if not batch:
            time.sleep(2)
            continue
        log_event("batch.loading", images=len(batch),
                  bytes=sum(path.stat().st_size for path in batch))
        done = process_batch(batch, outbox, box)
        log_event("batch.done", images=done)


if __name__ == "__main__":
    main()
