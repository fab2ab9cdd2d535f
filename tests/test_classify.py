"""The root-cause taxonomy and the failing expression."""

from __future__ import annotations

import pytest

from crew.code_context import code_context
from crew.diagnosis.classify import classify, failing_expression
from crew.handoffs import RootCause as R


@pytest.mark.parametrize(
    ("exc", "msg", "code", "expected"),
    [
        ("ZeroDivisionError", "float division by zero", "return p / d", R.DIVISION_BY_ZERO),
        ("KeyError", "'discount'", "d = item['discount']", R.MISSING_KEY),
        ("KeyError", "'SMTP_HOST'", "HOST = os.environ['SMTP_HOST']", R.MISSING_CONFIG),
        ("AttributeError", "'NoneType' object has no attribute 'city'", "user.address.city", R.NONE_DEREFERENCE),
        ("TypeError", "'NoneType' object is not subscriptable", "row['x']", R.NONE_DEREFERENCE),
        ("TypeError", 'can only concatenate str (not "int") to str', "'INV-' + n", R.TYPE_MISMATCH),
        ("IndexError", "list index out of range", "items[0]", R.INDEX_OUT_OF_RANGE),
        ("ValueError", "invalid literal for int() with base 10: ''", "int(q)", R.VALUE_PARSE_ERROR),
        ("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1", None, R.VALUE_PARSE_ERROR),
        ("statistics.StatisticsError", "mean requires at least one data point", "statistics.mean(xs)",
         R.VALUE_PARSE_ERROR),
        ("AttributeError", "'Invoice' object has no attribute 'total_cents'", "inv.total_cents", R.MISSING_ATTRIBUTE),
        ("NameError", "name 'foo' is not defined", "foo()", R.MISSING_ATTRIBUTE),
        ("ModuleNotFoundError", "No module named 'app.utils.fmt'", None, R.IMPORT_ERROR),
        ("UnicodeDecodeError", "'ascii' codec can't decode byte 0xc3", None, R.ENCODING_ERROR),
        ("MemoryError", "", None, R.OUT_OF_MEMORY),
        ("LedgerImbalanceError", "debits != credits", None, R.UNKNOWN),
    ],
)
def test_taxonomy(exc: str, msg: str, code: str | None, expected: R) -> None:
    assert classify(exc, msg, code) is expected


def test_failing_expression_names_the_divisor_and_the_subscript() -> None:
    assert failing_expression("return p / d", R.DIVISION_BY_ZERO, "") == "d"
    assert failing_expression("x = total // len(items)", R.DIVISION_BY_ZERO, "") == "len(items)"
    got = failing_expression("cid = payload['customer_id']", R.MISSING_KEY, "'customer_id'")
    assert got == "payload['customer_id']"
    assert (
        failing_expression("return user.address.city", R.NONE_DEREFERENCE, "no attribute 'city'")
        == "user.address.city"
    )
    assert failing_expression("if x:", R.MISSING_KEY, "") is None


SOURCE = '''"""Pricing."""


def helper():
    return 1


@decorator
def calc(p, d):
    """Price after the divisor."""
    return p / d
'''


def test_code_context_is_the_enclosing_function_with_decorators() -> None:
    ctx = code_context("app/pricing.py", SOURCE, 11)
    assert ctx.function == "calc"
    assert (ctx.start_line, ctx.end_line, ctx.fault_line) == (8, 11, 11)
    assert ctx.lines[-1].strip() == "return p / d"


def test_code_context_at_module_level_is_a_window() -> None:
    ctx = code_context("m.py", SOURCE, 1)
    assert ctx.function is None and ctx.start_line == 1
