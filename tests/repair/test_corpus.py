"""The templates against the incident corpus: every fixable bundle gets a candidate that fixes it.

Each bundle is loaded, monitored and diagnosed as the pipeline does; the candidates are applied to
a copy of the materialized repository, and the bundle's ``reproduce`` snippet must then run
without an exception (tests may run code; healcrew itself never does).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from crew.handoffs import RootCause
from crew.repair.candidates import TemplateContext, generate_candidates
from crew.repo import GitRepo

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BUNDLES = sorted(p.parent for p in (EXAMPLES / "incidents").glob("*/expected.yaml"))
FIXABLE = [
    b for b in BUNDLES
    if (e := yaml.safe_load((b / "expected.yaml").read_text())).get("fixable")
    # an OOM kill is fixed in the manifests (crew/repair/config_repair.py), not by a code template
    and e["root_cause"] != RootCause.OUT_OF_MEMORY.value
]
HAVE_MONITORING = importlib.util.find_spec("crew.extract") is not None

pytestmark = [
    pytest.mark.skipif(not FIXABLE, reason="no fixable incident bundles in examples/incidents yet"),
    pytest.mark.skipif(not HAVE_MONITORING, reason="crew.extract (Monitoring) is not there yet"),
]


def _reproduces(repo: Path, edits: dict[str, str], snippet: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    work = tmp / f"run-{len(list(tmp.glob('run-*')))}"
    shutil.copytree(repo, work, ignore=shutil.ignore_patterns(".git"))
    for path, text in edits.items():
        (work / path).write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, '.'); exec(sys.stdin.read())"], cwd=work,
        input=snippet, capture_output=True, text=True, timeout=60, env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.mark.parametrize("bundle", FIXABLE, ids=[b.name for b in FIXABLE])
def test_a_candidate_fixes_the_bundle(bundle: Path, tmp_path: Path) -> None:
    from crew.agents.diagnostic import diagnose
    from crew.agents.monitoring import monitor
    from crew.bundle import load_bundle

    expected = yaml.safe_load((bundle / "expected.yaml").read_text())
    incident = load_bundle(bundle, tmp_path / "cache")
    evidence = monitor(incident)
    repo = GitRepo(incident.repo, incident.commit)
    diagnosis = diagnose(evidence, repo)
    assert diagnosis.root_cause.value == expected["root_cause"]
    cands = generate_candidates(TemplateContext(diagnosis=diagnosis, repo=repo, evidence=evidence), limit=10)
    assert cands, f"no candidate for {bundle.name}"
    snippet = expected["reproduce"]
    assert _reproduces(repo.path, {}, snippet, tmp_path).returncode != 0, "the snippet must crash on the original"
    best = cands[0]
    proc = _reproduces(repo.path, {e.path: e.updated for e in best.edits}, snippet, tmp_path)
    assert proc.returncode == 0, f"the top candidate {best.strategy} does not fix it: {proc.stderr[-600:]}"
    fault = expected.get("fault") or {}
    assert set(best.touched_files) & {fault.get("path"), expected.get("manifest")}, best.touched_files


NOT_FIXABLE = [b for b in BUNDLES if b not in FIXABLE]


@pytest.mark.parametrize("bundle", NOT_FIXABLE, ids=[b.name for b in NOT_FIXABLE])
def test_no_code_candidate_for_a_bundle_to_decline(bundle: Path, tmp_path: Path) -> None:
    from crew.agents.diagnostic import diagnose
    from crew.agents.monitoring import monitor
    from crew.bundle import load_bundle

    incident = load_bundle(bundle, tmp_path / "cache")
    evidence = monitor(incident)
    repo = GitRepo(incident.repo, incident.commit)
    ctx = TemplateContext(diagnosis=diagnose(evidence, repo), repo=repo, evidence=evidence)
    assert generate_candidates(ctx) == []
