"""The product catalog, kept in memory (loaded from the merchandising feed at build time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One sellable item."""

    sku: str
    name: str
    price: float
    discount: float  # price divisor, see app.pricing.calc


CATALOG: dict[str, Item] = {
    item.sku: item
    for item in (
        Item("MUG-0", "Enamel mug", 12.5, 0.0),
        Item("TEE-1", "Logo tee", 24.0, 1.25),
        Item("CAP-2", "Baseball cap", 18.0, 1.0),
        Item("BAG-3", "Canvas tote", 30.0, 1.6),
    )
}


def get_item(sku: str) -> Item | None:
    """The catalog item with this SKU, or None."""
    return CATALOG.get(sku)
