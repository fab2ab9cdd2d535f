"""The helpers the templates share: message dispatch, quoted values, repo scans."""

from __future__ import annotations

import re
from pathlib import Path

from crew.repair.templates._ast_edit import dispatch, message_string, repo_sources
from tests.repair.helpers import crash, make_repo


def test_dispatch_runs_only_the_first_matching_handler(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app/__init__.py": "", "app/m.py": "def f(a):\n    return int(a)\n"})
    ctx = crash(repo, "app/m.py", "return int(a)", "ValueError", "invalid literal for int() with base 10: 'x'")
    seen: list[str] = []
    rules = [
        (re.compile(r"nothing like this"), lambda c, f, m: seen.append("none") or []),
        (re.compile(r"invalid literal .*: (.*)$"), lambda c, f, m: seen.append(m.group(1)) or []),
        (re.compile(r"invalid"), lambda c, f, m: seen.append("second") or []),
    ]
    assert dispatch(ctx, rules) == [] and seen == ["'x'"]


def test_message_string_and_repo_sources(tmp_path: Path) -> None:
    assert message_string("'page'") == "page" and message_string("page") is None and message_string("3") is None
    repo = make_repo(tmp_path / "r", {"a.py": "X = 1\n", "b.py": "X = (\n", "c.py": "Y = 2\n", "d.txt": "X"})
    ctx = crash(make_repo(tmp_path / "s", {"m.py": "def f():\n    return 1 / 0\n"}), "m.py", "1 / 0",
                "ZeroDivisionError", "division by zero")
    ctx.repo = repo
    assert [s.path for s in repo_sources(ctx, "X", 10)] == ["a.py"]  # b.py does not parse, c.py lacks X
