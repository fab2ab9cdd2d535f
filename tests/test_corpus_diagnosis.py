"""Every incident bundle is diagnosed as its answer key (expected.yaml) says."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crew.agents.diagnostic import diagnose
from crew.agents.monitoring import monitor
from crew.bundle import load_bundle
from crew.repo import GitRepo

INCIDENTS = Path(__file__).resolve().parents[1] / "examples" / "incidents"
BUNDLES = sorted(p.parent.name for p in INCIDENTS.glob("*/expected.yaml"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize("name", BUNDLES)
def test_bundle_is_diagnosed_as_expected(name: str, cache: Path) -> None:
    expected = yaml.safe_load((INCIDENTS / name / "expected.yaml").read_text())
    incident = load_bundle(INCIDENTS / name, cache)
    evidence = monitor(incident)
    d = diagnose(evidence, GitRepo(incident.repo, incident.commit))
    assert d.root_cause.value == expected["root_cause"]
    fault = expected.get("fault")
    if fault:
        assert d.fault_frame is not None
        assert (d.fault_frame.repo_path, d.fault_frame.frame.line) == (fault["path"], fault["line"])
        assert d.code_context is not None
        if fault.get("function") != "<module>":
            assert d.code_context.function == fault["function"]
        assert d.suspect_commits and d.suspect_commits[0].sha == expected["suspect_commit"]
    else:
        assert d.fault_frame is None
    assert 0.1 <= d.confidence <= 1.0 and d.hypothesis


def test_corpus_is_large_enough() -> None:
    assert len(BUNDLES) >= 13
