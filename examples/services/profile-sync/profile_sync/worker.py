"""Push every user's profile card to the CRM, one batch per run of the export."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from profile_sync.cards import profile_card
from profile_sync.crm import CRMClient
from profile_sync.logs import configure
from profile_sync.store import UserStore

log = logging.getLogger("profile_sync.worker")


def sync(store: UserStore, crm: CRMClient) -> int:
    count = 0
    for user in store.users():
        crm.upsert(profile_card(user))
        count += 1
    return count


def main() -> None:
    configure(os.environ.get("LOG_LEVEL", "INFO"))
    source = Path(os.environ.get("PROFILE_EXPORT", "/data/export/users.json"))
    crm = CRMClient(os.environ.get("CRM_OUTBOX", "/data/outbox"))
    interval = int(os.environ.get("SYNC_INTERVAL_SECONDS", "900"))
    while True:
        log.info("sync.start", extra={"source": str(source)})
        try:
            count = sync(UserStore.from_file(source), crm)
        except Exception:
            log.exception("sync.failed")
            sys.exit(1)
        log.info("sync.done", extra={"profiles": count})
        time.sleep(interval)


if __name__ == "__main__":
    main()
