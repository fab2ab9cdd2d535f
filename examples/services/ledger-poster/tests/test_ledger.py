import pytest

from ledger.book import Book
from ledger.journal import JournalEntry, Posting, post_entry

SALE = JournalEntry("je-1", "shop", (Posting("1200-receivables", debit_cents=11900),
                                     Posting("8400-revenue", credit_cents=10000),
                                     Posting("1776-vat", credit_cents=1900)))


def test_post_balanced_entry() -> None:
    book = Book()
    post_entry(SALE, book)
    assert book.balances["1200-receivables"] == 11900
    assert book.total() == 0


def test_from_message() -> None:
    entry = JournalEntry.from_message({"id": 7, "postings": [
        {"account": "1000-cash", "debit_cents": "500"}, {"account": "8400-revenue", "credit_cents": 500}]})
    assert entry.id == "7" and entry.source == "unknown" and len(entry.postings) == 2
def test_unbalanced_entry_is_rejected_and_not_posted() -> None:
    from ledger.errors import LedgerImbalanceError

    bad = JournalEntry("je-2", "shop", (Posting("1000-cash", debit_cents=100),
                                        Posting("8400-revenue", credit_cents=90)))
    book = Book()
    with pytest.raises(LedgerImbalanceError, match="unbalanced"):
        post_entry(bad, book)
    assert book.total() == 0 and not book.balances
