"""Amounts for people: 1,234.50 EUR."""

from __future__ import annotations


def format_money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100:,}.{cents % 100:02d} {currency}"
