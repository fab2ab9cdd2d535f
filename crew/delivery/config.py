"""Where and how a fix is delivered: ``DeliveryConfig``, from the operator and (a little) the repo.

Sources, weakest first: the defaults; the repository's ``.healcrew.yaml`` (key ``delivery:``),
which may only set the fields in ``crew.policy.repo_file.REPO_DELIVERY_FIELDS`` (labels,
reviewers, the PR's base, and only a higher draft threshold or a longer cool-down); the
operator's config file (``--config FILE`` or ``$HEALCREW_CONFIG``, outside the repository,
key ``delivery:``, any field); the command-line flags. Credentials, endpoints, remotes and the
commit identity therefore come only from the operator: a repository cannot send the
operator's token to a server of its choosing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import BadInputError, describe_validation_error
from crew.policy.repo_file import CONFIG_FILE, load_repo_settings, parse_config, section

OPERATOR_CONFIG_ENV = "HEALCREW_CONFIG"
MAX_OPERATOR_CONFIG = 1 << 20
# Repo fields that may only move in the cautious direction: more drafts, longer cool-downs.
_ONLY_RAISE = ("draft_below_confidence", "cooldown_hours")


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
    push: bool = Field(
        default=True,
        description=(
            "Push the branch and open or update the PR. False writes the local review bundle only "
            "(PR.md, fix.patch, report.json); the CLI sets it false unless the operator named a remote."
        ),
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
    incident_url: str | None = Field(default=None, description=(
        "The incident's page in healcrew serve, linked from the PR (serve sets it from its public_url)."))


class LoadedConfig(BaseModel):
    """A ``DeliveryConfig`` and what loading it decided."""

    model_config = ConfigDict(extra="forbid")

    config: DeliveryConfig = Field(description="The merged settings.")
    notes: list[str] = Field(default_factory=list, description="Repo settings that were ignored, and why.")
    operator_keys: list[str] = Field(
        default_factory=list, description="Top-level delivery fields the operator set (flags or config file).",
    )


def operator_config_path(flag: Path | None) -> Path | None:
    """``--config FILE`` or ``$HEALCREW_CONFIG``; None when neither is given."""
    if flag is not None:
        return flag
    env = os.environ.get(OPERATOR_CONFIG_ENV, "").strip()
    return Path(env) if env else None


def _operator_section(path: Path, repo_root: Path | None) -> dict[str, Any]:
    what = f"operator config {path}"
    resolved = path.resolve()
    if repo_root is not None and resolved.is_relative_to(repo_root.resolve()):
        raise BadInputError(f"{what} is inside the repository under repair; keep the operator config outside it")
    if not resolved.is_file():
        raise BadInputError(f"{what} not found")
    with resolved.open("rb") as fh:
        data = fh.read(MAX_OPERATOR_CONFIG + 1)
    if len(data) > MAX_OPERATOR_CONFIG:
        raise BadInputError(f"{what} is larger than {MAX_OPERATOR_CONFIG} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{what} is not UTF-8 text") from None
    return section(parse_config(text, what), "delivery", what)


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _validate(data: dict[str, Any], what: str) -> DeliveryConfig:
    try:
        return DeliveryConfig.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(f"{what}: delivery.{describe_validation_error(exc, 'delivery')}") from None


def load_settings(repo_root: Path | None, operator_file: Path | None = None, **overrides: Any) -> LoadedConfig:
    """The delivery settings: defaults < the repo's allowed fields < the operator's file < ``overrides``.

    An override whose value is None is ignored, so CLI flags that were not given leave the other
    layers' value (or the default) in place.
    """
    repo = load_repo_settings(repo_root)
    notes = list(repo.delivery_notes)
    theirs = _validate(repo.delivery, CONFIG_FILE)  # unknown or malformed keys fail here, named
    operator = _operator_section(operator_file, repo_root) if operator_file is not None else {}
    flags = {k: v for k, v in overrides.items() if v is not None}
    mine = _validate(_merge(operator, flags), f"operator config {operator_file}" if operator_file else "flags")
    data = _merge(repo.delivery, _merge(operator, flags))
    for key in _ONLY_RAISE:
        if key in repo.delivery and getattr(theirs, key) < getattr(mine, key):
            notes.append(f"{CONFIG_FILE}: delivery.{key}: {getattr(theirs, key)} ignored: it may only be raised "
                         f"(from {getattr(mine, key)})")
            data[key] = getattr(mine, key)
        elif key in repo.delivery:
            data[key] = max(getattr(theirs, key), getattr(mine, key))
    return LoadedConfig(config=_validate(data, CONFIG_FILE), notes=notes,
                        operator_keys=sorted({*operator, *flags}))


def load_config(repo_root: Path | None, operator_file: Path | None = None, **overrides: Any) -> DeliveryConfig:
    """``load_settings(...).config``: the merged ``DeliveryConfig``."""
    return load_settings(repo_root, operator_file, **overrides).config
