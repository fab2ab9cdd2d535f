"""PEP 657 carets name the failing sub-expression of a line with several candidates."""

from __future__ import annotations

import pytest

from crew.diagnosis.classify import caret_node, failing_expression
from crew.extract import parse_traceback_text
from crew.handoffs import Carets
from crew.handoffs import RootCause as R


def _frame_of(code: str, marker: str) -> tuple[str, Carets]:
    """The logged frame of ``code`` with the marker line Python 3.11 would print under it."""
    text = (
        'Traceback (most recent call last):\n  File "/app/a.py", line 3, in f\n'
        f"    {code}\n    {marker}\nKeyError: 'x'"
    )
    tb = parse_traceback_text(text)
    assert tb is not None
    frame = tb.frames[0]
    assert frame.code == code and frame.carets is not None
    return code, frame.carets


@pytest.mark.parametrize(
    ("code", "marker", "root", "message", "culprit"),
    [
        # the outer subscript failed: the heuristic's first subscript would say the same
        ('return row["a"]["b"]', '       ~~~~~~~~^^^^^', R.MISSING_KEY, "'b'", 'row["a"]["b"]'),
        # the inner one failed: only the carets tell
        ('return row["a"]["b"]', "       ~~~^^^^^", R.MISSING_KEY, "'a'", 'row["a"]'),
        ('total = cfg["x"] + rows[0]["y"]', '                   ~~~~~~~^^^^^', R.MISSING_KEY, "'y'",
         "rows[0]['y']"),
        ("return a / b / c", "       ~~^~~", R.DIVISION_BY_ZERO, "division by zero", "b"),
        ("return a / b / c", "       ~~~~~~^~~", R.DIVISION_BY_ZERO, "division by zero", "c"),
        ("x = first[0] + second[0]", "               ~~~~~~^^^", R.INDEX_OUT_OF_RANGE, "list index out of range",
         "second[0]"),
        # a None subscripted: the carets name the subscript that met the None
        ('return data["a"]["b"]["c"]', '       ~~~~~~~~~~~~~~^^^^^', R.NONE_DEREFERENCE,
         "'NoneType' object is not subscriptable", "data['a']['b']['c']"),
        # a parse error inside one of two calls
        ("return int(a) + int(b)", "                ^^^^^^", R.VALUE_PARSE_ERROR, "invalid literal", "int(b)"),
    ],
)
def test_carets_pick_the_failing_sub_expression(code: str, marker: str, root: R, message: str, culprit: str) -> None:
    code, carets = _frame_of(code, marker)
    got = failing_expression(code, root, message, carets)
    assert got is not None
    assert got.replace('"', "'") == culprit.replace('"', "'")


def test_without_carets_the_heuristics_stay() -> None:
    assert failing_expression('return row["a"]["b"]', R.MISSING_KEY, "'a'") == "row['a']['b']"
    assert failing_expression("return a / b / c", R.DIVISION_BY_ZERO, "") == "c"


def test_carets_on_a_line_that_does_not_parse_alone_still_name_the_expression() -> None:
    # one line of a multi-line call: the line is not a statement, the underlined part is
    code = 'value = compute(row["a"]["b"],'
    carets = Carets(start=16, end=29, primary_start=24, primary_end=29)
    assert code[16:29] == 'row["a"]["b"]'
    assert failing_expression(code, R.MISSING_KEY, "'b'", carets) == "row['a']['b']"


def test_carets_that_do_not_cover_an_expression_are_ignored() -> None:
    code = "return a / b / c"
    assert caret_node(code, Carets(start=9, end=13, primary_start=9, primary_end=10)) is None  # "/ b " is no node
    assert caret_node(code, Carets(start=7, end=40, primary_start=7, primary_end=8)) is None
    # and the heuristics answer instead
    assert failing_expression(code, R.DIVISION_BY_ZERO, "", Carets(start=9, end=13, primary_start=9,
                                                                   primary_end=10)) == "c"
