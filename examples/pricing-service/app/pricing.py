"""Pricing rules: unit prices after the per-item discount, line and quote totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass

CURRENCY = "EUR"


@dataclass(frozen=True)
class Line:
    """One priced line of a quote."""

    sku: str
    quantity: int
    unit_price: float
    total: float


def calc(p, d):
    """Return the unit price ``p`` after the item's discount divisor ``d``.

    ``d`` divides the list price: 1.0 means no discount and 1.25 means 20% off.
    The merchandising feed uses 0.0 for "no discount configured", which must
    leave the price unchanged. Negative divisors are rejected by the API.
    """
    return p / d


def price_line(sku: str, price: float, quantity: int, discount: float) -> Line:
    """Price ``quantity`` units of one item."""
    unit = round(calc(price, discount), 2)
    return Line(sku=sku, quantity=quantity, unit_price=unit, total=round(unit * quantity, 2))


def quote(lines: list[Line]) -> dict[str, object]:
    """The quote returned to the storefront."""
    return {
        "currency": CURRENCY,
        "lines": [asdict(line) for line in lines],
        "total": round(sum(line.total for line in lines), 2),
    }
