"""Account balances (the real book is the ledger database)."""

from __future__ import annotations

from collections import defaultdict


class Book:
    def __init__(self) -> None:
        self.balances: dict[str, int] = defaultdict(int)

    def apply(self, account: str, amount_cents: int) -> None:
        self.balances[account] += amount_cents

    def total(self) -> int:
        return sum(self.balances.values())
