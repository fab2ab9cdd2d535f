from app.reports.daily import daily_summary
from app.utils.formatting import money


def test_money() -> None:
    assert money(123456) == "1,234.56 EUR"
    assert money(-99, "USD") == "-0.99 USD"


def test_daily_sorted_by_day() -> None:
    rows = [{"day": "2026-03-02", "orders": 3, "revenue_cents": 900},
            {"day": "2026-03-01", "orders": 10, "revenue_cents": 123400}]
    lines = daily_summary(rows)
    assert lines[0].startswith("2026-03-01") and "1,234.00 EUR" in lines[0]
def test_percent() -> None:
    from app.utils.formatting import percent

    assert percent(1, 8) == "12.5 %"
    assert percent(1, 0) == "n/a"
