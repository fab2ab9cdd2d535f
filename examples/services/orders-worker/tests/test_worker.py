import json
from pathlib import Path

from orders_worker.config import load_settings
from orders_worker.loyalty import PointsLedger
from orders_worker.worker import handle, read_events

EVENT = {
    "id": "evt_1",
    "type": "order.created",
    "payload": {"order_id": "ord_9", "customer_id": "cus_7", "lines": [
        {"sku": "A", "quantity": 1, "unit_price_cents": 2599}]},
}


def test_handle_books_points() -> None:
    ledger = PointsLedger()
    handle(EVENT, ledger, load_settings({"POINTS_PER_EURO": "10"}))
    assert ledger.balance("cus_7") == 250


def test_other_events_are_ignored() -> None:
    ledger = PointsLedger()
    handle({"type": "order.cancelled", "payload": {}}, ledger, load_settings({}))
    assert ledger.balance("cus_7") == 0


def test_read_events_skips_blank_lines(tmp_path: Path) -> None:
    queue = tmp_path / "events.jsonl"
    queue.write_text(json.dumps(EVENT) + "\n\n" + json.dumps(EVENT) + "\n")
    assert len(list(read_events(queue))) == 2
