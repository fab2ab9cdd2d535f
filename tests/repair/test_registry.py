"""The registry asks every template that handles the diagnosed class and ranks their candidates."""

from __future__ import annotations

from pathlib import Path

from crew.handoffs import RootCause
from crew.repair.candidates import TEMPLATE_MODULES, _templates, generate_candidates
from tests.repair.helpers import crash, make_repo

CODE = '''import os


def ratio(hits, total):
    return hits / total


def host():
    return os.getenv("SMTP_HOST").lower()
'''


def test_every_template_module_is_registered_and_declares_its_classes() -> None:
    modules = _templates()
    assert [m.__name__.rsplit(".", 1)[-1] for m in modules] == list(TEMPLATE_MODULES)
    handled = {cause for m in modules for cause in m.HANDLES}
    assert handled == set(RootCause) - {RootCause.OUT_OF_MEMORY, RootCause.UNKNOWN}


def test_candidates_are_ranked_deduplicated_and_filtered(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app/__init__.py": "", "app/stats.py": CODE})
    ctx = crash(repo, "app/stats.py", "return hits / total", "ZeroDivisionError", "division by zero")
    cands = generate_candidates(ctx)
    scores = [c.score for c in cands]
    assert scores == sorted(scores, reverse=True) and len(cands) >= 2
    assert cands[0].strategy == "guard-zero-divisor-zero"  # a ratio over nothing is 0
    assert len({c.edits[0].updated for c in cands}) == len(cands)
    ctx.tried = {cands[0].strategy}
    assert cands[0].strategy not in [c.strategy for c in generate_candidates(ctx)]
    assert len(generate_candidates(ctx, limit=1)) == 1


def test_none_from_the_environment_goes_to_both_templates_and_declines_without_a_value(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app/__init__.py": "", "app/stats.py": CODE,
                                      "README.md": "Set `SMTP_HOST` (default `localhost`).\n"})
    ctx = crash(repo, "app/stats.py", 'os.getenv("SMTP_HOST")', "AttributeError",
                "'NoneType' object has no attribute 'lower'")
    assert ctx.diagnosis.root_cause is RootCause.NONE_DEREFERENCE
    cands = generate_candidates(ctx)
    assert cands[0].strategy == "env-default-from-repo"
    assert 'os.getenv("SMTP_HOST", "localhost").lower()' in cands[0].edits[0].updated
    bare = make_repo(tmp_path / "bare", {"app/__init__.py": "", "app/stats.py": CODE})
    ctx = crash(bare, "app/stats.py", 'os.getenv("SMTP_HOST")', "AttributeError",
                "'NoneType' object has no attribute 'lower'")
    assert generate_candidates(ctx) == []  # no value stated anywhere, and a call's None is not guarded twice
