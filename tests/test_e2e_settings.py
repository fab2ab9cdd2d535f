# ruff: noqa: E501  (the log fixture keeps real line lengths)
"""A pydantic-settings start-up crash: a required setting missing from the deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

CONFIG = '''"""Service settings, from the environment."""
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOP_")

    database_url: str
    pool_size: int = 5


settings = Settings()
'''
SUITE = '''import importlib
import sys


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SHOP_DATABASE_URL", "postgresql://db.test:5432/shop")
    sys.modules.pop("app.config", None)
    config = importlib.import_module("app.config")
    assert config.settings.pool_size == 5
'''
ENV_EXAMPLE = "SHOP_DATABASE_URL=postgresql://db:5432/shop\nSHOP_POOL_SIZE=5\n"
LOG = """2026-11-20T02:00:00.101Z shop-api-7c9d Traceback (most recent call last):
2026-11-20T02:00:00.101Z shop-api-7c9d   File "/app/app/config.py", line 12, in <module>
2026-11-20T02:00:00.101Z shop-api-7c9d     settings = Settings()
2026-11-20T02:00:00.101Z shop-api-7c9d                ^^^^^^^^^^
2026-11-20T02:00:00.101Z shop-api-7c9d   File "/usr/local/lib/python3.11/site-packages/pydantic_settings/main.py", line 292, in __init__
2026-11-20T02:00:00.101Z shop-api-7c9d     super().__init__(**__pydantic_self__.__class__._settings_build_values(sources, init_kwargs))
2026-11-20T02:00:00.101Z shop-api-7c9d   File "/usr/local/lib/python3.11/site-packages/pydantic/main.py", line 250, in __init__
2026-11-20T02:00:00.101Z shop-api-7c9d     validated_self = self.__pydantic_validator__.validate_python(data, self_instance=self)
2026-11-20T02:00:00.101Z shop-api-7c9d pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
2026-11-20T02:00:00.101Z shop-api-7c9d database_url
2026-11-20T02:00:00.101Z shop-api-7c9d   Field required [type=missing, input_value={}, input_type=dict]
2026-11-20T02:00:00.101Z shop-api-7c9d     For further information visit https://errors.pydantic.dev/2.12/v/missing
"""


def test_missing_required_setting_gets_the_documented_default(tmp_path: Path, docker_client: Any) -> None:
    repo = tmp_path / "shop-api"
    (repo / "app").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "app" / "__init__.py").write_text("")
    (repo / "app" / "config.py").write_text(CONFIG)
    (repo / "tests" / "test_config.py").write_text(SUITE)
    (repo / ".env.example").write_text(ENV_EXAMPLE)
    (repo / "requirements.txt").write_text("pydantic-settings\npytest\n")
    git = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "Shop API settings"], cwd=repo, check=True)
    log = tmp_path / "start.log"
    log.write_text(LOG)
    env = {**os.environ, "HEALCREW_CACHE": os.environ.get("HEALCREW_CACHE") or str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "crew.cli", "run", "--repo", str(repo), "--log", str(log), "--out",
         str(tmp_path / "out"), "--sandbox", "docker", "--deliver", "none", "--json"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert report.get("diagnosis", {}).get("root_cause") == "missing_config", report.get("diagnosis")
    assert proc.returncode == 0, (proc.stderr[-1500:], report.get("declined"), report.get("attempts"))
    accepted = report["accepted"]
    assert accepted["proposal"]["strategy"] == "settings-default-from-repo"
    assert 'database_url: str = "postgresql://db:5432/shop"' in accepted["proposal"]["diff"]
    assert accepted["validation"]["reproduces"] and accepted["validation"]["fixed"]
