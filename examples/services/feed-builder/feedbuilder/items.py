"""Feed items as the CMS exports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FeedItem:
    id: str
    title: str
    url: str
    published: datetime

    @classmethod
    def from_cms(cls, raw: dict[str, Any]) -> FeedItem:
        return cls(str(raw["id"]), str(raw["title"]).strip(), str(raw["url"]),
                   datetime.fromisoformat(raw["published"]))


def newest_first(items: list[FeedItem]) -> list[FeedItem]:
    return sorted(items, key=lambda item: item.published, reverse=True)
