"""The general guard: one transformation at the failing sub-expression, in every syntactic position."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.handoffs import Carets
from crew.repair.candidates import TemplateContext
from crew.repair.templates import guard
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, make_repo, result

CODE = '''"""Orders."""


class Item:
    def __init__(self, price, tags=None, owner=None):
        self.price = price
        self.tags = tags
        self.owner = owner


class Owner:
    def __init__(self, name):
        self.name = name


def total(items):
    acc = 0
    for item in items:
        acc += item.price
    return acc


def tag_count(item) -> int:
    return len(item.tags)


def all_tags(items):
    return [t for item in items for t in item.tags]


def names(items):
    return [item.owner.name.upper() for item in items]


def label(item):
    return f"item by {item.owner.name}"


def owner_initial(item):
    """The owner's initial, or an empty string when there is none."""
    return item.owner.name[0]


def is_named(item):
    if item.owner.name:
        return True
    return False


def parse_price(raw):
    return int(raw)


def upper_owners(items):
    out = []
    for item in items:
        out.append(item.owner.name.upper())
    return out


def ratio(a, b):
    return a / b


def first(xs) -> list:
    return xs[0]


def lookup(table, key):
    return table["price"]


def describe(item):
    for tag in item.tags:
        print(tag)
    return "ok"


def owner_names(items):
    return [label_of(item) for item in items]


def label_of(item):
    return item.owner.name


def deliberate(item):
    if item.owner is None:
        raise ValueError("no owner")
    return item.owner.name


def from_call(item):
    return make().name


def make():
    return None
'''

CALLERS = '''from shop.orders import owner_tags


def print_all(item):
    for tag in owner_tags(item):
        print(tag)
'''

CALLER_LIB = '''def owner_tags(item):
    return item.owner.tags
'''


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("shop"), {
        "shop/__init__.py": "", "shop/items.py": CODE, "shop/orders.py": CALLER_LIB, "shop/cli.py": CALLERS,
    })


SETUP = "from shop.items import *"


def with_carets(ctx: TemplateContext, underlined: str) -> TemplateContext:
    """The context as a Python 3.11 log would give it: carets under ``underlined`` on the fault line."""
    mapped = ctx.diagnosis.fault_frame
    assert mapped is not None and mapped.frame.code
    start = mapped.frame.code.index(underlined)
    carets = Carets(start=start, end=start + len(underlined), primary_start=start, primary_end=start + len(underlined))
    frame = mapped.frame.model_copy(update={"carets": carets})
    diagnosis = ctx.diagnosis.model_copy(update={"fault_frame": mapped.model_copy(update={"frame": frame})})
    return TemplateContext(diagnosis=diagnosis, repo=ctx.repo, evidence=ctx.evidence)


def test_augmented_assignment_adds_the_identity(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", "acc += item.price", "AttributeError",
                "'NoneType' object has no attribute 'price'")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert "acc += item.price if item is not None else 0" in cand.edits[0].updated
    assert_fixes(shop, cand, tmp_path, "total([Item(2), None])", ["total([Item(2), Item(3)])"], SETUP)
    assert result(shop, cand, "total([Item(2), None])", tmp_path, SETUP) == 2
    skip = by_strategy(guard.generate(ctx), "guard-none-skip")
    assert result(shop, skip, "total([Item(2), None, Item(1)])", tmp_path, SETUP) == 3


def test_len_call_guarded_with_what_len_returns(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", "return len(item.tags)", "TypeError", "object of type 'NoneType' has no len()")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert cand.expected_result == "0"
    assert_fixes(shop, cand, tmp_path, "tag_count(Item(1))", ["tag_count(Item(1, ['a', 'b']))"], SETUP)
    assert result(shop, cand, "tag_count(Item(1))", tmp_path, SETUP) == 0


def test_int_call_guarded_with_zero(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", "return int(raw)", "TypeError",
                "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert_fixes(shop, cand, tmp_path, "parse_price(None)", ["parse_price('12')"], SETUP)
    assert result(shop, cand, "parse_price(None)", tmp_path, SETUP) == 0


def test_comprehension_iteration_skips_the_missing_items(shop: GitRepo, tmp_path: Path) -> None:
    plain = crash(shop, "shop/items.py", "for t in item.tags]", "TypeError", "'NoneType' object is not iterable")
    assert guard.generate(plain) == []  # `items` or `item.tags`: without carets the guard does not guess
    ctx = with_carets(plain, "item.tags")
    cand = by_strategy(guard.generate(ctx), "guard-none-comprehension-skip")
    assert "for item in items if item.tags is not None for t in item.tags]" in cand.edits[0].updated
    assert_fixes(shop, cand, tmp_path, "all_tags([Item(1, ['a']), Item(2)])", ["all_tags([Item(1, ['a', 'b'])])"],
                 SETUP)
    assert result(shop, cand, "all_tags([Item(1, ['a']), Item(2), Item(3, ['c'])])", tmp_path, SETUP) == ["a", "c"]


def test_comprehension_body_attribute_chain_skips_the_item(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", "item.owner.name.upper() for", "AttributeError",
                "'NoneType' object has no attribute 'name'")
    cand = by_strategy(guard.generate(ctx), "guard-none-comprehension-skip")
    assert "for item in items if item.owner is not None]" in cand.edits[0].updated
    assert_fixes(shop, cand, tmp_path, "names([Item(1)])", ["names([Item(1, owner=Owner('ada'))])"], SETUP)
    assert result(shop, cand, "names([Item(1), Item(2, owner=Owner('bo'))])", tmp_path, SETUP) == ["BO"]


def test_for_loop_over_a_missing_value_iterates_nothing(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", "for tag in item.tags:", "TypeError", "'NoneType' object is not iterable")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert "for tag in item.tags if item.tags is not None else []:" in cand.edits[0].updated
    assert_fixes(shop, cand, tmp_path, "describe(Item(1))", ["describe(Item(1, ['x']))"], SETUP)
    assert result(shop, cand, "describe(Item(1))", tmp_path, SETUP) == "ok"


def test_f_string_formats_an_empty_string(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", 'return f"item by {item.owner.name}"', "AttributeError",
                "'NoneType' object has no attribute 'name'")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert "{item.owner.name if item.owner is not None else ''}" in cand.edits[0].updated
    assert_fixes(shop, cand, tmp_path, "label(Item(1))", ["label(Item(1, owner=Owner('ada')))"], SETUP)
    assert result(shop, cand, "label(Item(1))", tmp_path, SETUP) == "item by "


def test_return_takes_the_docstrings_value_over_an_attribute_chain(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", "return item.owner.name[0]", "AttributeError",
                "'NoneType' object has no attribute 'name'")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert "return item.owner.name[0] if item.owner is not None else \"\"" in cand.edits[0].updated
    assert cand.expected_result == '""'
    assert_fixes(shop, cand, tmp_path, "owner_initial(Item(1))", ["owner_initial(Item(1, owner=Owner('ada')))"], SETUP)
    assert result(shop, cand, "owner_initial(Item(1))", tmp_path, SETUP) == ""


def test_condition_tests_truthiness_so_none_is_enough(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", "if item.owner.name:", "AttributeError",
                "'NoneType' object has no attribute 'name'")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert "if (item.owner.name if item.owner is not None else None):" in cand.edits[0].updated
    assert_fixes(shop, cand, tmp_path, "is_named(Item(1))", ["is_named(Item(1, owner=Owner('ada')))"], SETUP)
    assert result(shop, cand, "is_named(Item(1))", tmp_path, SETUP) is False


def test_return_value_chosen_from_how_callers_use_it(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/orders.py", "return item.owner.tags", "AttributeError",
                "'NoneType' object has no attribute 'tags'")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert "if item.owner is not None else []" in cand.edits[0].updated
    assert "callers" in cand.rationale
    setup = "from shop.orders import owner_tags\nfrom shop.items import Item"
    assert_fixes(shop, cand, tmp_path, "owner_tags(Item(1))", [], setup)
    assert result(shop, cand, "owner_tags(Item(1))", tmp_path, setup) == []


def test_zero_divisor_and_short_sequence_and_missing_key(shop: GitRepo, tmp_path: Path) -> None:
    div = crash(shop, "shop/items.py", "return a / b", "ZeroDivisionError", "division by zero")
    assert [c.strategy for c in guard.generate(div)] == []  # no contract says what a ratio over nothing is
    idx = crash(shop, "shop/items.py", "return xs[0]", "IndexError", "list index out of range")
    cand = by_strategy(guard.generate(idx), "guard-short-expression")
    assert "return xs[0] if xs else []" in cand.edits[0].updated
    assert_fixes(shop, cand, tmp_path, "first([])", ["first([[1]])"], SETUP)
    key = crash(shop, "shop/items.py", 'return table["price"]', "KeyError", "'price'")
    assert guard.generate(key) == []  # no contract for lookup(): nothing to return instead


def test_loop_statement_skip_in_attribute_chain(shop: GitRepo, tmp_path: Path) -> None:
    ctx = crash(shop, "shop/items.py", "out.append(item.owner.name.upper())", "AttributeError",
                "'NoneType' object has no attribute 'name'")
    cand = by_strategy(guard.generate(ctx), "guard-none-skip")
    assert_fixes(shop, cand, tmp_path, "upper_owners([Item(1)])", ["upper_owners([Item(1, owner=Owner('a'))])"], SETUP)
    assert result(shop, cand, "upper_owners([Item(1), Item(2, owner=Owner('b'))])", tmp_path, SETUP) == ["B"]


def test_carets_choose_the_failing_sub_expression(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"m.py": "def both(a, b):\n    return a.x + b.x\n"})
    ctx = with_carets(crash(repo, "m.py", "return a.x + b.x", "AttributeError",
                            "'NoneType' object has no attribute 'x'"), "b.x")
    cand = by_strategy(guard.generate(ctx), "guard-none-expression")
    assert "return a.x + (b.x if b is not None else 0)" in cand.edits[0].updated
    setup = "from m import both\nclass P:\n    x = 2"
    assert result(repo, cand, "both(P(), None)", tmp_path, setup) == 2
    # Without carets two different values could be the None one: the guard does not guess.
    plain = crash(repo, "m.py", "return a.x + b.x", "AttributeError", "'NoneType' object has no attribute 'x'")
    assert not [c for c in guard.generate(plain) if c.strategy == "guard-none-expression"]


def test_nothing_for_a_deliberate_raise_or_a_calls_result(shop: GitRepo) -> None:
    raised = crash(shop, "shop/items.py", 'raise ValueError("no owner")', "ValueError", "no owner")
    assert guard.generate(raised) == []
    called = crash(shop, "shop/items.py", "return make().name", "AttributeError",
                   "'NoneType' object has no attribute 'name'")
    assert guard.generate(called) == []
    assert guard.explain(called) and "twice" in (guard.explain(called) or "")


TYPED = '''def count(xs) -> int:
    return len(xs)


def region(cfg):
    return f"region {cfg.region}"
'''


def test_wrong_type_guarded_with_isinstance_of_the_type_the_message_names(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "t", {"t.py": TYPED})
    ctx = crash(repo, "t.py", "return len(xs)", "TypeError", "object of type 'int' has no len()")
    cand = by_strategy(guard.generate(ctx), "guard-type-expression")
    assert "return len(xs) if not isinstance(xs, int) else 0" in cand.edits[0].updated
    assert cand.expected_result == "0"
    assert_fixes(repo, cand, tmp_path, "count(5)", ["count([1, 2])", "count('abc')"], "from t import count")
    assert result(repo, cand, "count(5)", tmp_path, "from t import count") == 0
    odd = crash(repo, "t.py", "return len(xs)", "TypeError", "object of type 'Widget' has no len()")
    assert guard.generate(odd) == []  # not a builtin: its name may not be bound where the guard goes


def test_missing_attribute_tolerated_but_ranked_below_a_cause(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a", {"t.py": TYPED})
    ctx = crash(repo, "t.py", 'return f"region {cfg.region}"', "AttributeError",
                "'Cfg' object has no attribute 'region'")
    cand = by_strategy(guard.generate(ctx), "guard-attr-expression")
    assert "{cfg.region if hasattr(cfg, 'region') else ''}" in cand.edits[0].updated
    assert cand.score < 0.6
    setup = "from t import region\nclass Cfg:\n    pass"
    assert result(repo, cand, "region(Cfg())", tmp_path, setup) == "region "
