"""Order events as the checkout service publishes them on the ``orders`` topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True)
class OrderCreated:
    order_id: str
    customer_id: str
    currency: str
    lines: tuple[OrderLine, ...]

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)


def parse_line(raw: dict[str, Any]) -> OrderLine:
    """One line item of an order."""
    return OrderLine(
        sku=str(raw["sku"]),
        quantity=int(raw["quantity"]),
        unit_price_cents=int(raw["unit_price_cents"]),
    )


def parse_order_created(payload: dict[str, Any]) -> OrderCreated:
    """Build an ``OrderCreated`` from the payload of an ``order.created`` event (schema v2)."""
    order_id = str(payload["order_id"])
    customer_id = str(payload["customer_id"])
    lines = tuple(parse_line(raw) for raw in payload.get("lines", []))
    return OrderCreated(
        order_id=order_id,
        customer_id=customer_id,
        currency=str(payload.get("currency", "EUR")),
        lines=lines,
    )
