# ruff: noqa: E501  (the log fixture keeps real line lengths)
"""A pydantic-settings start-up crash: a required setting missing from the deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e_helpers import commit_repo, healcrew_run

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
    repo = commit_repo(tmp_path / "shop-api", {
        "app/__init__.py": "", "app/config.py": CONFIG, "tests/test_config.py": SUITE,
        ".env.example": ENV_EXAMPLE, "requirements.txt": "pydantic-settings\npytest\n",
    }, "Shop API settings")
    log = tmp_path / "start.log"
    log.write_text(LOG)
    proc, report = healcrew_run(repo, log, tmp_path / "out", tmp_path / "cache", "--deliver", "none")
    assert report.get("diagnosis", {}).get("root_cause") == "missing_config", report.get("diagnosis")
    assert proc.returncode == 0, (proc.stderr[-1500:], report.get("declined"), report.get("attempts"))
    accepted = report["accepted"]
    assert accepted["proposal"]["strategy"] == "settings-default-from-repo"
    assert 'database_url: str = "postgresql://db:5432/shop"' in accepted["proposal"]["diff"]
    assert accepted["validation"]["reproduces"] and accepted["validation"]["fixed"]
