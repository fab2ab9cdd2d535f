"""Read the nightly accounts export (users and their optional postal address)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from profile_sync.models import Address, User

log = logging.getLogger("profile_sync.store")


class UserStore:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = {int(r["id"]): r for r in records}

    @classmethod
    def from_file(cls, path: Path) -> UserStore:
        records = json.loads(path.read_text(encoding="utf-8"))
        log.info("export.loaded", extra={"rows": len(records)})
        return cls(records)

    def get_address(self, user_id: int) -> Address | None:
        """The user's postal address, or None when they never entered one."""
        raw = self._records[user_id].get("address")
        if not raw:
            return None
        return Address(raw["street"], raw["city"], raw["postcode"], raw["country"])

    def users(self) -> list[User]:
        out = []
        for user_id, r in sorted(self._records.items()):
            out.append(User(user_id, r["first_name"], r["last_name"], r["email"],
                            address=self.get_address(user_id)))
        return out
