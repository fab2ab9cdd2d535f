"""Loyalty points booked for each order."""

from __future__ import annotations

from collections import defaultdict

from orders_worker.events import OrderCreated

MAX_POINTS_PER_ORDER = 5000


def points_for(order: OrderCreated, points_per_euro: int) -> int:
    """Whole euros spent times the programme rate; refunds are handled elsewhere."""
    euros = order.total_cents // 100
    return min(euros * points_per_euro, MAX_POINTS_PER_ORDER)


class PointsLedger:
    """Points per customer; the real ledger is the loyalty service's database."""

    def __init__(self) -> None:
        self._points: dict[str, int] = defaultdict(int)

    def add(self, customer_id: str, points: int) -> int:
        self._points[customer_id] += points
        return self._points[customer_id]

    def balance(self, customer_id: str) -> int:
        return self._points[customer_id]
