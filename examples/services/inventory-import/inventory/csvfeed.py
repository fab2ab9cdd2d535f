"""Supplier stock files: CSV with a header row (sku;description;qty;warehouse)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class StockLine:
    sku: str
    description: str
    quantity: int
    warehouse: str


def read_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for every data row; the header is line 1."""
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    for number, row in enumerate(reader, start=2):
        yield number, row


def parse_row(row: dict[str, str]) -> StockLine:
    """One stock line; the warehouse defaults to the main one."""
    quantity = int(row["qty"])
    return StockLine(
        sku=row["sku"].strip().upper(),
        description=row.get("description", "").strip(),
        quantity=quantity,
        warehouse=(row.get("warehouse") or "MAIN").strip(),
    )
