"""None-dereference, type-mismatch and index templates on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.repair.templates import index, none_guard, types
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, make_repo, result

USERS = '''"""Shipping labels."""

ADDRESSES = {"ada": {"city": "london"}}


class Address:
    def __init__(self, city):
        self.city = city


def find_address(user):
    row = ADDRESSES.get(user)
    return Address(row["city"]) if row else None


def city_label(user) -> str:
    address = find_address(user)
    return address.city.upper()


def cities(users):
    out = []
    for user in users:
        address = find_address(user)
        out.append(address.city)
    return out


def call_hook(hooks):
    return hooks.get("x")()
'''


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("users"), {"ship/__init__.py": "", "ship/labels.py": USERS})


def test_none_guard_returns_the_functions_neutral_value(users: GitRepo, tmp_path: Path) -> None:
    ctx = crash(users, "ship/labels.py", "return address.city.upper()", "AttributeError",
                "'NoneType' object has no attribute 'city'")
    best = none_guard.generate(ctx)[0]
    assert best.strategy == "guard-none-return"
    assert '    if address is None:\n        return ""\n    return address.city.upper()' in best.edits[0].updated
    assert "find_address(user)" in best.rationale
    setup = "from ship.labels import city_label"
    assert_fixes(users, best, tmp_path, "city_label('bob')", ["city_label('ada')"], setup)
    assert result(users, best, "city_label('bob')", tmp_path, setup) == ""


def test_none_guard_inside_a_loop_skips_the_item(users: GitRepo, tmp_path: Path) -> None:
    ctx = crash(users, "ship/labels.py", "out.append(address.city)", "AttributeError",
                "'NoneType' object has no attribute 'city'")
    cands = none_guard.generate(ctx)
    best = cands[0]
    assert best.strategy == "guard-none-skip"
    setup = "from ship.labels import cities"
    assert_fixes(users, best, tmp_path, "cities(['ada', 'bob'])", ["cities(['ada'])"], setup)
    assert result(users, best, "cities(['ada', 'bob'])", tmp_path, setup) == ["london"]
    cond = by_strategy(cands, "conditional-none")
    assert "out.append(address.city if address is not None else None)" in cond.edits[0].updated


def test_none_guard_declines_what_it_cannot_guard(users: GitRepo) -> None:
    ctx = crash(users, "ship/labels.py", 'return hooks.get("x")()', "TypeError", "'NoneType' object is not callable")
    assert none_guard.generate(ctx) == []  # the None is a call's result: guarding it would call twice
    ctx = crash(users, "ship/labels.py", "return address.city.upper()", "AttributeError",
                "'NoneType' object has no attribute 'zip'")
    assert none_guard.generate(ctx) == []


INVOICES = '''"""Invoice numbering."""


def invoice_id(number):
    return "INV-" + number + "-A"


def add_stock(count, delta):
    return count + delta


def is_adult(age):
    return age >= 18


def describe(parts):
    return ", ".join(parts)


def length(x):
    return len(x)
'''


@pytest.fixture(scope="module")
def invoices(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("inv"), {"billing/__init__.py": "", "billing/ids.py": INVOICES})


def test_str_concatenation_converts_the_number(invoices: GitRepo, tmp_path: Path) -> None:
    ctx = crash(invoices, "billing/ids.py", 'return "INV-"', "TypeError", 'can only concatenate str (not "int") to str')
    cands = types.generate(ctx)
    best = cands[0]
    assert best.strategy == "str-convert-operand"
    assert 'return "INV-" + str(number) + "-A"' in best.edits[0].updated
    setup = "from billing.ids import invoice_id"
    assert_fixes(invoices, best, tmp_path, "invoice_id(42)", ["invoice_id('42')"], setup, max_changed=2)
    fstring = by_strategy(cands, "fstring-format")
    assert 'return f"INV-{number}-A"' in fstring.edits[0].updated
    assert_fixes(invoices, fstring, tmp_path, "invoice_id(42)", ["invoice_id('42')"], setup, max_changed=2)


def test_numeric_operand_and_comparison_parse_the_text(invoices: GitRepo, tmp_path: Path) -> None:
    ctx = crash(invoices, "billing/ids.py", "return count + delta", "TypeError",
                "unsupported operand type(s) for +: 'int' and 'str'")
    best = types.generate(ctx)[0]
    assert best.strategy == "int-convert-operand" and "return count + int(delta)" in best.edits[0].updated
    assert_fixes(invoices, best, tmp_path, "add_stock(3, '4')", ["add_stock(3, 4)"],
                 "from billing.ids import add_stock")
    ctx = crash(invoices, "billing/ids.py", "return age >= 18", "TypeError",
                "'>=' not supported between instances of 'str' and 'int'")
    best = types.generate(ctx)[0]
    assert "return int(age) >= 18" in best.edits[0].updated
    assert_fixes(invoices, best, tmp_path, "is_adult('20')", ["is_adult(20)", "is_adult(3)"],
                 "from billing.ids import is_adult")
    ctx = crash(invoices, "billing/ids.py", 'return ", ".join', "TypeError", "sequence item 1: expected str instance, "
                "int found")
    best = types.generate(ctx)[0]
    assert_fixes(invoices, best, tmp_path, "describe(['a', 2])", ["describe(['a', 'b'])"],
                 "from billing.ids import describe")


def test_unrecognised_type_errors_yield_nothing(invoices: GitRepo) -> None:
    ctx = crash(invoices, "billing/ids.py", "return len(x)", "TypeError", "object of type 'int' has no len()")
    assert types.generate(ctx) == []
    ctx = crash(invoices, "billing/ids.py", "return count + delta", "TypeError",
                "unsupported operand type(s) for +: 'int' and 'list'")
    assert types.generate(ctx) == []


CART = '''"""Cart helpers."""


def first_item(items):
    return items[0]


def head_name(rows):
    first = rows[0]["name"]
    return first


def last_prices(carts):
    out = []
    for cart in carts:
        out.append(cart[-1])
    return out


def take(items):
    return items.pop()
'''


@pytest.fixture(scope="module")
def cart(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("cart"), {"shop/__init__.py": "", "shop/cart.py": CART})


def test_index_guard_before_return(cart: GitRepo, tmp_path: Path) -> None:
    ctx = crash(cart, "shop/cart.py", "return items[0]", "IndexError", "list index out of range")
    best = index.generate(ctx)[0]
    assert best.strategy == "guard-short-sequence-return"
    assert "    if not items:\n        return None\n    return items[0]" in best.edits[0].updated
    assert_fixes(cart, best, tmp_path, "first_item([])", ["first_item([4, 5])"], "from shop.cart import first_item")


def test_index_conditional_on_assignment_and_skip_in_loop(cart: GitRepo, tmp_path: Path) -> None:
    ctx = crash(cart, "shop/cart.py", 'first = rows[0]["name"]', "IndexError", "list index out of range")
    cands = index.generate(ctx)
    cond = by_strategy(cands, "conditional-index-default")
    assert cands[0] is cond
    assert 'first = rows[0]["name"] if rows else None' in cond.edits[0].updated
    assert_fixes(cart, cond, tmp_path, "head_name([])", ["head_name([{'name': 'x'}])"],
                 "from shop.cart import head_name")
    ctx = crash(cart, "shop/cart.py", "out.append(cart[-1])", "IndexError", "list index out of range")
    best = index.generate(ctx)[0]
    assert best.strategy == "guard-short-sequence-skip"
    setup = "from shop.cart import last_prices"
    assert_fixes(cart, best, tmp_path, "last_prices([[1], []])", ["last_prices([[1, 2], [3]])"], setup)
    assert result(cart, best, "last_prices([[1], []])", tmp_path, setup) == [1]


def test_unrecognised_index_errors_yield_nothing(cart: GitRepo) -> None:
    assert index.generate(crash(cart, "shop/cart.py", "return items.pop()", "IndexError", "pop from empty list")) == []
