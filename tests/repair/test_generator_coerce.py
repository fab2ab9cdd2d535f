"""Coerce generator: the value of the wrong type converted to the type the operation expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.repair.templates import coerce
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, make_repo, result

CODE = '''"""Pricing helpers."""


def with_tax(price, tax: int):
    return price + tax


def scaled(factor, amount: float):
    return amount * factor - 1


def rule(width):
    return "-" * width


def pick(rows, i):
    return rows[i]


def window(n):
    return list(range(n))


def cents(value):
    return f"{value:d} cents"


def over(limit, used: int):
    return used > limit


def label(prefix, number):
    return prefix + number
'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("coerce"), {"app/__init__.py": "", "app/price.py": CODE})


SETUP = "from app import price"


def _strategies(ctx: object) -> list[str]:
    return [c.strategy for c in coerce.generate(ctx)]  # type: ignore[arg-type]


def test_text_operand_parsed_when_the_annotation_says_number(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/price.py", "price + tax", "TypeError", 'can only concatenate str (not "int") to str')
    cands = coerce.generate(ctx)
    best = cands[0]
    assert best.strategy == "coerce-operand-int"
    assert "(price if isinstance(price, (int, float)) else int(price))" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "price.with_tax('10', 2)", ["price.with_tax(10, 2)", "price.with_tax(-3, 1)"],
                 SETUP, max_changed=2)
    assert result(repo, best, "price.with_tax('10', 2)", tmp_path, SETUP) == 12
    assert "coerce-operand-str" in [c.strategy for c in cands]  # the other reading, ranked below


def test_right_side_of_a_binary_operation_and_never_a_number_made_text(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/price.py", "amount * factor", "TypeError",
                "unsupported operand type(s) for *: 'float' and 'str'")
    cands = coerce.generate(ctx)
    assert [c.strategy for c in cands] == ["coerce-operand-float"]  # `*` has no text reading of `amount`
    assert_fixes(repo, cands[0], tmp_path, "price.scaled('2', 1.5)", ["price.scaled(2, 1.5)", "price.scaled(3, 0.5)"],
                 SETUP, max_changed=2)


def test_repeat_count_index_range_and_format(repo: GitRepo, tmp_path: Path) -> None:
    cases = [
        ('"-" * width', "can't multiply sequence by non-int of type 'str'", "coerce-count-int",
         "price.rule('3')", ["price.rule(2)", "price.rule(0)"]),
        ("rows[i]", "list indices must be integers or slices, not str", "coerce-index-int",
         "price.pick([5, 6], '1')", ["price.pick([5, 6], 0)", "price.pick([5, 6], -1)"]),
        ("range(n)", "'str' object cannot be interpreted as an integer", "coerce-argument-int",
         "price.window('3')", ["price.window(2)"]),
        ("{value:d}", "Unknown format code 'd' for object of type 'str'", "coerce-format-int",
         "price.cents('5')", ["price.cents(7)"]),
        ("used > limit", "'>' not supported between instances of 'int' and 'str'", "coerce-compared-int",
         "price.over('5', 7)", ["price.over(4.5, 4)", "price.over(9, 1)"]),
    ]
    for marker, message, strategy, crash_call, normal in cases:
        ctx = crash(repo, "app/price.py", marker, "TypeError", message)
        best = by_strategy(coerce.generate(ctx), strategy)
        assert_fixes(repo, best, tmp_path, crash_call, normal, SETUP, max_changed=2)


def test_a_value_already_of_a_number_type_passes_through(repo: GitRepo, tmp_path: Path) -> None:
    """A float limit compared in ordinary runs keeps its exact value: only text is converted."""
    ctx = crash(repo, "app/price.py", "used > limit", "TypeError",
                "'>' not supported between instances of 'int' and 'str'")
    best = by_strategy(coerce.generate(ctx), "coerce-compared-int")
    assert "isinstance(limit, (int, float))" in best.edits[0].updated
    assert result(repo, best, "price.over(4.5, 4)", tmp_path, SETUP) is False


def test_failing_run_locals_decide_which_operand_is_wrong(repo: GitRepo) -> None:
    ctx = crash(repo, "app/price.py", "prefix + number", "TypeError", 'can only concatenate str (not "int") to str')
    assert set(_strategies(ctx)) == {"coerce-operand-str", "coerce-operand-int"}  # nothing says which
    frame = ctx.diagnosis.fault_frame
    assert frame is not None
    frame.frame.locals.update({"prefix": "'INV-'", "number": "7"})
    assert _strategies(ctx) == ["coerce-operand-str"]  # 'INV-' is no number: parsing it is never offered


def test_float_made_an_integer_only_where_the_message_names_the_float(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/price.py", "range(n)", "TypeError", "'float' object cannot be interpreted as an integer")
    best = by_strategy(coerce.generate(ctx), "coerce-argument-int")
    assert "isinstance(n, int)" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "price.window(2.0)", ["price.window(3)"], SETUP, max_changed=2)


def test_unrelated_type_errors_yield_nothing(repo: GitRepo) -> None:
    ctx = crash(repo, "app/price.py", "price + tax", "TypeError", "'int' object is not callable")
    assert coerce.generate(ctx) == []
