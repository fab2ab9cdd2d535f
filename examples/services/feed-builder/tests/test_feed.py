from datetime import datetime

from feedbuilder.feed import MAX_ITEMS, build_feed
from feedbuilder.items import FeedItem


def item(n: int) -> FeedItem:
    return FeedItem(f"id{n}", f"Post {n}", f"https://news.example.com/{n}",
                    datetime(2026, 1, 1 + n % 28, 12, 0))


def test_items_newest_first() -> None:
    feed = build_feed("news", [item(1), item(3), item(2)])
    assert [i["id"] for i in feed["items"]] == ["id3", "id2", "id1"]


def test_feed_is_capped() -> None:
    feed = build_feed("news", [item(n) for n in range(80)])
    assert len(feed["items"]) == MAX_ITEMS


def test_header_counts_items() -> None:
    feed = build_feed("news", [item(1), item(2)])
    assert feed["channel"] == "news" and feed["count"] == 2


def test_from_cms_strips_title() -> None:
    raw = {"id": 9, "title": "  Hello ", "url": "u", "published": "2026-03-01T10:00:00+00:00"}
    assert FeedItem.from_cms(raw).title == "Hello"
def test_header_has_latest_item() -> None:
    feed = build_feed("news", [item(1), item(5)])
    assert feed["latest_title"] == "Post 5"
