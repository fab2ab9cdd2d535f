from pathlib import Path

from inventory.csvfeed import parse_row, read_rows
from inventory.importer import import_file
from inventory.stock import apply

FILE = "sku;description;qty;warehouse\nab-1;Anchor bolt;40;\nCD-2;Cable duct;12;NORTH\n"


def test_rows_are_numbered_from_line_two() -> None:
    assert [n for n, _ in read_rows(FILE)] == [2, 3]


def test_parse_row_normalises() -> None:
    line = parse_row({"sku": " ab-1 ", "description": "Anchor bolt", "qty": "40", "warehouse": ""})
    assert (line.sku, line.quantity, line.warehouse) == ("AB-1", 40, "MAIN")


def test_apply_groups_by_warehouse() -> None:
    table = apply([parse_row(r) for _, r in read_rows(FILE)])
    assert table == {"MAIN": {"AB-1": 40}, "NORTH": {"CD-2": 12}}


def test_import_file(tmp_path: Path) -> None:
    src = tmp_path / "acme.csv"
    src.write_text(FILE)
    assert import_file(src, tmp_path / "stock") == 2
    assert (tmp_path / "stock" / "NORTH.json").is_file()
