"""Frame locals (a Sentry event's vars) as the first crashing inputs: literals only, never evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crew.handoffs import Diagnosis, Frame, MappedFrame, RootCause
from crew.repair import inputs_from_locals
from crew.repair.inputs_from_locals import SOURCE, caller_arguments, locals_inputs, parse_local
from crew.repair.reproduce import Param, Target, candidate_inputs
from crew.repo import GitRepo
from tests.e2e_helpers import commit_repo


def _diagnosis(fault_locals: dict[str, str], caller_locals: dict[str, str] | None = None,
               caller_code: str = 'return unit_price(order["total"], qty)') -> Diagnosis:
    caller = Frame(file="/srv/app/shop/pricing.py", line=11, function="quote", code=caller_code,
                   locals=caller_locals or {})
    fault = Frame(file="/srv/app/shop/pricing.py", line=5, function="unit_price", code="return total / qty",
                  locals=fault_locals)
    frames = [MappedFrame(frame=f, repo_path="shop/pricing.py") for f in (caller, fault)]
    return Diagnosis(incident_id="i", exc_type="ZeroDivisionError", exc_message="float division by zero",
                     root_cause=RootCause.DIVISION_BY_ZERO, frames=frames, fault_frame=frames[-1],
                     hypothesis="h", confidence=0.5)


def _target(*params: Param) -> Target:
    return Target(module="shop.pricing", function="unit_price", path="shop/pricing.py", import_root="",
                  params=list(params) or [Param("total"), Param("qty")])


def _args(diagnosis: Diagnosis, target: Target | None = None) -> list[list[str]]:
    found = locals_inputs(target or _target(), diagnosis)
    assert all(c.source == SOURCE for c in found)
    return [c.args for c in found]


def test_the_fault_frames_locals_bind_its_parameters_by_name() -> None:
    assert _args(_diagnosis({"qty": "0", "total": "12.5", "unused": "'x'"})) == [["12.5", "0"]]


def test_missing_parameters_come_from_the_callers_argument_expressions() -> None:
    diagnosis = _diagnosis({"total": "12.5", "qty": "<Quantity object at 0x7f3a2c1e0f40>"},
                           {"order": "{'total': 12.5, 'qty': 0}", "qty": "0"})
    assert _args(diagnosis) == [["12.5", "0"]]


def test_the_callers_arguments_are_a_second_candidate_when_the_locals_were_reassigned() -> None:
    diagnosis = _diagnosis({"total": "12.5", "qty": "0"}, {"order": "{'total': 99.0, 'qty': 3}", "qty": "''"})
    assert _args(diagnosis) == [["12.5", "0"], ["99.0", "''"]]


def test_keyword_arguments_and_constants_on_the_callers_line() -> None:
    got = caller_arguments(Frame(file="x.py", line=1, function="f", code="return unit_price(7, qty=n[1])",
                                 locals={"n": "[5, 0]"}), "unit_price", ["total", "qty"])
    assert got == {"total": 7, "qty": 0}


def test_trailing_defaults_may_stay_unbound_but_a_required_parameter_may_not() -> None:
    target = _target(Param("total"), Param("qty"), Param("rounding", default="2"))
    assert _args(_diagnosis({"total": "1.0", "qty": "0"}), target) == [["1.0", "0"]]
    assert _args(_diagnosis({"total": "1.0"}), target) == []


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/healcrew-pwned')", "<object object at 0x7f0>", "'[Filtered]'",
    "[Filtered]", "open('/etc/passwd').read()", "'abc", "(lambda: 1)()", "[" * 200 + "]" * 200,
    "1" * 5000, "f'{x}'",
])
def test_a_local_that_is_not_a_plain_literal_is_skipped(text: str) -> None:
    assert parse_local(text) is inputs_from_locals._MISSING
    assert _args(_diagnosis({"total": "1.0", "qty": text})) == []


def test_locals_are_parsed_with_literal_eval_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A repr that is code never runs, whatever path it takes, and never becomes an input."""
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    calls: list[Any] = []
    monkeypatch.setattr("builtins.eval", lambda *a, **k: calls.append(a))
    monkeypatch.setattr("builtins.exec", lambda *a, **k: calls.append(a))
    diagnosis = _diagnosis({"total": payload, "qty": "0"}, {"order": f"{{'total': {payload}, 'qty': 0}}"})
    found = locals_inputs(_target(), diagnosis)
    assert found == [] and not calls and not marker.exists()


def test_a_secret_in_a_local_becomes_a_same_shape_synthetic_value() -> None:
    key = "AKIAIOSFODNN7EXAMPLE"
    (found,) = locals_inputs(_target(), _diagnosis({"total": f"'{key}'", "qty": "0"}))
    assert found.synthetic and key not in found.args[0]
    assert len(found.args[0]) == len(key) + 2 and found.args[0].startswith("'AKIA")


def test_methods_and_module_level_crashes_get_no_locals_inputs() -> None:
    method = Target(module="m", function="Cart.total", path="shop/pricing.py", import_root="",
                    params=[Param("self", annotation="Cart"), Param("qty")])
    assert locals_inputs(method, _diagnosis({"qty": "0", "self": "<Cart object at 0x1>"})) == []
    module = Target(module="m", function=None, path="shop/pricing.py", import_root="")
    assert locals_inputs(module, _diagnosis({"qty": "0"})) == []


def test_locals_inputs_come_first_in_the_candidate_list(tmp_path: Path) -> None:
    code = "def unit_price(total, qty):\n    return total / qty\n"
    root = commit_repo(tmp_path / "r", {"shop/__init__.py": "", "shop/pricing.py": code}, "x")
    inputs = candidate_inputs(_target(), _diagnosis({"total": "12.5", "qty": "0"}), None, GitRepo(root))
    assert inputs[0].source == SOURCE and inputs[0].args == ["12.5", "0"]
    assert all(c.source != SOURCE for c in inputs[1:])
