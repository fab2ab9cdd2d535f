"""Invoices as the billing service finalizes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Line:
    description: str
    quantity: int
    unit_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_cents


@dataclass(frozen=True)
class Invoice:
    number: int
    customer_code: str
    currency: str
    vat_rate_percent: int
    lines: list[Line] = field(default_factory=list)

    @property
    def net_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def vat_cents(self) -> int:
        return (self.net_cents * self.vat_rate_percent + 50) // 100

    @property
    def gross_cents(self) -> int:
        return self.net_cents + self.vat_cents

    @classmethod
    def from_event(cls, payload: dict[str, Any]) -> Invoice:
        return cls(
            number=int(payload["number"]),
            customer_code=str(payload["customer_code"]),
            currency=str(payload.get("currency", "EUR")),
            vat_rate_percent=int(payload.get("vat_rate_percent", 19)),
            lines=[Line(l["description"], int(l["quantity"]), int(l["unit_cents"]))
                   for l in payload["lines"]],
        )
