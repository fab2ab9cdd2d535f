"""Invoices as the billing database stores them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Invoice:
    number: str
    customer_email: str
    amount_cents: int
    currency: str
    due: date
    paid: bool = False

    def days_overdue(self, today: date) -> int:
        return max((today - self.due).days, 0)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Invoice:
        return cls(
            number=row["number"],
            customer_email=row["customer_email"],
            amount_cents=int(row["amount_cents"]),
            currency=row.get("currency", "EUR"),
            due=date.fromisoformat(row["due"]),
            paid=bool(row.get("paid", False)),
        )
