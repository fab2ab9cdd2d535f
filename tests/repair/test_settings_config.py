"""pydantic-settings start-up errors: which variable is missing, and its env prefix."""

from __future__ import annotations

import ast

from crew.repair.templates.config import _SETTINGS_ERROR, _env_prefix

MESSAGE = (
    "1 validation error for Settings\ndatabase_url\n"
    "  Field required [type=missing, input_value={}, input_type=dict]"
)


def test_the_missing_field_and_class_are_read_from_the_message() -> None:
    m = _SETTINGS_ERROR.search(MESSAGE)
    assert m is not None and (m.group(1), m.group(2)) == ("Settings", "database_url")
    assert _SETTINGS_ERROR.search("1 validation error for Order\nqty\n  Input should be a valid integer") is None


def test_env_prefix_from_model_config_and_from_a_config_class() -> None:
    v2 = ast.parse('class S(BaseSettings):\n    model_config = SettingsConfigDict(env_prefix="SHOP_")\n    x: str\n')
    v1 = ast.parse('class S(BaseSettings):\n    x: str\n    class Config:\n        env_prefix = "APP_"\n')
    plain = ast.parse("class S(BaseSettings):\n    x: str\n")
    assert [_env_prefix(t.body[0]) for t in (v2, v1, plain)] == ["SHOP_", "APP_", ""]  # type: ignore[arg-type]
