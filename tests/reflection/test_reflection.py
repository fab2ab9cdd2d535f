"""Reflection rules, verdicts and declining, on crafted diffs of a small pricing module."""

from __future__ import annotations

import pytest

from crew.agents.reflection import ReflectionPolicy, critique, decline
from crew.handoffs import (
    CodeContext,
    Diagnosis,
    Frame,
    MappedFrame,
    RegressionTest,
    RepairProposal,
    RootCause,
    RunSummary,
    ValidationReport,
)
from crew.repair.candidates import SourceEdit
from crew.repair.diffs import unified_diff

PRICING = '''"""Pricing."""


def unit_price(price, divisor):
    return price / divisor


def total(items):
    out = 0
    for price, qty in items:
        out += unit_price(price, qty)
    return out
'''
PATH = "app/pricing.py"
GOOD = PRICING.replace(
    "    return price / divisor\n", "    if divisor == 0:\n        return 0.0\n    return price / divisor\n"
)
GOOD_TEST = RegressionTest(
    path="tests/test_regression_inc1.py",
    code="from app.pricing import unit_price\n\n\ndef test_zero_divisor():\n    assert unit_price(12.5, 0) == 0.0\n",
    call="unit_price(12.5, 0)",
    input_source="log",
)


def diagnosis(
    code: str = "return price / divisor", exc: str = "ZeroDivisionError", root: RootCause = RootCause.DIVISION_BY_ZERO
) -> Diagnosis:
    lines = PRICING.splitlines()[3:5]
    lines[1] = "    " + code
    fault = MappedFrame(frame=Frame(file="/app/app/pricing.py", line=5, function="unit_price", code=code),
                        repo_path=PATH)
    caller = MappedFrame(frame=Frame(file="/app/app/pricing.py", line=11, function="total"), repo_path=PATH)
    return Diagnosis(
        incident_id="inc1", exc_type=exc, exc_message="float division by zero", root_cause=root,
        frames=[caller, fault], fault_frame=fault,
        code_context=CodeContext(path=PATH, function="unit_price", start_line=4, end_line=5, fault_line=5,
                                 lines=lines),
        culprit="divisor", hypothesis="h", confidence=0.9,
    )


def crashed_on_original() -> RunSummary:
    """The regression test's run on the original code when it reproduces :func:`diagnosis`'s crash."""
    return RunSummary(exit_code=1, failed=1, failing=["tests/test_x.py::test_x"], exc_type="ZeroDivisionError",
                      exc_message="float division by zero", raising_frame=f"{PATH}:5")


def proposal(updated: str | dict[str, tuple[str, str]], *, strategy: str = "guard-zero-divisor",
             test: RegressionTest | None = GOOD_TEST, attempt: int = 1) -> RepairProposal:
    if isinstance(updated, str):
        edits = [SourceEdit(PATH, PRICING, updated)]
    else:
        edits = [SourceEdit(p, old, new) for p, (old, new) in updated.items()]
    return RepairProposal(
        incident_id="inc1", attempt=attempt, strategy=strategy, diff=unified_diff(edits),
        touched_files=[e.path for e in edits], test=test, rationale="r",
    )


def passed() -> ValidationReport:
    return ValidationReport(backend="docker", reproduces=True, fixed=True, no_regressions=True, passed=True,
                            differential_ok=True)


def rules(c: object) -> set[str]:
    return {f.rule for f in c.findings}  # type: ignore[attr-defined]


def run(p: RepairProposal, report: ValidationReport | None = None, *, attempt: int = 1, max_attempts: int = 3,
        policy: ReflectionPolicy | None = None, diag: Diagnosis | None = None):  # noqa: ANN201
    return critique(p, report if report is not None else passed(), diag or diagnosis(),
                    policy or ReflectionPolicy(), attempt, max_attempts)


# --------------------------------------------------------------------------- the good fix


def test_guard_before_division_is_accepted_without_findings() -> None:
    c = run(proposal(GOOD))
    assert c.verdict == "accept"
    assert c.findings == []


# --------------------------------------------------------------------------- each rule fires


@pytest.mark.parametrize("clause", ["except:", "except Exception:", "except BaseException as exc:",
                                    "except (ValueError, Exception):"])
def test_broad_except_is_a_blocker(clause: str) -> None:
    bad = PRICING.replace(
        "    return price / divisor\n",
        f"    try:\n        return price / divisor\n    {clause}\n        return 0.0\n",
    )
    c = run(proposal(bad))
    broad = [f for f in c.findings if f.rule == "broad-except"]
    assert broad and broad[0].severity == "blocker"
    assert "fix hides the symptom" in broad[0].message
    assert c.verdict == "revise"
    assert "Guard the divisor `divisor` before the division" in c.feedback


@pytest.mark.parametrize("body", ["pass", "continue", "return None", "return"])
def test_swallowed_error_in_caller_is_a_blocker(body: str) -> None:
    bad = PRICING.replace(
        "        out += unit_price(price, qty)\n",
        f"        try:\n            out += unit_price(price, qty)\n        except ZeroDivisionError:\n"
        f"            {body}\n",
    )
    c = run(proposal(bad))
    assert "swallowed-error" in rules(c)
    caller = [f for f in c.findings if f.rule == "symptom-fix"]
    assert caller and caller[0].severity == "blocker" and "caller" in caller[0].message
    assert c.verdict == "revise"


def test_one_line_except_pass_is_swallowed() -> None:
    bad = PRICING.replace(
        "        out += unit_price(price, qty)\n",
        "        try:\n            out += unit_price(price, qty)\n        except ValueError: pass\n",
    )
    assert "swallowed-error" in rules(run(proposal(bad)))


def test_replacing_a_raise_with_pass_is_swallowing_and_a_removed_check() -> None:
    original = "def f(x):\n    try:\n        return int(x)\n    except ValueError:\n        raise\n"
    updated = "def f(x):\n    try:\n        return int(x)\n    except ValueError:\n        pass\n"
    c = run(proposal({"app/parse.py": (original, updated)}))
    assert {"swallowed-error", "removed-check"} <= rules(c)


def test_catching_the_diagnosed_exception_at_the_fault_line_is_a_warning() -> None:
    borderline = PRICING.replace(
        "    return price / divisor\n",
        "    try:\n        return price / divisor\n    except ZeroDivisionError:\n        return 0\n",
    )
    c = run(proposal(borderline))
    symptom = [f for f in c.findings if f.rule == "symptom-fix"]
    assert [f.severity for f in symptom] == ["warning"]
    assert "guard the cause instead" in symptom[0].message
    assert c.verdict == "accept"
    assert "Guard the divisor" in c.feedback


def test_catching_a_parent_class_in_a_caller_is_a_blocker() -> None:
    bad = PRICING.replace(
        "        out += unit_price(price, qty)\n",
        "        try:\n            out += unit_price(price, qty)\n        except ArithmeticError:\n"
        "            out += 0\n",
    )
    c = run(proposal(bad))
    assert [f.severity for f in c.findings if f.rule == "symptom-fix"] == ["blocker"]


@pytest.mark.parametrize("guard", [
    "    if not isinstance(divisor, (int, float)):\n        return\n    return price / divisor\n",
    "    if hasattr(divisor, 'real'):\n        return price / divisor\n",
])
def test_type_checks_that_skip_work_warn(guard: str) -> None:
    c = run(proposal(PRICING.replace("    return price / divisor\n", guard)))
    skip = [f for f in c.findings if f.rule == "type-check-skip"]
    assert skip and skip[0].severity == "warning"
    assert "silently skips work" in skip[0].message


def test_removed_assert_and_test_are_blockers() -> None:
    test_src = "def test_a():\n    assert 1 == 1\n\n\ndef test_b():\n    assert 2 == 2\n"
    c = run(proposal({PATH: (PRICING, GOOD), "tests/test_pricing.py": (test_src, "def test_a():\n    pass\n")}))
    weak = [f for f in c.findings if f.rule == "weakened-tests"]
    assert weak and weak[0].severity == "blocker"
    assert "removes test `def test_b():`" in weak[0].message
    assert c.verdict == "revise"


def test_modifying_a_test_file_is_a_blocker_even_without_removing_asserts() -> None:
    test_src = "def test_a():\n    assert 1 == 1\n"
    c = run(proposal({PATH: (PRICING, GOOD), "tests/test_pricing.py": (test_src, test_src + "# touched\n")}))
    assert "modifies an existing test file" in next(f.message for f in c.findings if f.rule == "weakened-tests")


@pytest.mark.parametrize("marker", ["@pytest.mark.skip(reason='flaky')", "@pytest.mark.xfail"])
def test_skip_or_xfail_added_is_a_blocker(marker: str) -> None:
    src = "import pytest\n\n\ndef test_a():\n    assert 1 == 1\n"
    updated = src.replace("def test_a", f"{marker}\ndef test_a")
    c = run(proposal({"tests/test_pricing.py": (src, updated)}))
    assert any(marker in f.message for f in c.findings if f.rule == "weakened-tests")


def test_regression_test_path_itself_is_not_a_weakened_test() -> None:
    new = {PATH: (PRICING, GOOD), GOOD_TEST.path: ("", GOOD_TEST.code)}
    assert "weakened-tests" not in rules(run(proposal(new)))


def test_failing_line_deleted_without_replacement_is_a_blocker() -> None:
    c = run(proposal(PRICING.replace("    return price / divisor\n", "    pass\n")))
    removed = [f for f in c.findings if f.rule == "removed-check"]
    assert removed and "deleted without replacement" in removed[0].message


def test_removed_raise_is_a_blocker() -> None:
    original = "def check(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n"
    updated = "def check(x):\n    return x\n"
    c = run(proposal({"app/check.py": (original, updated)}))
    assert any("raise ValueError" in f.message for f in c.findings if f.rule == "removed-check")


def test_edits_outside_the_fault_module_warn_and_revise() -> None:
    c = run(proposal({PATH: (PRICING, GOOD), "app/other.py": ("X = 1\n", "X = 2\n")}))
    unrelated = [f for f in c.findings if f.rule == "unrelated-files"]
    assert unrelated and unrelated[0].severity == "warning" and "app/other.py" in unrelated[0].message
    assert c.verdict == "revise"


def test_cross_file_strategies_may_touch_other_files() -> None:
    p = proposal({PATH: (PRICING, GOOD), "app/other.py": ("X = 1\n", "X = 2\n")}, strategy="rename-import-closest")
    assert "unrelated-files" not in rules(run(p))


def test_a_large_diff_asks_for_a_smaller_change() -> None:
    big = GOOD + "".join(f"\n\ndef helper_{i}():\n    return {i}\n" for i in range(12))
    c = run(proposal(big))
    assert "diff-size" in rules(c)
    assert c.verdict == "revise"
    assert "Make a smaller change" in c.feedback


def test_too_many_files_asks_for_a_smaller_change() -> None:
    edits = {f"app/m{i}.py": ("X = 1\n", "X = 2\n") for i in range(3)} | {PATH: (PRICING, GOOD)}
    c = run(proposal(edits, strategy="rename-import"), policy=ReflectionPolicy(max_files=3))
    assert any("4 files > 3" in f.message for f in c.findings if f.rule == "diff-size")


@pytest.mark.parametrize("path", [".github/workflows/ci.yml", "app/migrations/0002_auto.py",
                                  "migrations/0001.py", "poetry.lock"])
def test_forbidden_paths_reject(path: str) -> None:
    c = run(proposal({PATH: (PRICING, GOOD), path: ("a\n", "b\n")}, strategy="rename-import"))
    assert c.verdict == "reject"
    assert any(path in f.message for f in c.findings if f.rule == "forbidden-path")


def test_config_edits_can_be_disabled_by_policy() -> None:
    p = proposal({"deploy/deployment.yaml": ("memory: 256Mi\n", "memory: 512Mi\n")},
                 strategy="raise-memory-limit", test=None)
    assert run(p, None).verdict == "accept"
    c = run(p, None, policy=ReflectionPolicy(allow_config_edits=False))
    assert c.verdict == "reject"
    assert "config edits are disabled" in c.findings[0].message


def test_policy_forbids_unknown_fields() -> None:
    with pytest.raises(ValueError):
        ReflectionPolicy(max_lines=3)  # type: ignore[call-arg]


@pytest.mark.parametrize("code", [
    "from app.pricing import unit_price\n\n\ndef test_zero():\n    unit_price(1, 0)\n",
    "def helper():\n    assert True\n",
    "def test_broken(:\n",
])
def test_regression_test_that_asserts_nothing_is_a_blocker(code: str) -> None:
    test = GOOD_TEST.model_copy(update={"code": code})
    c = run(proposal(GOOD, test=test))
    assert [f.severity for f in c.findings if f.rule == "empty-test"] == ["blocker"]
    assert c.verdict == "revise"


@pytest.mark.parametrize("check", [
    "    with pytest.raises(ValueError):\n        unit_price(1, 0)\n",
    "    assert unit_price(1, 0) == 0.0\n",
    "    self.assertEqual(unit_price(1, 0), 0.0)\n",
])
def test_regression_test_with_a_check_is_fine(check: str) -> None:
    test = GOOD_TEST.model_copy(update={"code": f"import pytest\n\n\ndef test_zero():\n{check}"})
    assert "empty-test" not in rules(run(proposal(GOOD, test=test)))


def test_missing_regression_test_is_a_blocker_for_code_fixes() -> None:
    assert "empty-test" in rules(run(proposal(GOOD, test=None)))


# --------------------------------------------------------------------------- validation outcomes


def test_no_report_asks_for_a_sandbox_run() -> None:
    c = critique(proposal(GOOD), None, diagnosis(), ReflectionPolicy(), 1, 3)
    assert c.verdict == "revise"
    assert any("did not reproduce" in f.message for f in c.findings)


def test_not_reproduced_revises_with_the_failure() -> None:
    report = passed().model_copy(update={
        "reproduces": False, "passed": False, "failure": "test passed on the original code",
        "test_on_original": RunSummary(exit_code=0, passed=1),
    })
    c = run(proposal(GOOD), report)
    assert c.verdict == "revise"
    assert any("did not reproduce the crash: test passed on the original code" in f.message for f in c.findings)
    assert "must raise ZeroDivisionError" in c.feedback


def test_not_fixed_tells_the_next_candidate_to_drop_the_strategy() -> None:
    report = passed().model_copy(update={
        "fixed": False, "passed": False,
        "test_on_patched": RunSummary(exit_code=1, failed=1, exc_type="ZeroDivisionError"),
    })
    c = run(proposal(GOOD), report)
    assert c.verdict == "revise"
    assert ("Do not use strategy guard-zero-divisor again; the test still failed with ZeroDivisionError "
            "on patched code") in c.feedback


def test_newly_failing_tests_are_named() -> None:
    report = passed().model_copy(update={"newly_failing": ["tests/test_p.py::test_total"], "no_regressions": False})
    c = run(proposal(GOOD), report)
    assert c.verdict == "revise"
    assert "tests/test_p.py::test_total" in c.feedback


def test_differential_mismatches_are_named() -> None:
    report = passed().model_copy(update={"differential_mismatches": ["unit_price(3, 2)"], "differential_ok": False})
    c = run(proposal(GOOD), report)
    assert c.verdict == "revise"
    assert any("unit_price(3, 2)" in f.message for f in c.findings)


def test_patch_that_does_not_apply_revises() -> None:
    report = passed().model_copy(update={"patch_applies": False, "failure": "patch failed: app/pricing.py:4"})
    c = run(proposal(GOOD), report)
    assert c.verdict == "revise"
    assert any("does not apply" in f.message for f in c.findings)


# --------------------------------------------------------------------------- bounded attempts


def test_last_attempt_rejects_instead_of_revising() -> None:
    bad = PRICING.replace("    return price / divisor\n",
                          "    try:\n        return price / divisor\n    except Exception:\n        return 0.0\n")
    assert run(proposal(bad), attempt=2, max_attempts=3).verdict == "revise"
    last = run(proposal(bad), attempt=3, max_attempts=3)
    assert last.verdict == "reject"
    assert last.feedback.startswith("No attempts left (3 of 3)")


def test_validation_failure_on_last_attempt_rejects() -> None:
    report = passed().model_copy(update={"fixed": False, "passed": False})
    assert run(proposal(GOOD), report, attempt=3, max_attempts=3).verdict == "reject"


def test_warnings_alone_accept() -> None:
    c = run(proposal(PRICING.replace("    return price / divisor\n",
                                     "    if not isinstance(divisor, float):\n        return\n"
                                     "    return price / divisor\n")))
    assert c.verdict == "accept"
    assert {f.severity for f in c.findings} == {"warning"}


def test_garbage_diff_is_a_blocker_not_a_crash() -> None:
    p = proposal(GOOD).model_copy(update={"diff": "this is not a diff"})
    c = run(p)
    assert c.verdict == "revise"
    assert c.findings[0].rule == "diff"


# --------------------------------------------------------------------------- declining


def test_decline_a_deliberate_raise_of_a_repo_exception() -> None:
    d = diagnosis(code="raise LedgerImbalanceError(f'off by {delta}')", exc="ledger.LedgerImbalanceError",
                  root=RootCause.UNKNOWN)
    reason = decline(d)
    assert reason is not None
    assert "deliberate invariant check (`raise LedgerImbalanceError`)" in reason
    assert "a human must fix the data or the producer" in reason


def test_decline_an_assert() -> None:
    reason = decline(diagnosis(code="assert total >= 0", exc="AssertionError", root=RootCause.UNKNOWN))
    assert reason is not None and "`assert total >= 0`" in reason


def test_decline_an_unknown_root_cause() -> None:
    reason = decline(diagnosis(code="frobnicate(x)", exc="FrobError", root=RootCause.UNKNOWN))
    assert reason is not None and "root cause is unknown" in reason


def test_do_not_decline_a_fixable_crash_or_a_builtin_raise() -> None:
    assert decline(diagnosis()) is None
    assert decline(diagnosis(code="raise KeyError(name)", exc="KeyError", root=RootCause.MISSING_KEY)) is None
