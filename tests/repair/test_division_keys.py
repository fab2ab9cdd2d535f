"""Division-by-zero and missing-key templates on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.handoffs import Critique
from crew.repair.templates import division, keys
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, crashes, make_repo, result

PRICING = '''"""Pricing."""


def apply_discount(price, discount_factor):
    # discount factors come from the promo service
    return price / discount_factor


def average(values):
    count = len(values)
    avg = sum(values) / count  # mean of the basket
    return avg


def normalise(x, scale):
    x /= scale
    return x


def pages(total, per_page):
    return total // per_page + (1 if total % per_page else 0)


def both(a, b):
    return divmod(a, b)
'''


@pytest.fixture(scope="module")
def pricing(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("pricing"), {"app/__init__.py": "", "app/pricing.py": PRICING})


def test_discount_divisor_falls_back_to_the_numerator(pricing: GitRepo, tmp_path: Path) -> None:
    ctx = crash(pricing, "app/pricing.py", "return price /", "ZeroDivisionError", "division by zero")
    cands = division.generate(ctx)
    assert cands[0].strategy == "guard-zero-divisor-identity"
    assert "    if not discount_factor:\n        return price\n    return price / discount_factor" in (
        cands[0].edits[0].updated
    )
    assert "# discount factors come from the promo service" in cands[0].edits[0].updated
    setup = "from app.pricing import apply_discount"
    assert_fixes(pricing, cands[0], tmp_path, "apply_discount(100, 0)", ["apply_discount(100, 4)"], setup)
    assert result(pricing, cands[0], "apply_discount(100, 0)", tmp_path, setup) == 100
    assert all("ValueError" not in c.edits[0].updated for c in cands)


def test_average_falls_back_to_zero_with_a_conditional(pricing: GitRepo, tmp_path: Path) -> None:
    ctx = crash(pricing, "app/pricing.py", "avg = sum", "ZeroDivisionError", "division by zero")
    best = division.generate(ctx)[0]
    assert best.strategy == "conditional-zero-divisor-zero"
    assert "avg = sum(values) / count if count else 0.0  # mean of the basket" in best.edits[0].updated
    setup = "from app.pricing import average"
    assert_fixes(pricing, best, tmp_path, "average([])", ["average([1, 2])", "average([3])"], setup)
    assert result(pricing, best, "average([])", tmp_path, setup) == 0.0


def test_augmented_division_and_floor_division(pricing: GitRepo, tmp_path: Path) -> None:
    ctx = crash(pricing, "app/pricing.py", "x /= scale", "ZeroDivisionError", "float division by zero")
    best = division.generate(ctx)[0]
    assert best.strategy == "guard-zero-divisor-identity"
    assert_fixes(pricing, best, tmp_path, "normalise(3.0, 0)", ["normalise(3.0, 2)"],
                 "from app.pricing import normalise")
    ctx = crash(pricing, "app/pricing.py", "return total //", "ZeroDivisionError", "integer division or modulo by zero")
    cands = division.generate(ctx)
    assert cands and all("// per_page" in c.edits[0].updated for c in cands)
    assert any(c.edits[0].updated.count("if not per_page") == 1 for c in cands)


def test_unrecognised_division_and_tried_strategies(pricing: GitRepo) -> None:
    ctx = crash(pricing, "app/pricing.py", "return divmod", "ZeroDivisionError", "integer division or modulo by zero")
    assert division.generate(ctx) == []
    ctx = crash(pricing, "app/pricing.py", "return price /", "ZeroDivisionError", "division by zero")
    ctx.tried = {"guard-zero-divisor-identity"}
    assert "guard-zero-divisor-identity" not in [c.strategy for c in division.generate(ctx)]
    ctx.tried = set()
    ctx.feedback = Critique(verdict="revise", feedback="guard-zero-divisor-identity returned the wrong value")
    assert division.generate(ctx)[0].strategy != "guard-zero-divisor-identity"


ORDERS = '''"""Order events from the checkout service."""


def customer_of(payload):
    """The customer who placed the order."""
    customer = payload["customer_id"]
    return customer.upper()


def quantity(payload):
    return int(payload["qty"])


def lookup(payload, field):
    return payload[field]
'''
PRODUCER = '''"""The checkout service's event schema (v2)."""

EVENT_FIELDS = ("orderId", "customerId", "items")
'''


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("orders"), {
        "svc/__init__.py": "", "svc/orders.py": ORDERS, "svc/schema.py": PRODUCER,
    })


def test_renamed_key_from_the_logged_payload(orders: GitRepo, tmp_path: Path) -> None:
    log = ['INFO consumed event {"orderId": "o-1", "customerId": "c-9", "items": []}']
    ctx = crash(orders, "svc/orders.py", 'payload["customer_id"]', "KeyError", "'customer_id'", log=log)
    cands = keys.generate(ctx)
    best = cands[0]
    assert best.strategy == "accept-renamed-key-customerid" and best.score >= 0.85
    assert 'payload["customer_id"] if "customer_id" in payload else payload["customerId"]' in best.edits[0].updated
    setup = "from svc.orders import customer_of"
    assert_fixes(orders, best, tmp_path, "customer_of({'customerId': 'c-9'})",
                 ["customer_of({'customer_id': 'c-2'})"], setup)
    assert cands[-1].strategy == "default-missing-key" and cands[-1].score < best.score


def test_renamed_key_from_the_repo_schema_without_logs(orders: GitRepo, tmp_path: Path) -> None:
    ctx = crash(orders, "svc/orders.py", 'payload["customer_id"]', "KeyError", "'customer_id'")
    ctx.evidence = None
    best = keys.generate(ctx)[0]
    assert best.strategy == "accept-renamed-key-customerid"
    assert_fixes(orders, best, tmp_path, "customer_of({'customerId': 'x'})", ["customer_of({'customer_id': 'y'})"],
                 "from svc.orders import customer_of")
    # A payload with neither name still fails loudly.
    setup = "from svc.orders import customer_of"
    assert "KeyError" in (crashes(orders, best, "customer_of({})", tmp_path, setup) or "")


def test_missing_key_without_a_rename_gets_a_typed_default(orders: GitRepo, tmp_path: Path) -> None:
    ctx = crash(orders, "svc/orders.py", 'int(payload["qty"])', "KeyError", "'qty'")
    cands = keys.generate(ctx)
    cand = by_strategy(cands, "default-missing-key")
    assert 'int(payload.get("qty", 0))' in cand.edits[0].updated
    assert_fixes(orders, cand, tmp_path, "quantity({})", ["quantity({'qty': '3'})"], "from svc.orders import quantity")


def test_unrecognised_key_errors_yield_nothing(orders: GitRepo) -> None:
    assert keys.generate(crash(orders, "svc/orders.py", "return payload[field]", "KeyError", "'color'")) == []
    ctx = crash(orders, "svc/orders.py", 'payload["customer_id"]', "KeyError", "<object at 0x1>")
    assert keys.generate(ctx) == []
