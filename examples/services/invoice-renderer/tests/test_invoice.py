from invoicing.models import Invoice, Line
from invoicing.render import money, render_lines

INVOICE = Invoice(10427, "ACME-DE", "EUR", 19, [Line("Support plan", 1, 49900),
                                                Line("Extra seat", 3, 1250)])


def test_totals() -> None:
    assert INVOICE.net_cents == 49900 + 3750
    assert INVOICE.vat_cents == 10194
    assert INVOICE.gross_cents == 53650 + 10194


def test_money_formatting() -> None:
    assert money(123456, "EUR") == "1,234.56 EUR"
    assert money(-5, "EUR") == "-0.05 EUR"


def test_render_lines() -> None:
    lines = render_lines(INVOICE)
    assert len(lines) == 2 and "Extra seat" in lines[1] and "37.50 EUR" in lines[1]


def test_from_event_defaults() -> None:
    inv = Invoice.from_event({"number": "7", "customer_code": "X",
                              "lines": [{"description": "a", "quantity": 1, "unit_cents": 5}]})
    assert (inv.number, inv.currency, inv.vat_rate_percent) == (7, "EUR", 19)
