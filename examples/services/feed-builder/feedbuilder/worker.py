"""Rebuild every channel's feed from the CMS export and publish it."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from feedbuilder.feed import build_feed
from feedbuilder.items import FeedItem

log = logging.getLogger("feedbuilder")


def rebuild(export: Path, public: Path) -> int:
    channels = json.loads(export.read_text(encoding="utf-8"))
    for channel, raw_items in sorted(channels.items()):
        items = [FeedItem.from_cms(raw) for raw in raw_items]
        log.info("building feed channel=%s items=%d", channel, len(items))
        document = build_feed(channel, items)
        (public / f"{channel}.json").write_text(json.dumps(document), encoding="utf-8")
    return len(channels)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    export = Path(os.environ.get("CMS_EXPORT", "/data/cms/channels.json"))
    public = Path(os.environ.get("FEEDS_DIR", "/data/public/feeds"))
    public.mkdir(parents=True, exist_ok=True)
    while True:
        count = rebuild(export, public)
        log.info("published %d feeds", count)
        time.sleep(int(os.environ.get("REBUILD_INTERVAL", "120")))


if __name__ == "__main__":
    main()
