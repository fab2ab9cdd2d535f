from datetime import date

from billing.models import Invoice
from billing.reminders import reminder_level
from billing.statements import open_balance

TODAY = date(2026, 3, 14)


def inv(days: int, cents: int = 12000, paid: bool = False) -> Invoice:
    return Invoice("2026-0042", "ap@example.com", cents, "EUR",
                   date.fromordinal(TODAY.toordinal() - days), paid)


def test_levels() -> None:
    assert reminder_level(inv(0), TODAY) is None
    assert reminder_level(inv(3), TODAY) == "friendly reminder"
    assert reminder_level(inv(20), TODAY) == "second reminder"
    assert reminder_level(inv(45), TODAY) == "final notice"


def test_open_balance_skips_paid() -> None:
    assert open_balance([inv(3, 12000), inv(5, 50, paid=True), inv(1, 99)]).startswith("120.99")


def test_from_row() -> None:
    row = {"number": "A1", "customer_email": "x@example.com", "amount_cents": "1500",
           "due": "2026-03-01"}
    invoice = Invoice.from_row(row)
    assert invoice.amount_cents == 1500 and invoice.currency == "EUR" and not invoice.paid
def test_format_money() -> None:
    from billing.money import format_money

    assert format_money(123456, "EUR") == "1,234.56 EUR"
