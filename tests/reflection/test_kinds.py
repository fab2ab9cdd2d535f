"""The kind of fix is read from the strategy name, the same for reflection, report and PR."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crew.handoffs import SuspectCommit
from crew.repair.kinds import describe, is_partial_revert, kind, reverted_commit


@pytest.mark.parametrize(("strategy", "expected"), [
    ("revert-suspect-hunk", "revert"),
    ("revert-suspect-function", "revert"),
    ("guard-zero-divisor-rate", "guard"),
    ("conditional-none", "guard"),
    ("default-missing-key", "default"),
    ("get-none-default", "default"),
    ("coerce-operand-int", "coerce"),
    ("float-convert-operand", "coerce"),
    ("parse-decimal-comma", "parse"),
    ("tolerant-date-parse", "parse"),
    ("rename-attribute-total", "rename"),
    ("accept-renamed-key-user_id", "rename"),
    ("mutate-bound-lt", "mutate"),
    ("off-by-one-last-index", "mutate"),
    ("initialise-attribute-cache", "initialise"),
    ("import-from-new-module", "import"),
    ("add-env-to-manifest", "config"),
    ("guard-none-return@app/orders.py:12", "guard"),
    ("something-new", "other"),
])
def test_kind_from_strategy(strategy: str, expected: str) -> None:
    assert kind(strategy) == expected


def test_the_location_suffix_does_not_change_the_kind() -> None:
    # "revert-" inside the location must not make a guard a revert
    assert kind("guard-none-skip@revert-tools/x.py:3") == "guard"


def test_describe_gives_a_label_and_a_sentence() -> None:
    coerce = describe("coerce-operand-int")
    assert coerce.label == "coercion"
    assert "type" in coerce.description
    assert describe("nope").kind == "other"


def test_partial_revert() -> None:
    assert is_partial_revert("revert-suspect-hunk")
    assert not is_partial_revert("revert-suspect-function")
    assert not is_partial_revert("guard-hunk")


def _suspect(sha: str, summary: str) -> SuspectCommit:
    return SuspectCommit(sha=sha, author="A <a@x>", date=datetime(2026, 1, 1, tzinfo=UTC), summary=summary)


def test_reverted_commit_is_the_suspect_the_rationale_names() -> None:
    a, b = _suspect("a" * 40, "Add tiered pricing"), _suspect("b" * 40, "Tidy")
    rationale = f"Undo the hunk of commit {'b' * 12} (Tidy) at the fault in `price`: the lines ..."
    assert reverted_commit("revert-suspect-hunk", rationale, [a, b]) == b
    assert reverted_commit("guard-zero-divisor-x", rationale, [a, b]) is None


def test_reverted_commit_outside_the_suspects_keeps_sha_and_subject() -> None:
    rationale = f"Undo all of commit {'c' * 12} (Add (new) tiers)'s change to `price`, which introduced the crash."
    got = reverted_commit("revert-suspect-function", rationale, [_suspect("a" * 40, "x")])
    assert got is not None and got.sha == "c" * 12 and got.summary == "Add (new) tiers"
