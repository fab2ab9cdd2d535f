"""The consumer loop: one event per line from the queue bridge, handled in order."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orders_worker import __version__
from orders_worker.config import Settings, load_settings
from orders_worker.events import parse_order_created
from orders_worker.loyalty import PointsLedger, points_for

log = logging.getLogger("orders_worker.worker")


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Events from the queue bridge, one JSON document per line."""
    with path.open(encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                yield json.loads(line)


def handle(event: dict[str, Any], ledger: PointsLedger, settings: Settings) -> None:
    """Book loyalty points for ``order.created``; other event types are ignored."""
    if event.get("type") != "order.created":
        log.debug("skipping %s", event.get("type"))
        return
    order = parse_order_created(event["payload"])
    points = points_for(order, settings.points_per_euro)
    balance = ledger.add(order.customer_id, points)
    log.info("order %s: +%d points for %s (balance %d)", order.order_id, points,
             order.customer_id, balance)


def main() -> None:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    log.info("orders-worker %s starting, queue=%s", __version__, settings.queue_path)
    ledger = PointsLedger()
    for event in read_events(settings.queue_path):
        log.info("received %s id=%s payload=%s", event.get("type"), event.get("id"),
                 json.dumps(event.get("payload"), sort_keys=True))
        handle(event, ledger, settings)
