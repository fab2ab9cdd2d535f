"""Judging helpers the benchmarks share: whether a reproduction's exception is production's, and a patch's files."""

from __future__ import annotations

import re
from typing import Any

_SUGGESTION = re.compile(r"\.? (?:Did you mean: [^?]*|Or did you forget to import [^?]*)\?$")


def same_message(theirs: str | None, production: str) -> bool:
    """Messages match when equal apart from whitespace, object addresses and the "Did you mean" hint
    that Python's traceback printer (not ``str(exc)``, which a test report holds) appends."""
    def norm(text: str) -> str:
        return " ".join(re.sub(r"0x[0-9a-fA-F]+", "0x?", _SUGGESTION.sub("", text.strip())).split())
    return theirs is not None and norm(theirs) == norm(production)


def patch_files(diff: str) -> set[str]:
    """The files a unified diff changes (its ``+++ b/`` lines)."""
    return {line[6:] for line in diff.splitlines() if line.startswith("+++ b/")}


def reproduction_claims(report: dict[str, Any], exc_type: str, exc_message: str) -> tuple[list[str], list[str], int]:
    """Read every reproduction claim of a run report against production's exception.

    Returns the input sources of the claims (deduplicated), the false claims (said "reproduces"
    with another exception or message) and how many reproductions were refused for a different
    message of the same type.
    """
    sources: list[str] = []
    false_claims: list[str] = []
    refused = 0
    claims: list[tuple[bool, str, dict[str, Any]]] = []  # (claims to reproduce, input source, what the test raised)
    repro = report.get("reproduction")
    if isinstance(repro, dict):
        entry = f" via {repro['entry']}" if repro.get("entry_depth") else ""
        claims.append((bool(repro.get("reproduced")), f"{repro.get('source') or '?'}{entry}",
                       repro.get("test_on_original") or {}))
        refused += int(repro.get("refused") or 0)
    for a in report.get("attempts") or []:
        val = a.get("validation") or {}
        claims.append((bool(val.get("reproduces")),
                       ((a.get("proposal") or {}).get("test") or {}).get("input_source") or "?",
                       val.get("test_on_original") or {}))
    for claimed, source, orig in claims:
        got_type = (orig.get("exc_type") or "").rsplit(".", 1)[-1]
        same = got_type == exc_type and same_message(orig.get("exc_message"), exc_message)
        if claimed:
            if not any(s.split(" via ")[0] == source.split(" via ")[0] for s in sources):
                sources.append(source)
            if not same:
                false_claims.append(f"{got_type}: {orig.get('exc_message')}"[:120])
        elif got_type == exc_type and not same:
            refused += 1
    return sources, false_claims, refused
