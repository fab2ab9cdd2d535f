"""Diagnosis against a real git repository built from a recorded history."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crew.agents.diagnostic import diagnose
from crew.errors import BadInputError, NoCrashEvidenceError
from crew.handoffs import CrashEvidence, CrashGroup, Frame, RootCause, Termination, Traceback
from crew.history import materialize
from crew.repo import GitRepo

GOOD = '''"""Order helpers."""


def total(order):
    """Sum of line totals."""
    return sum(line["price"] * line["qty"] for line in order["lines"])


def average(order):
    """Average line price."""
    lines = order["lines"]
    return total(order) / len(lines)
'''
PATCH = '''--- a/shop/orders.py
+++ b/shop/orders.py
@@ -9,4 +9,5 @@ def total(order):
 def average(order):
     """Average line price."""
     lines = order["lines"]
-    return total(order) / len(lines)
+    count = len([line for line in lines if line["qty"]])
+    return total(order) / count
'''
HISTORY = f'''commits:
  - message: "Add order helpers"
    author: "Ada Good <ada@example.com>"
    date: 2026-10-01T09:00:00+00:00
  - message: "Skip zero-quantity lines in the average"
    author: "Bob Quick <bob@example.com>"
    date: 2026-11-02T15:30:00+01:00
    patch: |
{"".join("      " + line + chr(10) for line in PATCH.splitlines())}'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    tree = tmp_path_factory.mktemp("tree") / "orders-svc"
    (tree / "shop").mkdir(parents=True)
    (tree / "shop" / "__init__.py").write_text("")
    bad = GOOD.replace(
        "    return total(order) / len(lines)\n",
        "    count = len([line for line in lines if line[\"qty\"]])\n    return total(order) / count\n",
    )
    (tree / "shop" / "orders.py").write_text(bad)
    (tree / ".history.yaml").write_text(HISTORY)
    path = materialize(tree, tmp_path_factory.mktemp("cache"))
    return GitRepo(path)


def evidence(frames: list[Frame], exc: str = "ZeroDivisionError", msg: str = "division by zero",
             cause: Traceback | None = None) -> CrashEvidence:
    tb = Traceback(exc_type=exc, exc_message=msg, frames=frames, cause=cause,
                   cause_kind="context" if cause else None)
    group = CrashGroup(signature="s", exc_type=exc, exc_message=msg, count=4, example=0)
    return CrashEvidence(incident_id="t", source="test", tracebacks=[tb], groups=[group])


CRASH = [
    Frame(file="/usr/local/lib/python3.11/site-packages/celery/app/trace.py", line=451, function="trace_task"),
    Frame(file="/srv/orders/shop/orders.py", line=13, function="average", code="return total(order) / count"),
]


def test_history_materializes_two_commits_with_stable_shas(repo: GitRepo, tmp_path: Path) -> None:
    log = subprocess.run(["git", "-C", str(repo.path), "log", "--format=%s"], capture_output=True, text=True)
    assert log.stdout.splitlines() == ["Skip zero-quantity lines in the average", "Add order helpers"]


def test_diagnosis_finds_fault_line_function_class_and_suspect(repo: GitRepo) -> None:
    d = diagnose(evidence(CRASH), repo)
    assert d.root_cause is RootCause.DIVISION_BY_ZERO
    assert d.fault_frame is not None and d.fault_frame.repo_path == "shop/orders.py"
    assert d.code_context is not None and d.code_context.function == "average"
    assert d.code_context.lines[d.code_context.fault_line - d.code_context.start_line].strip() == (
        "return total(order) / count"
    )
    assert d.culprit == "count"
    assert d.suspect_commits[0].summary == "Skip zero-quantity lines in the average"
    assert d.suspect_commits[0].author.startswith("Bob Quick")
    assert d.confidence >= 0.8
    assert "Bob Quick" in d.hypothesis and "average" in d.hypothesis
    assert "the likely regression" in d.hypothesis


def test_the_commit_that_added_the_file_is_flagged_as_history_not_a_regression(repo: GitRepo) -> None:
    d = diagnose(evidence(CRASH), repo)
    by_summary = {s.summary: s.created_file for s in d.suspect_commits}
    assert by_summary == {"Skip zero-quantity lines in the average": False, "Add order helpers": True}
    # at the first commit the line is as old as the file: said so, not called a regression
    first = GitRepo(repo.path, repo.commits_touching("shop/orders.py", 1, 1, limit=9)[-1].sha)
    frames = [CRASH[0], Frame(file=CRASH[1].file, line=12, function="average", code="return total(order) / len(lines)")]
    d0 = diagnose(evidence(frames), first)
    assert [s.created_file for s in d0.suspect_commits] == [True]
    assert "as old as the file, added by" in d0.hypothesis and "regression" not in d0.hypothesis


def test_logged_code_differing_from_the_commit_lowers_confidence(repo: GitRepo) -> None:
    frames = [CRASH[0], Frame(file=CRASH[1].file, line=13, function="average", code="return x / y")]
    assert diagnose(evidence(frames), repo).confidence < diagnose(evidence(CRASH), repo).confidence


def test_library_raise_points_at_the_repo_call_site(repo: GitRepo) -> None:
    frames = [CRASH[1], Frame(file="/usr/local/lib/python3.11/statistics.py", line=3, function="mean")]
    d = diagnose(evidence(frames, "statistics.StatisticsError", "mean requires at least one data point"), repo)
    assert d.fault_frame is not None and d.fault_frame.repo_path == "shop/orders.py"
    assert d.library_frame is not None and d.library_frame.frame.function == "mean"


def test_chained_exception_diagnoses_the_root_cause(repo: GitRepo) -> None:
    inner = Traceback(exc_type="ZeroDivisionError", exc_message="division by zero", frames=CRASH)
    outer_frames = [Frame(file="/usr/local/lib/python3.11/site-packages/app/errors.py", line=3, function="wrap")]
    d = diagnose(evidence(outer_frames, "RuntimeError", "task failed", cause=inner), repo)
    assert d.exc_type == "ZeroDivisionError"


def test_frames_outside_the_repo_are_bad_input(repo: GitRepo) -> None:
    with pytest.raises(BadInputError, match="not in the repository|none of the traceback"):
        diagnose(evidence([Frame(file="/app/other/service.py", line=3, function="f")]), repo)


def test_oom_kill_without_traceback(repo: GitRepo) -> None:
    ev = CrashEvidence(incident_id="t", source="x",
                       termination=Termination(kind="oom_killed", reason="OOMKilled", exit_code=137))
    d = diagnose(ev, repo)
    assert d.root_cause is RootCause.OUT_OF_MEMORY and d.fault_frame is None


def test_nothing_at_all_is_no_crash_evidence(repo: GitRepo) -> None:
    with pytest.raises(NoCrashEvidenceError):
        diagnose(CrashEvidence(incident_id="t", source="x"), repo)


def test_bad_repo_and_bad_commit(tmp_path: Path, repo: GitRepo) -> None:
    with pytest.raises(BadInputError, match="not a git repository"):
        GitRepo(tmp_path)
    with pytest.raises(BadInputError, match="not found"):
        GitRepo(tmp_path / "missing")
    with pytest.raises(BadInputError, match="commit 'nope' not found"):
        GitRepo(repo.path, "nope")
