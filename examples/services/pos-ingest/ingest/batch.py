"""Point-of-sale batches: ``name;quantity;unit price`` lines, one sale line each."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class SaleLine:
    product: str
    quantity: int
    unit_price: Decimal


def decode_body(data: bytes) -> str:
    """Batch body as text with Unix line endings (POS terminals send CRLF)."""
    return data.decode("ascii").replace("\r\n", "\n")


def parse_batch(text: str) -> list[SaleLine]:
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        product, quantity, price = raw.split(";")
        lines.append(SaleLine(product.strip(), int(quantity), Decimal(price)))
    return lines
