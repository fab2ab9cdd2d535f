"""The repair stage makes candidates at the best two or three fault locations, not only the raising line."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.agents import repair as repair_agent
from crew.repair.candidates import Candidate, SourceEdit, TemplateContext
from crew.repo import GitRepo
from tests.diagnosis.helpers import crash_diagnosis
from tests.diagnosis.test_locations import NONE_FROM_CALLER


def _one_per_line(ctx: TemplateContext, limit: int = 6) -> list[Candidate]:
    """A stand-in template registry: one edit at whatever line the diagnosis points to."""
    assert ctx.diagnosis.fault_frame is not None and ctx.diagnosis.code_context is not None
    line = ctx.diagnosis.code_context.fault_line
    if "guard" in ctx.tried:
        return []
    path = ctx.diagnosis.fault_frame.repo_path or ""
    text = ctx.repo.read(path) or ""
    return [Candidate(strategy="guard", edits=(SourceEdit(path, text, text + f"# at {line}\n"),),
                      rationale=f"guard `{ctx.diagnosis.culprit}`", score=0.8)]


def test_candidates_come_from_the_top_three_locations_ranked_by_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = crash_diagnosis(tmp_path, {"svc/__init__.py": "", "svc/users.py": NONE_FROM_CALLER},
                        "from svc.users import handle; handle({}, 7)")
    assert len(d.fault_locations) >= 3
    monkeypatch.setattr(repair_agent, "generate_candidates", _one_per_line)
    ctx = TemplateContext(diagnosis=d, repo=GitRepo(tmp_path))
    got = repair_agent._located_candidates(ctx)
    assert [c.strategy for c in got] == ["guard", "guard@svc/users.py:11", "guard@svc/users.py:10"]
    assert [c.edits[0].updated.rsplit("# at ", 1)[1] for c in got] == ["6\n", "11\n", "10\n"]
    assert "guard `user`" in got[1].rationale and "passed here by the caller" in got[1].rationale
    assert got[1].score == pytest.approx(0.8 * d.fault_locations[1].score)
    # a strategy tried at one place is still offered at the others
    ctx.tried.add("guard")
    ctx.tried.add("guard@svc/users.py:11")
    assert [c.strategy for c in repair_agent._located_candidates(ctx)] == ["guard@svc/users.py:10"]


def test_without_upstream_locations_only_the_raising_line_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = crash_diagnosis(tmp_path, {"m.py": "def f(xs):\n    return 1 / len(xs)\n"}, "from m import f; f([])")
    assert [loc.kind for loc in d.fault_locations] == ["raised"]
    monkeypatch.setattr(repair_agent, "generate_candidates", _one_per_line)
    got = repair_agent._located_candidates(TemplateContext(diagnosis=d, repo=GitRepo(tmp_path)))
    assert [c.strategy for c in got] == ["guard"]
