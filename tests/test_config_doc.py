"""docs/CONFIG.md is generated from the configuration models, and a test fails when it drifts from them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from crew.delivery.config import DeliveryConfig, GitHubConfig
from crew.policy.model import Policy
from crew.policy.repair_policy import RepairPolicy
from crew.service.config import LogConfig, RepoConfig, ServiceConfig, ServiceEntry

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gen_config_doc.py"
DOC = ROOT / "docs" / "CONFIG.md"


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=ROOT)


def test_config_md_matches_the_models() -> None:
    proc = _generate("--check")
    assert proc.returncode == 0, proc.stderr  # run: python scripts/gen_config_doc.py


def test_the_check_fails_on_drift(tmp_path: Path) -> None:
    stale = tmp_path / "CONFIG.md"
    stale.write_text(DOC.read_text(encoding="utf-8").replace("| `max_files` |", "| `max_file` |"), encoding="utf-8")
    proc = _generate("--check", "--doc", str(stale))
    assert proc.returncode == 1
    assert proc.stderr.strip() == "CONFIG.md is out of date: run python scripts/gen_config_doc.py"  # one line
    fresh = tmp_path / "fresh.md"
    assert _generate("--doc", str(fresh)).returncode == 0
    assert fresh.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("model", [Policy, DeliveryConfig, GitHubConfig, RepairPolicy, ServiceConfig, ServiceEntry,
                                   RepoConfig, LogConfig], ids=lambda m: m.__name__)
def test_every_field_is_documented(model: type[BaseModel]) -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in model.model_fields:
        if model is RepairPolicy and name == "service":
            continue  # metadata.name, not a spec key
        assert f"| `{name}` |" in text, f"{model.__name__}.{name}"


def test_the_examples_in_the_reference_load(tmp_path: Path) -> None:
    """The .healcrew.yaml and operator examples, cut out of the document, load through healcrew's loaders."""
    import re

    from crew.delivery.config import load_settings
    from crew.policy.repo_file import load_repo_settings

    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    repo_yaml = next(b for b in blocks if b.startswith("# .healcrew.yaml"))
    operator_yaml = next(b for b in blocks if b.startswith("# The operator's file"))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".healcrew.yaml").write_text(repo_yaml, encoding="utf-8")
    settings = load_repo_settings(repo)
    assert settings.policy.max_files == 2 and settings.policy.allow_config_edits is False
    assert "app/payments/" in settings.policy.forbidden_paths and not settings.policy_notes
    operator = tmp_path / "operator.yaml"
    operator.write_text(operator_yaml, encoding="utf-8")
    config = load_settings(repo, operator).config
    assert config.forge == "github" and config.github.repo == "acme/pricing-service"
    assert config.draft_below_confidence == 0.8 and config.cooldown_hours == 48  # the repository may raise these
