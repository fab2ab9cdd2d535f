"""The holdout benchmark judges runs by the case's own facts, so its judging must itself be right."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "holdout.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("holdout_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["holdout_bench"] = module
    spec.loader.exec_module(module)
    return module


holdout = _load()


def _case(name: str) -> Any:
    return next(c for c in holdout.CASES if c.name == name)


def test_the_set_has_forty_cases_with_unique_names_and_ten_new_shapes() -> None:
    names = [c.name for c in holdout.CASES]
    assert len(names) >= 40 and len(set(names)) == len(names)
    assert len(holdout.ISSUE9_CASES) >= 22
    assert len({c.shape for c in holdout.ISSUE9_CASES if c.shape}) >= 10
    assert any(not c.fixable for c in holdout.ISSUE9_CASES)
    assert any(c.test_command for c in holdout.ISSUE9_CASES)
    assert any(c.python != "3.11" for c in holdout.ISSUE9_CASES)


def test_production_error_keeps_the_last_dotted_part_of_the_type() -> None:
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1\njson.decoder.JSONDecodeError: Expecting value: x\n'
    assert holdout.production_error(tb) == ("JSONDecodeError", "Expecting value: x")
    assert holdout.production_error("Traceback\nKeyError: 'q'\n") == ("KeyError", "'q'")


def test_an_older_python_prints_no_caret_lines_but_keeps_code_with_carets() -> None:
    tb = '  File "a.py", line 3, in f\n    return a ^ b[i]\n               ~^^^\nIndexError: x\n'
    assert holdout._as_version(tb, "3.11") == tb
    old = holdout._as_version(tb, "3.9")
    assert "~^^^" not in old and "return a ^ b[i]" in old and old.endswith("IndexError: x\n")


def test_the_test_command_runs_with_this_interpreter_and_keeps_quoted_arguments() -> None:
    argv = holdout.test_argv(_case("hanging-live-test-deselected"))
    assert argv[0] == sys.executable and argv[1:5] == ["-m", "pytest", "-q", "-m"] and argv[5] == "not live"


def test_localised_names_the_rank_of_the_first_location_the_bug_changed() -> None:
    regions = {"receipts/receipt.py": [(8, 8)]}
    callee = {"repo_path": "receipts/money.py", "frame": {"line": 5}}
    caller = {"repo_path": "receipts/receipt.py", "frame": {"line": 8}}
    assert holdout.localised({"fault_frame": caller}, regions) == "top"
    assert holdout.localised({"fault_frame": callee, "locations": [callee, {"location": caller}]}, regions) == "#2"
    assert holdout.localised({"fault_frame": callee, "frames": [callee, caller]}, regions) == "no"


def _facts(tmp_path: Path) -> dict[str, Any]:
    return {"work": tmp_path, "repo": tmp_path, "fault": ("flags/merge.py", 9), "exc_type": "AttributeError",
            "exc_message": "'NoneType' object has no attribute 'city'", "regions": {"flags/merge.py": [(9, 9)]}}


def _attempt(reproduces: bool, message: str, strategy: str = "guard") -> dict[str, Any]:
    return {"proposal": {"strategy": strategy, "diff": "", "test": {"input_source": "search"}},
            "validation": {"reproduces": reproduces,
                           "test_on_original": {"exc_type": "AttributeError", "exc_message": message}},
            "critique": {"verdict": "reject"}, "rejected_because": "no"}


def test_a_reproduction_with_another_message_is_a_false_claim_and_a_refusal_is_counted(tmp_path: Path) -> None:
    report = {"outcome": "no_fix", "diagnosis": {}, "attempts": [
        _attempt(True, "'NoneType' object has no attribute 'name'"),
        _attempt(False, "'NoneType' object has no attribute 'zip'"),
        _attempt(True, "'NoneType'  object has no attribute 'city'"),
    ]}
    row: dict[str, Any] = {}
    holdout.judge(_case("none-returned-upstream"), _facts(tmp_path), report, row)
    assert row["reproduced"] == "search"
    assert "'name'" in row["false_claim"] and "'city'" not in row["false_claim"]
    assert row["refused"] == 1 and not row["fixed"] and row["wrong"] == "" and row["python"] == ""


def test_the_reproduction_record_counts_and_a_did_you_mean_hint_is_not_another_message(tmp_path: Path) -> None:
    facts = _facts(tmp_path)
    facts["exc_message"] = "'NoneType' object has no attribute 'city'. Did you mean: 'cite'?"
    record = {"reproduced": True, "source": "repo tests", "entry": "app.orders.handle", "entry_depth": 2,
              "refused": 3, "test_on_original": {"exc_type": "AttributeError",
                                                 "exc_message": "'NoneType' object has no attribute 'city'"}}
    row: dict[str, Any] = {}
    holdout.judge(_case("none-returned-upstream"), facts, {"outcome": "no_fix", "diagnosis": {}, "attempts": [],
                                                            "reproduction": record}, row)
    assert row["reproduced"] == "repo tests via app.orders.handle" and row["false_claim"] == "" and row["refused"] == 3
    record["test_on_original"]["exc_message"] = "'NoneType' object has no attribute 'name'"
    holdout.judge(_case("none-returned-upstream"), facts, {"outcome": "no_fix", "diagnosis": {}, "attempts": [],
                                                            "reproduction": record}, row)
    assert "'name'" in row["false_claim"]


def test_the_python_column_names_production_when_the_sandbox_ran_another(tmp_path: Path) -> None:
    report = {"outcome": "no_fix", "diagnosis": {}, "attempts": [],
              "sandbox_python": {"version": "3.11", "reason": "default"}}
    row: dict[str, Any] = {}
    holdout.judge(_case("py39-project-none-update"), _facts(tmp_path), report, row)
    assert row["python"] == "3.11 (production 3.9)"
    holdout.judge(_case("none-returned-upstream"), _facts(tmp_path), report, row)
    assert row["python"] == "3.11"


def test_a_fix_where_declining_is_right_or_away_from_the_cause_is_wrong(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(holdout, "after_patch", lambda case, facts, patch: "ok")
    accepted = {"proposal": {"strategy": "guard", "diff": "--- a/other.py\n+++ b/other.py\n@@ -1 +1 @@\n-a\n+b\n"}}
    report = {"outcome": "fixed", "diagnosis": {}, "attempts": [], "accepted": accepted}
    row: dict[str, Any] = {}
    holdout.judge(_case("decline-state-machine-assert"), _facts(tmp_path), report, row)
    assert "declining is right" in row["wrong"] and "no file the bug commit changed" in row["wrong"]
    monkeypatch.setattr(holdout, "after_patch", lambda case, facts, patch: "crash")
    accepted["proposal"]["diff"] = "--- a/flags/merge.py\n+++ b/flags/merge.py\n@@ -9 +9 @@\n-a\n+b\n"
    row = {}
    holdout.judge(_case("py39-project-none-update"), _facts(tmp_path), report, row)
    assert row["wrong"] == "the worker's call still crashes with the patch"


def test_a_case_log_reads_as_production_wrote_it(tmp_path: Path) -> None:
    facts = holdout.prepare_case(_case("py39-project-none-update"), tmp_path)
    log = facts["log"].read_text()
    assert "/usr/local/lib/python3.9/" in log and "python3.11" not in log and str(tmp_path) not in log
    assert not any(set(line.split(" F ", 1)[-1].strip()) <= set("~^") for line in log.splitlines())
    assert facts["fault"] == ("flags/merge.py", 9) and facts["exc_type"] == "TypeError"
    assert facts["regions"] == {"flags/merge.py": [(9, 9)]}


# One case for each way a case is built (test command, old Python, setup.py dependency, src layout,
# binary file); ``bench/holdout.py --check`` proves all of them (about 90 s on two cores).
PROVEN = ["hanging-live-test-deselected", "file-scoped-test-command", "py39-project-none-update",
          "setup-py-only-dependency", "src-layout-none-strip", "latin1-data-file"]


@pytest.mark.e2e
def test_cases_are_proven_suite_green_on_both_commits_and_the_trigger_crashes(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(lambda name: holdout.check_case(_case(name), tmp_path), PROVEN))
    assert [r for r in rows if r.get("error")] == []
    assert all(r["fault"] is not None for r in rows)


def test_a_case_whose_suite_fails_on_the_buggy_commit_is_refused(tmp_path: Path) -> None:
    case = holdout.Case(name="broken-suite", expected="unknown", good={"m.py": "X = 1\n",
                        "tests/test_m.py": "from m import X\n\n\ndef test_x():\n    assert X == 1\n"},
                        bug={"m.py": "X = 2\n"}, trigger="raise SystemExit(1)")
    row = holdout.check_case(case, tmp_path)
    assert row["error"] == "setup: the suite fails on the buggy commit"


@pytest.mark.docker
def test_after_patch_tells_a_real_fix_from_one_that_misses_or_hangs(tmp_path: Path, docker_client: Any) -> None:
    case = _case("hanging-candidate-batches")
    facts = holdout.prepare_case(case, tmp_path)
    real = subprocess.run(["git", "diff", "HEAD", "HEAD~1", "--", "batching/split.py"], cwd=facts["repo"],
                          capture_output=True, text=True, check=True).stdout
    miss = "--- a/batching/__init__.py\n+++ b/batching/__init__.py\n@@ -0,0 +1 @@\n+\"\"\"Batches.\"\"\"\n"
    hang = (  # the guard a template wrote: a zero batch size, so the batching loop never advances
        "--- a/batching/split.py\n+++ b/batching/split.py\n@@ -4,2 +4,4 @@\n"
        " def batch_size(total: int, workers: int) -> int:\n+    if not workers:\n+        return 0\n"
        "     return max(1, -(-total // workers))\n")
    seen = {}
    for name, text in (("real", real), ("miss", miss), ("hang", hang)):
        (tmp_path / f"{name}.patch").write_text(text)
        facts["work"] = tmp_path / name
        facts["work"].mkdir()
        seen[name] = holdout.after_patch(case, facts, tmp_path / f"{name}.patch", timeout=8)
    assert (seen["real"], seen["miss"]) == ("ok", "crash")
    assert seen["hang"] in ("hang", "oom")  # the loop never ends; which limit it meets first depends on speed
