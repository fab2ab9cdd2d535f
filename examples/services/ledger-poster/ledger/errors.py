"""Errors of the ledger."""


class LedgerError(Exception):
    """Base of the ledger's errors."""


class LedgerImbalanceError(LedgerError):
    """A journal entry whose debits and credits differ: it must never be posted."""
