"""Argo analysis conditions in Python, and the template pitfalls found by running them on the results that bite."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from crew.canary.analysis_lint import lint_analysis_template, lint_metric
from crew.canary.conditions import ConditionError, evaluate, parse
from crew.errors import BadInputError

GUARDED = "len(result) == 0 || result[0] >= 0.99"


@pytest.mark.parametrize(("condition", "result", "expected"), [
    (GUARDED, [], True),
    (GUARDED, [0.995], True),
    (GUARDED, [0.5], False),
    ("result[0] < 0.5 && result[0] >= 0", [0.2], True),
    ("!(result[0] > 1)", [2.0], False),
    ("not isNaN(result[0]) and result[0] <= 0.01", [math.nan], False),
    ("result[0] >= 0.99", [math.nan], False),  # NaN compares false, as in Go
    ("isInf(result[0])", [math.inf], True),
    ("default(result, [0])[0] == 0", [], True),
    ("asInt(result) == 3", "3", True),
    ("result == 'healthy' || result != \"x || y\"", "sick", True),  # operators inside strings stay text
    ("result[0] * 100 - 1 > 98", [0.995], True),
])
def test_conditions_evaluate_as_argo_does(condition: str, result: object, expected: bool) -> None:
    assert evaluate(condition, result) is expected


def test_an_index_into_an_empty_result_is_an_error_not_false() -> None:
    with pytest.raises(ConditionError, match="out of range"):
        evaluate("result[0] >= 0.99", [])
    with pytest.raises(ConditionError, match="not true or false"):
        evaluate("result[0]", [1.0])


def test_nothing_outside_the_expr_subset_is_ever_run() -> None:
    for hostile in ("__import__('os').system('id')", "result.__class__", "open('/etc/passwd')"):
        with pytest.raises((BadInputError, ConditionError)):
            evaluate(hostile, [1.0])
    with pytest.raises(BadInputError, match="does not parse"):
        parse("result[0] >=")


def test_the_lint_finds_each_pitfall_and_passes_a_guarded_metric() -> None:
    unguarded = lint_metric({"name": "m", "successCondition": "result[0] >= 0.99", "count": 5,
                             "consecutiveErrorLimit": 2})
    assert unguarded[0] == ("m: successCondition errors on an empty result (no series yet); "
                            "guard it with len(result) == 0 || ...")
    assert any("NaN does not trip" in f for f in lint_metric(
        {"name": "e", "failureCondition": "len(result) > 0 && result[0] > 0.01", "consecutiveErrorLimit": 0}))
    assert any("+Inf passes" in f for f in lint_metric({"name": "s", "successCondition": GUARDED}))
    assert any("consecutiveErrorLimit 4 is not below count 3" in f
               for f in lint_metric({"name": "c", "successCondition": "true", "count": 3}))
    safe = "len(result) == 0 || (!isNaN(result[0]) && !isInf(result[0]) && result[0] >= 0.99)"
    assert lint_metric({"name": "ok", "successCondition": safe, "count": 3, "consecutiveErrorLimit": 1}) == []


def test_the_flagship_template_is_checked_metric_by_metric() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "pricing-service" / "deploy" / "analysis-template.yaml"
    found = lint_analysis_template(yaml.safe_load(path.read_text()))
    assert {line.split(":")[0] for line in found} == {"success-rate", "restarts"}
