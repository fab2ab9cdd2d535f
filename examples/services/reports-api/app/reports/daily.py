"""Daily revenue summary."""

from __future__ import annotations

from app.utils.formatting import money


def daily_summary(rows: list[dict[str, int]]) -> list[str]:
    """One line per day: date, orders, revenue."""
    out = []
    for row in sorted(rows, key=lambda r: r["day"]):
        out.append(f"{row['day']}  {row['orders']:>5}  {money(row['revenue_cents']):>16}")
    return out
