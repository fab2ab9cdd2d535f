"""Dunning reminders for overdue invoices."""

from __future__ import annotations

from datetime import date

from billing.models import Invoice
from billing.money import format_money


LEVELS = [(30, "final notice"), (14, "second reminder"), (1, "friendly reminder")]


def reminder_level(invoice: Invoice, today: date) -> str | None:
    days = invoice.days_overdue(today)
    for threshold, level in LEVELS:
        if days >= threshold:
            return level
    return None


def reminder_text(invoice: Invoice, today: date) -> str:
    """The e-mail body for one overdue invoice."""
    level = reminder_level(invoice, today) or "reminder"
    amount = format_money(invoice.total_cents, invoice.currency)
    return (
        f"{level.capitalize()}: invoice {invoice.number} over {amount} was due on "
        f"{invoice.due.isoformat()} ({invoice.days_overdue(today)} days ago)."
    )
