"""The kind of fix a candidate is, read from its strategy name: one table for reflection, report and PR.

Generators name their candidates "<kind>-<what>" (``revert-suspect-hunk``, ``guard-zero-divisor-x``)
and the search appends ``@path:line`` for a candidate moved upstream. A reviewer judges a revert
differently from a guard or a coercion (what it may undo, what it may hide), so every view says
the kind in the same words, and reflection picks the rules that fit it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from crew.handoffs import SuspectCommit

Kind = Literal[
    "revert", "guard", "default", "coerce", "parse", "rename", "mutate", "initialise", "import", "config", "other"
]


class FixKind(BaseModel):
    """A kind of fix in plain words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    label: str
    description: str


_KINDS: dict[Kind, FixKind] = {k.kind: k for k in (
    FixKind(kind="revert", label="revert",
            description="restores the lines the suspect commit changed, as production ran them before the crash"),
    FixKind(kind="guard", label="guard",
            description="checks the failing value before the operation and takes a safe path when it is bad"),
    FixKind(kind="default", label="default",
            description="supplies the value the repository documents when the value is missing"),
    FixKind(kind="coerce", label="coercion",
            description="converts the value to the type the operation expects"),
    FixKind(kind="parse", label="tolerant parsing",
            description="accepts more spellings of the input (units, separators, zones, encodings)"),
    FixKind(kind="rename", label="rename",
            description="uses the name the code actually defines instead of the missing one"),
    FixKind(kind="mutate", label="code change",
            description="changes an operator, bound or argument order at the fault line"),
    FixKind(kind="initialise", label="initialisation",
            description="assigns the attribute on every path that creates the object"),
    FixKind(kind="import", label="import",
            description="imports the name from where it now lives"),
    FixKind(kind="config", label="configuration",
            description="changes the deployment's configuration, not the code"),
    FixKind(kind="other", label="fix",
            description="a change the generator kinds above do not name"),
)}

# Strategy-name prefixes, longest first wins; the kind's own name is always one.
_PREFIXES: dict[str, Kind] = {
    "revert-": "revert",
    "guard-": "guard",
    "conditional-": "guard",
    "default-": "default",
    "get-none-default": "default",
    "env-default-": "default",
    "settings-default-": "default",
    "coerce-": "coerce",
    "convert-": "coerce",
    "float-convert-": "coerce",
    "str-convert-": "coerce",
    "str-join-": "coerce",
    "fstring-": "coerce",
    "parse-": "parse",
    "tolerant-": "parse",
    "inline-": "parse",
    "decode-": "parse",
    "encode-": "parse",
    "rename-": "rename",
    "accept-renamed-": "rename",
    "mutate-": "mutate",
    "off-by-one-": "mutate",
    "initialise-": "initialise",
    "initialize-": "initialise",
    "import-": "import",
    "add-missing-import": "import",
    "add-requirement": "config",
    "add-env-to-manifest": "config",
    "raise-memory-limit": "config",
}


def base_strategy(strategy: str) -> str:
    """The generator's own strategy name, without the ``@path:line`` of an upstream location."""
    return strategy.split("@", 1)[0]


def kind(strategy: str) -> Kind:
    """The kind of fix ``strategy`` makes: ``kind("revert-suspect-hunk") == "revert"``."""
    name = base_strategy(strategy)
    for prefix in sorted(_PREFIXES, key=len, reverse=True):
        if name.startswith(prefix):
            return _PREFIXES[prefix]
    return "other"


def describe(strategy: str) -> FixKind:
    """The kind of ``strategy`` with its label and what that kind of fix does."""
    return _KINDS[kind(strategy)]


def is_partial_revert(strategy: str) -> bool:
    """A revert of one hunk (not the whole change to the function)."""
    return kind(strategy) == "revert" and base_strategy(strategy).endswith("-hunk")


_SHA_IN_TEXT = re.compile(r"\bcommit ([0-9a-f]{7,40})\b(?: \((.+?)\)(?= at |'s ))?")


def reverted_commit(strategy: str, rationale: str, suspects: list[SuspectCommit]) -> SuspectCommit | None:
    """The commit a revert undoes: the suspect its rationale names (the revert generator writes
    "commit <sha>"), else the sha alone as a record with no author; None for other kinds."""
    if kind(strategy) != "revert":
        return None
    m = _SHA_IN_TEXT.search(rationale)
    if m is None:
        return suspects[0] if len(suspects) == 1 else None
    short = m.group(1)
    for s in suspects:
        if s.sha.startswith(short):
            return s
    return SuspectCommit(sha=short, author="", date=datetime.fromtimestamp(0, UTC), summary=m.group(2) or "",
                         reason="named by the revert")


def kind_sentence(strategy: str, rationale: str, suspects: list[SuspectCommit], *,
                  commit: Callable[[str], str], text: Callable[[str], str]) -> str:
    """"<label> — <what it does>", for a revert naming the commit it undoes: one wording for the report
    and the PR. ``commit`` renders a sha (a link on a forge), ``text`` makes untrusted text safe."""
    fix = describe(strategy)
    undone = reverted_commit(strategy, rationale, suspects)
    if undone is None:
        return f"{text(fix.label)} — {text(fix.description)}"
    subject = f' "{text(undone.summary)}"' if undone.summary else ""
    how = "partly reverts" if is_partial_revert(strategy) else "reverts the fault function's part of"
    return f"{text(fix.label)} — {how} {commit(undone.sha)}{subject}"
