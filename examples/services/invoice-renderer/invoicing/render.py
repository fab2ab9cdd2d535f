"""Plain-text rendering of an invoice (the PDF step reads this)."""

from __future__ import annotations

from invoicing.models import Invoice
from invoicing.numbering import invoice_reference


def money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d} {currency}"


def render_lines(invoice: Invoice) -> list[str]:
    return [f"{l.quantity:>4} x {l.description:<40} {money(l.total_cents, invoice.currency):>16}"
            for l in invoice.lines]


def render_text(invoice: Invoice) -> str:
    ref = invoice_reference(invoice.number, invoice.customer_code)
    body = [f"Invoice {ref}", ""] + render_lines(invoice) + [
        "",
        f"Net   {money(invoice.net_cents, invoice.currency):>16}",
        f"VAT   {money(invoice.vat_cents, invoice.currency):>16}",
        f"Total {money(invoice.gross_cents, invoice.currency):>16}",
    ]
    return "\n".join(body) + "\n"
