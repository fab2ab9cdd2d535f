import json
from decimal import Decimal
from pathlib import Path

from ingest.batch import SaleLine, decode_body, parse_batch
from ingest.worker import ingest_file


def test_parse_batch() -> None:
    assert parse_batch("espresso;2;2.10\n\ncroissant;1;1.20\n") == [
        SaleLine("espresso", 2, Decimal("2.10")), SaleLine("croissant", 1, Decimal("1.20"))]


def test_decode_crlf() -> None:
    assert decode_body(b"tea;1;2.00\r\n").splitlines() == ["tea;1;2.00"]


def test_ingest_file_appends_to_journal(tmp_path: Path) -> None:
    batch = tmp_path / "pos-0142-000317.batch"
    batch.write_bytes(b"espresso;2;2.10\r\nbagel;1;2.50\r\n")
    journal = tmp_path / "sales.jsonl"
    assert ingest_file(batch, journal) == 2
    first = json.loads(journal.read_text().splitlines()[0])
    assert first == {"store": "0142", "product": "espresso", "quantity": 2, "unit_price": "2.10"}
    assert not batch.exists()
