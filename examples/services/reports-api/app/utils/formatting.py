"""Number formatting shared by the reports."""

from __future__ import annotations


def money(cents: int, currency: str = "EUR") -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d} {currency}"
def percent(part: float, whole: float) -> str:
    """'12.5 %'; an empty whole reads as n/a."""
    if not whole:
        return "n/a"
    return f"{100 * part / whole:.1f} %"
