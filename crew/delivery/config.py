"""Where and how a fix is delivered: ``DeliveryConfig``, from ``.healcrew.yaml`` and CLI flags.

The repository may carry its own settings in ``.healcrew.yaml`` at its root, under the key
``delivery:``; flags given on the command line win over the file, the file over the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import BadInputError, describe_validation_error

CONFIG_FILE = ".healcrew.yaml"


class GitHubConfig(BaseModel):
    """How to reach GitHub (or GitHub Enterprise) when ``forge`` is ``github``."""

    model_config = ConfigDict(extra="forbid")

    repo: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="The repository as 'owner/name'; derived from the remote URL when empty.",
    )
    base_url: str | None = Field(
        default=None, description="API base URL for GitHub Enterprise, e.g. https://ghe.example.com/api/v3.",
    )
    token_env: str = Field(default="GITHUB_TOKEN", description="Name of the environment variable holding the token.")
    rate_limit: Literal["wait", "fail"] = Field(
        default="wait", description="On a rate limit: wait for the reset (bounded) or fail at once.",
    )
    max_wait_seconds: int = Field(
        default=300, ge=0, description="Longest wait for a rate-limit reset before failing.",
    )


class DeliveryConfig(BaseModel):
    """Everything Delivery needs to know; every field has a safe default."""

    model_config = ConfigDict(extra="forbid")

    forge: Literal["local", "github"] = Field(
        default="local", description="Where the pull request goes: a local review bundle or GitHub.",
    )
    remote: str = Field(default="origin", description="Name of the git remote to push to.")
    remote_url: str | None = Field(
        default=None, description="URL (or path) to push to; overrides ``remote`` when set.",
    )
    base: Literal["deployed", "default-branch"] = Field(
        default="deployed",
        description="Cut the branch from the deployed commit, or rebase it onto the remote's default branch.",
    )
    default_branch: str = Field(default="main", description="The remote's default branch (the PR's base).")
    author_name: str = Field(default="healcrew-bot", description="Author and committer name of the fix commit.")
    author_email: str = Field(
        default="healcrew-bot@users.noreply.github.com", description="Author and committer email of the fix commit.",
    )
    labels: list[str] = Field(default_factory=lambda: ["healcrew", "bug"], description="Labels put on the PR.")
    reviewers: list[str] = Field(default_factory=list, description="Users asked to review the PR.")
    draft_below_confidence: float = Field(
        default=0.7, ge=0.0, le=1.0, description="Open the PR as a draft when the diagnosis confidence is lower.",
    )
    cooldown_hours: float = Field(
        default=24.0, ge=0.0, description="After a human closed the PR, open no new one for this long.",
    )
    github: GitHubConfig = Field(default_factory=GitHubConfig, description="GitHub settings.")


def load_config(repo_root: Path | None, **overrides: Any) -> DeliveryConfig:
    """``DeliveryConfig`` from ``<repo_root>/.healcrew.yaml`` (key ``delivery``), then ``overrides``.

    An override whose value is None is ignored, so CLI flags that were not given leave the file's
    value (or the default) in place.
    """
    data: dict[str, Any] = {}
    path = repo_root / CONFIG_FILE if repo_root is not None else None
    if path is not None and path.is_file():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BadInputError(f"{CONFIG_FILE} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(raw, dict):
            raise BadInputError(f"{CONFIG_FILE} must be a mapping")
        section = raw.get("delivery") or {}
        if not isinstance(section, dict):
            raise BadInputError(f"{CONFIG_FILE}: 'delivery' must be a mapping")
        data.update(section)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return DeliveryConfig.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(f"{CONFIG_FILE}: delivery.{describe_validation_error(exc, 'delivery')}") from None
