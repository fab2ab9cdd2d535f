"""``--brain offline|llm|auto``: resolved once, before any work, from the flag and the environment.

Only the operator chooses the endpoint, the key and the model (flags and environment), never the
repository under repair. ``auto`` is llm when a key is set, else offline, and says which in one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crew.errors import BadInputError

BRAINS = ("offline", "llm", "auto")
DEFAULT_MODEL = "claude-sonnet-4-5"


class LLMSettings(BaseModel):
    """How the llm brain reaches its model; every field comes from the operator."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["anthropic", "openai"] = Field(
        default="anthropic", description="anthropic: the Messages API; openai: an OpenAI-compatible server.")
    model: str = Field(default=DEFAULT_MODEL, description="Model name ($HEALCREW_LLM_MODEL, --model).")
    base_url: str | None = Field(
        default=None, description="Endpoint: $ANTHROPIC_BASE_URL, or $HEALCREW_LLM_BASE_URL for openai.")
    api_key_env: str = Field(default="ANTHROPIC_API_KEY", description="The variable holding the key.")
    timeout: float = Field(default=120.0, description="Seconds one API request may take ($HEALCREW_LLM_TIMEOUT).")
    max_retries: int = Field(default=2, description="Retries of a request on 429, 5xx, 529 and timeouts.")
    max_tokens: int = Field(default=4096, description="Output tokens one call may produce.")
    run_budget_usd: float = Field(default=2.0, description="Dollars one run may spend ($HEALCREW_LLM_RUN_BUDGET).")
    day_budget_usd: float = Field(default=20.0, description="Dollars a day may spend ($HEALCREW_LLM_DAY_BUDGET).")
    samples: int = Field(default=2, ge=1, le=5, description="Repair answers asked for per incident "
                         "($HEALCREW_LLM_SAMPLES), while the budget allows.")


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadInputError(f"{name} must be a number, not {raw!r}") from None


def settings_from_env(env: Mapping[str, str] | None = None, model: str | None = None) -> LLMSettings:
    """The llm brain's settings: HEALCREW_LLM_PROVIDER=openai switches to an OpenAI-compatible server."""
    env = os.environ if env is None else env
    provider = env.get("HEALCREW_LLM_PROVIDER", "anthropic") or "anthropic"
    if provider not in ("anthropic", "openai"):
        raise BadInputError(f"HEALCREW_LLM_PROVIDER must be anthropic or openai, not {provider!r}")
    if provider == "openai":
        base_url = env.get("HEALCREW_LLM_BASE_URL") or None
        key_env = "HEALCREW_LLM_API_KEY"
        if not base_url:
            raise BadInputError("HEALCREW_LLM_PROVIDER=openai needs HEALCREW_LLM_BASE_URL (the server's /v1 URL)")
    else:
        base_url = env.get("ANTHROPIC_BASE_URL") or None
        key_env = "ANTHROPIC_API_KEY"
    return LLMSettings(
        provider=provider,  # type: ignore[arg-type]
        model=model or env.get("HEALCREW_LLM_MODEL") or DEFAULT_MODEL, base_url=base_url, api_key_env=key_env,
        timeout=_number(env, "HEALCREW_LLM_TIMEOUT", 120.0),
        max_retries=int(_number(env, "HEALCREW_LLM_MAX_RETRIES", 2)),
        run_budget_usd=_number(env, "HEALCREW_LLM_RUN_BUDGET", 2.0),
        day_budget_usd=_number(env, "HEALCREW_LLM_DAY_BUDGET", 20.0),
        samples=max(1, min(5, int(_number(env, "HEALCREW_LLM_SAMPLES", 2)))),
    )


def resolve_brain(requested: str, env: Mapping[str, str] | None = None,
                  model: str | None = None) -> tuple[str, LLMSettings | None, str]:
    """(brain, settings, one line saying why); a BadInputError before any work when llm cannot run."""
    env = os.environ if env is None else env
    if requested not in BRAINS:
        raise BadInputError(f"--brain must be one of {', '.join(BRAINS)}, not {requested!r}")
    if requested == "offline":
        return "offline", None, "brain: offline (--brain offline)"
    settings = settings_from_env(env, model)
    if not env.get(settings.api_key_env):
        if requested == "llm":
            raise BadInputError(f"--brain llm needs {settings.api_key_env}; set it, or use --brain offline")
        return "offline", None, f"brain: offline ({settings.api_key_env} is not set)"
    where = f" at {settings.base_url}" if settings.base_url else ""
    return "llm", settings, f"brain: llm ({settings.provider} {settings.model}{where})"
