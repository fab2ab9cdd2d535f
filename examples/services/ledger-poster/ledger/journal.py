"""Journal entries and posting them to the book."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.book import Book
from ledger.errors import LedgerImbalanceError


@dataclass(frozen=True)
class Posting:
    account: str
    debit_cents: int = 0
    credit_cents: int = 0


@dataclass(frozen=True)
class JournalEntry:
    id: str
    source: str
    postings: tuple[Posting, ...]

    @classmethod
    def from_message(cls, raw: dict[str, Any]) -> JournalEntry:
        return cls(
            id=str(raw["id"]),
            source=str(raw.get("source", "unknown")),
            postings=tuple(Posting(str(p["account"]), int(p.get("debit_cents", 0)),
                                   int(p.get("credit_cents", 0))) for p in raw["postings"]),
        )


def check_balanced(entry: JournalEntry) -> None:
    """Double-entry invariant: the debits of an entry equal its credits."""
    debits = sum(p.debit_cents for p in entry.postings)
    credits = sum(p.credit_cents for p in entry.postings)
    if debits != credits:
        raise LedgerImbalanceError(
            f"journal entry {entry.id} from {entry.source} is unbalanced: "
            f"debits {debits / 100:.2f} != credits {credits / 100:.2f}"
        )


def post_entry(entry: JournalEntry, book: Book) -> None:
    """Apply every posting of ``entry`` to the book, all or nothing."""
    check_balanced(entry)
    for posting in entry.postings:
        book.apply(posting.account, posting.debit_cents - posting.credit_cents)
