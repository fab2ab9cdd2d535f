"""Monthly revenue with growth against the previous month."""

from __future__ import annotations

from app.utils.fmt import money, percent


def monthly_report(revenue: dict[str, int]) -> list[str]:
    """``revenue`` maps YYYY-MM to cents."""
    lines = []
    months = sorted(revenue)
    for previous, month in zip([None, *months], months):
        this = revenue[month]
        last = revenue[previous] if previous else 0
        growth = percent(this - last, last)
        lines.append(f"{month}  {money(this):>16}  {growth:>8}")
    return lines
