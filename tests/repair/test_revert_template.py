"""The revert template: the suspect commit's change at the fault function, undone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from crew.repair.candidates import generate_candidates
from crew.repair.templates import revert
from crew.repo import GitRepo
from tests.repair.helpers import GIT_ENV, crash, run_patched

GOOD = '''def first_title(items):
    """The newest item's title, or None when there is none."""
    if not items:
        return None
    return items[0]["title"]


def count(items):
    return len(items)
'''
# the regression: the guard goes, and the same commit changes another function too
BAD = '''def first_title(items):
    """The newest item's title, or None when there is none."""
    return items[0]["title"]


def count(items):
    return len(list(items))
'''


def _history(root: Path, *versions: dict[str, str]) -> GitRepo:
    root.mkdir(parents=True)
    env = {**os.environ, **GIT_ENV}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env, capture_output=True)

    git("init", "-q", "-b", "main")
    for number, files in enumerate(versions):
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        git("add", "-A")
        git("commit", "-q", "-m", f"change {number}")
    return GitRepo(root)


def test_the_suspect_hunk_in_the_fault_function_is_reverted_and_nothing_else(tmp_path: Path) -> None:
    repo = _history(tmp_path / "r", {"feed/__init__.py": "", "feed/items.py": GOOD}, {"feed/items.py": BAD})
    ctx = crash(repo, "feed/items.py", 'return items[0]["title"]', "IndexError", "list index out of range")
    cands = revert.generate(ctx)
    assert [c.strategy for c in cands] == ["revert-suspect-hunk"]  # the whole function would be the same text
    updated = cands[0].edits[0].updated
    assert "if not items:\n        return None" in updated and "len(list(items))" in updated  # count untouched
    assert run_patched(repo, cands[0], "from feed.items import first_title; print(first_title([]))",
                       tmp_path).stdout.strip() == "None"


def test_the_hunk_at_the_fault_first_then_the_whole_function_change(tmp_path: Path) -> None:
    good = GOOD.replace('    if not items:', '    items = list(items)\n    # the feed may be empty\n    if not items:')
    bad = BAD.replace('    return items[0]["title"]', '    items = tuple(items)\n    # the feed may be empty\n'
                                                      '    return items[0]["title"]')
    repo = _history(tmp_path / "r", {"feed/__init__.py": "", "feed/items.py": good}, {"feed/items.py": bad})
    ctx = crash(repo, "feed/items.py", 'return items[0]["title"]', "IndexError", "list index out of range")
    hunk, whole = revert.generate(ctx)
    assert (hunk.strategy, whole.strategy) == ("revert-suspect-hunk", "revert-suspect-function")
    assert "if not items:" in hunk.edits[0].updated and "items = tuple(items)" in hunk.edits[0].updated
    assert whole.edits[0].updated.split("\n\n\ndef count")[0] == good.split("\n\n\ndef count")[0]
    assert "len(list(items))" in whole.edits[0].updated and hunk.score > whole.score


def test_no_revert_when_the_function_changed_again_after_the_suspect(tmp_path: Path) -> None:
    later = BAD.replace('return items[0]["title"]', 'return items[0]["title"].strip()')
    repo = _history(tmp_path / "r", {"feed/__init__.py": "", "feed/items.py": GOOD}, {"feed/items.py": BAD},
                    {"feed/items.py": later})
    ctx = crash(repo, "feed/items.py", 'return items[0]["title"]', "IndexError", "list index out of range")
    cands = revert.generate(ctx)
    # the newest change to the function (the .strip()) is reverted on its own; the guard's removal
    # happened in an older version of the function, which is not what runs, so nothing guesses at it
    assert [c.strategy for c in cands] == ["revert-suspect-hunk"]
    assert "if not items" not in cands[0].edits[0].updated and ".strip()" not in cands[0].edits[0].updated


def test_a_file_with_one_commit_has_nothing_to_revert(tmp_path: Path) -> None:
    repo = _history(tmp_path / "r", {"feed/__init__.py": "", "feed/items.py": BAD})
    ctx = crash(repo, "feed/items.py", 'return items[0]["title"]', "IndexError", "list index out of range")
    assert revert.generate(ctx) == []
    assert all(not c.strategy.startswith("revert") for c in generate_candidates(ctx))
