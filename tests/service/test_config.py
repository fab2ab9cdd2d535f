"""The service config model, its example and its committed JSON schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crew.errors import BadInputError
from crew.service.config import config_schema, load_service_config
from tests.service.helpers import ROOT

EXAMPLE = ROOT / "examples" / "service" / "healcrew-service.yaml"


def test_committed_schema_matches_the_model() -> None:
    assert (ROOT / "docs" / "service-config.schema.json").read_text() == config_schema()


def test_example_config_loads_and_maps_the_flagship_alert() -> None:
    config = load_service_config(EXAMPLE)
    entry = config.service_for({"service": "pricing-service"})
    assert entry is not None and Path(entry.logs.file or "").is_file() and Path(entry.policy or "").is_file()
    assert config.service_for({"namespace": "shop", "container": "pricing"}) is entry
    assert config.service_for({"service": "billing"}) is None


def test_unknown_keys_and_two_log_sources_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("services: []\nsurprise: 1\n")
    with pytest.raises(BadInputError, match="surprise"):
        load_service_config(bad)
    bad.write_text("services:\n- name: a\n  repo: {path: .}\n  logs: {file: x, kubernetes: true}\n")
    with pytest.raises(BadInputError, match="exactly one log source"):
        load_service_config(bad)


def test_serve_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "crew.cli", "serve", "--state", f"sqlite:///{tmp_path}/s.db"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and "HEALCREW_WEBHOOK_TOKEN" in lines[0]
