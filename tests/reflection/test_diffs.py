"""Diffs from edits round-trip through `git apply --check` on a real repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crew.errors import BadInputError
from crew.repair.candidates import SourceEdit
from crew.repair.diffs import check_applies, diff_stats, new_file_diff, parse_diff, unified_diff

CALC = "def calc(p, d):\n    return p / d\n"
NO_EOL = "line one\nline two"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "calc.py").write_text(CALC)
    (tmp_path / "notes.txt").write_text(NO_EOL)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-qm", "init")
    return tmp_path


def applies_for_real(repo: Path, diff: str) -> None:
    """`git apply` to the working tree as well, to prove the diff means what it says."""
    subprocess.run(["git", "-C", str(repo), "apply", "-"], input=diff, text=True, check=True)


def test_edit_round_trips(repo: Path) -> None:
    updated = "def calc(p, d):\n    if d == 0:\n        return 0.0\n    return p / d\n"
    diff = unified_diff([SourceEdit("app/calc.py", CALC, updated)])
    assert diff.startswith("diff --git a/app/calc.py b/app/calc.py\n--- a/app/calc.py\n+++ b/app/calc.py\n")
    assert check_applies(repo, "HEAD", diff) is None
    applies_for_real(repo, diff)
    assert (repo / "app" / "calc.py").read_text() == updated


def test_new_file_round_trips(repo: Path) -> None:
    content = "def test_calc():\n    assert True\n"
    diff = new_file_diff("tests/test_calc.py", content)
    assert "new file mode 100644\n--- /dev/null\n+++ b/tests/test_calc.py\n" in diff
    assert diff == unified_diff([SourceEdit("tests/test_calc.py", "", content)])
    assert check_applies(repo, "HEAD", diff) is None
    applies_for_real(repo, diff)
    assert (repo / "tests" / "test_calc.py").read_text() == content


@pytest.mark.parametrize("updated", ["line one\nline 2", "line one\nline two\nline three\n", "line one\nline 2\n"])
def test_missing_trailing_newline_round_trips(repo: Path, updated: str) -> None:
    diff = unified_diff([SourceEdit("notes.txt", NO_EOL, updated)])
    assert "\\ No newline at end of file\n" in diff
    assert check_applies(repo, "HEAD", diff) is None
    applies_for_real(repo, diff)
    assert (repo / "notes.txt").read_text() == updated


def test_several_files_and_stats(repo: Path) -> None:
    diff = unified_diff([
        SourceEdit("app/calc.py", CALC, CALC.replace("p / d", "p / d if d else 0.0")),
        SourceEdit("app/new.py", "", "X = 1\nY = 2\n"),
        SourceEdit("notes.txt", NO_EOL, NO_EOL),  # unchanged: no section
    ])
    assert diff_stats(diff) == (2, 3, 1)
    assert [f.path for f in parse_diff(diff)] == ["app/calc.py", "app/new.py"]
    assert check_applies(repo, "HEAD", diff) is None


def test_conflict_is_reported_in_one_line(repo: Path) -> None:
    stale = "def calc(p, d):\n    return p // d\n"
    diff = unified_diff([SourceEdit("app/calc.py", stale, stale.replace("//", "/ max(d, 1) //"))])
    reason = check_applies(repo, "HEAD", diff)
    assert reason is not None and "app/calc.py" in reason and "\n" not in reason


def test_check_does_not_touch_the_working_tree_or_index(repo: Path) -> None:
    (repo / "app" / "calc.py").write_text("# local edit\n")
    git(repo, "add", "app/calc.py")
    staged_before = git(repo, "diff", "--cached")
    diff = unified_diff([SourceEdit("app/calc.py", CALC, CALC.replace("p / d", "p / (d or 1)"))])
    # Applies to the commit even though the working tree and index differ from it.
    assert check_applies(repo, "HEAD", diff) is None
    assert (repo / "app" / "calc.py").read_text() == "# local edit\n"
    assert git(repo, "diff", "--cached") == staged_before


def test_checks_against_an_older_commit(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "app" / "calc.py").write_text("def calc(p, d):\n    return 0\n")
    git(repo, "commit", "-qam", "second")
    diff = unified_diff([SourceEdit("app/calc.py", CALC, CALC + "\n\nX = 1\n")])
    assert check_applies(repo, first, diff) is None
    assert check_applies(repo, "HEAD", diff) is not None


def test_unknown_commit_is_bad_input(repo: Path) -> None:
    with pytest.raises(BadInputError):
        check_applies(repo, "no-such-ref", new_file_diff("x.py", "x\n"))


@pytest.mark.parametrize("garbage", ["hello world\n", "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n-a\n"])
def test_garbage_is_bad_input(garbage: str) -> None:
    with pytest.raises(BadInputError):
        parse_diff(garbage)


def test_empty_diff() -> None:
    assert diff_stats("") == (0, 0, 0)
    assert unified_diff([SourceEdit("a.py", "x\n", "x\n")]) == ""
