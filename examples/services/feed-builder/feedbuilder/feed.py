"""JSON Feed documents, one per channel."""

from __future__ import annotations

from typing import Any

from feedbuilder.items import FeedItem, newest_first

MAX_ITEMS = 50


def feed_header(channel: str, items: list[FeedItem]) -> dict[str, Any]:
    """Channel metadata; ``items`` are newest first."""
    latest = items[0]
    return {
        "channel": channel,
        "count": len(items),
        "updated": latest.published.isoformat(),
        "latest_title": latest.title,
    }


def build_feed(channel: str, items: list[FeedItem]) -> dict[str, Any]:
    ordered = newest_first(items)[:MAX_ITEMS]
    return {
        **feed_header(channel, ordered),
        "items": [
            {"id": i.id, "title": i.title, "url": i.url, "date_published": i.published.isoformat()}
            for i in ordered
        ],
    }
