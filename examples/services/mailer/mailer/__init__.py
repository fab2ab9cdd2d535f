"""Queued notification e-mails."""

__version__ = "2.3.1"
