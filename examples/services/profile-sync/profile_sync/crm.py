"""The CRM's bulk import folder: one JSON document per profile."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("profile_sync.crm")


class CRMClient:
    def __init__(self, outbox: str) -> None:
        self.outbox = Path(outbox)

    def upsert(self, card: dict[str, Any]) -> Path:
        self.outbox.mkdir(parents=True, exist_ok=True)
        target = self.outbox / f"{card['external_id']}.json"
        target.write_text(json.dumps(card, sort_keys=True), encoding="utf-8")
        log.info("crm.upsert", extra={"external_id": card["external_id"]})
        return target
