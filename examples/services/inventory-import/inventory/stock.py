"""The stock table the shop reads; here a JSON file per warehouse."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from inventory.csvfeed import StockLine


def apply(lines: list[StockLine]) -> dict[str, dict[str, float]]:
    """Quantities per warehouse and SKU; later lines of a file win."""
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for line in lines:
        table[line.warehouse][line.sku] = line.quantity
    return dict(table)


def save(table: dict[str, dict[str, float]], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for warehouse, rows in table.items():
        (target / f"{warehouse}.json").write_text(json.dumps(rows, sort_keys=True))
