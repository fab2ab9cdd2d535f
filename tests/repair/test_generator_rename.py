"""Rename generator: close names among those reachable, checked for kind and annotation."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.repair.templates import attributes, rename
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, make_repo, result

MODELS = '''"""Shop models."""
from dataclasses import dataclass


class Base:
    def __init__(self, sku: str) -> None:
        self.sku_code = sku


class Item(Base):
    def __init__(self, sku: str, price: int) -> None:
        super().__init__(sku)
        self.unit_price = price

    @property
    def label_text(self) -> str:
        return self.sku_code.upper()

    def unit_prices(self):
        return [self.unit_price]


@dataclass
class Order:
    quantity: int
    note: str = ""


def charge(amount: int, currency: str = "EUR", retries: int = 0) -> str:
    return f"{amount} {currency} x{retries}"
'''

USE = '''"""Uses the models."""
from shop.models import Item, Order, charge


def total(item, n):
    return item.unit_pric * n


def code(item):
    return item.sku.lower()


def title(item):
    return item.label.strip()


def order(n):
    return Order(quantitiy=n).quantity


def pay(amount: int):
    return charge(amount, curency="USD")


def pay_retry(amount: int):
    return charge(amount, curency=3)
'''
SETUP = "from shop.models import Item\nfrom shop import use\nit = Item('ab', 4)"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("shop"), {
        "shop/__init__.py": "", "shop/models.py": MODELS, "shop/use.py": USE,
    })


def test_value_attribute_renamed_to_a_value_not_a_method(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/use.py", "item.unit_pric", "AttributeError", "'Item' object has no attribute 'unit_pric'")
    cands = attributes.generate(ctx)
    strategies = [c.strategy for c in cands]
    assert "rename-attribute-unit_prices" not in strategies  # a method is no replacement for a number
    best = by_strategy(cands, "rename-attribute-unit_price")
    assert best.strategy.startswith("rename-")
    assert_fixes(shop, best, tmp_path, "use.total(it, 2)", ["use.code.__name__"], SETUP, max_changed=2)
    assert result(shop, best, "use.total(it, 3)", tmp_path, SETUP) == 12


def test_python_suggestion_of_the_wrong_kind_is_not_taken(shop: GitRepo) -> None:
    ctx = crash(shop, "shop/use.py", "item.unit_pric", "AttributeError",
                "'Item' object has no attribute 'unit_pric'. Did you mean: 'unit_prices'?")
    assert "rename-attribute-unit_prices" not in [c.strategy for c in attributes.generate(ctx)]


def test_attribute_of_a_base_class_in_the_repo(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/use.py", "item.sku.lower()", "AttributeError", "'Item' object has no attribute 'sku'")
    best = by_strategy(attributes.generate(ctx), "rename-attribute-sku_code")
    assert_fixes(shop, best, tmp_path, "use.code(it)", ["use.total.__name__"], SETUP, max_changed=2)
    assert result(shop, best, "use.code(it)", tmp_path, SETUP) == "ab"


def test_property_with_a_fitting_annotation(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/use.py", "item.label.strip()", "AttributeError", "'Item' object has no attribute 'label'")
    best = by_strategy(attributes.generate(ctx), "rename-attribute-label_text")
    assert_fixes(shop, best, tmp_path, "use.title(it)", ["use.total.__name__"], SETUP, max_changed=2)


def test_keyword_renamed_in_a_dataclass(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/use.py", "Order(quantitiy=n)", "TypeError",
                "Order.__init__() got an unexpected keyword argument 'quantitiy'")
    best = by_strategy(rename.generate(ctx), "rename-keyword-quantity")
    assert_fixes(shop, best, tmp_path, "use.order(2)", ["use.title.__name__"], SETUP, max_changed=2)
    assert result(shop, best, "use.order(5)", tmp_path, SETUP) == 5


def test_keyword_renamed_in_the_callee_when_the_value_fits(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/use.py", 'curency="USD"', "TypeError",
                "charge() got an unexpected keyword argument 'curency'")
    best = by_strategy(rename.generate(ctx), "rename-keyword-currency")
    assert_fixes(shop, best, tmp_path, "use.pay(3)", ["use.title.__name__"], SETUP, max_changed=2)
    assert result(shop, best, "use.pay(3)", tmp_path, SETUP) == "3 USD x0"


def test_keyword_of_the_wrong_type_is_not_offered(shop: GitRepo) -> None:
    ctx = crash(shop, "shop/use.py", "curency=3", "TypeError", "charge() got an unexpected keyword argument 'curency'")
    assert "rename-keyword-currency" not in [c.strategy for c in rename.generate(ctx)]
