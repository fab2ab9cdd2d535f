"""Account statements: what a customer still owes."""

from __future__ import annotations

from billing.models import Invoice
from billing.money import format_money


def open_balance(invoices: list[Invoice], currency: str = "EUR") -> str:
    """Sum of the unpaid invoices."""
    total = sum(i.amount_cents for i in invoices if not i.paid)
    return format_money(total, currency)
