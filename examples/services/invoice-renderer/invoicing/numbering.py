"""Invoice references printed on the document and used as the e-mail subject."""

from __future__ import annotations


def invoice_reference(number: int, customer_code: str) -> str:
    """Printed reference, e.g. INV-10427-ACME-DE (finance request FIN-212)."""
    return "INV-" + number + "-" + customer_code
