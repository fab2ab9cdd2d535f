"""What a repository's own ``.healcrew.yaml`` may say, and nothing more.

The repository under repair is untrusted: its file may only narrow what healcrew does. Under
``policy:`` it may add forbidden paths, lower the size limits and turn configuration edits off;
under ``delivery:`` it may choose labels, reviewers, the PR's base, and ask for drafts or a
longer cool-down. Everything that picks a credential, an endpoint, a remote or the identity
commits are made under (``forge``, ``remote``, ``remote_url``, ``github.*``, ``author_*``)
belongs to the operator: such keys are ignored, each with a note in the report. The file is
read without following a symlink and with a size bound, so it cannot pull a host file in.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import BadInputError, describe_validation_error
from crew.policy.model import Policy

CONFIG_FILE = ".healcrew.yaml"
MAX_CONFIG_BYTES = 64 * 1024

# Delivery settings the repository may choose: none of them sends anything anywhere new.
REPO_DELIVERY_FIELDS = frozenset({
    "labels", "reviewers", "draft_below_confidence", "cooldown_hours", "base", "default_branch",
})
# Delivery settings only the operator chooses: credentials, endpoints, remotes, identity.
OPERATOR_DELIVERY_FIELDS = frozenset({
    "forge", "remote", "remote_url", "push", "github", "author_name", "author_email",
})
REPO_POLICY_FIELDS = frozenset(Policy.model_fields)


class RepoSettings(BaseModel):
    """The repository's file, split into what it may narrow and notes about what was ignored."""

    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(default_factory=Policy, description="The default policy narrowed by the repository.")
    delivery: dict[str, Any] = Field(
        default_factory=dict, description="Delivery fields the repository may set (REPO_DELIVERY_FIELDS).",
    )
    policy_notes: list[str] = Field(default_factory=list, description="Policy keys ignored, and why.")
    delivery_notes: list[str] = Field(default_factory=list, description="Delivery keys ignored, and why.")


def read_config_text(path: Path, what: str = CONFIG_FILE) -> str | None:
    """The text of ``path``, or None when absent; never through a symlink, at most 64 KiB."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadInputError(f"{what} is a symbolic link; not following it") from None
        raise BadInputError(f"{what} cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise BadInputError(f"{what} is not a regular file")
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise BadInputError(f"{what} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{what} is not UTF-8 text") from None


def parse_config(text: str, what: str) -> dict[str, Any]:
    """The YAML mapping in ``text``; one-line errors that quote no content."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BadInputError(f"{what} is not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise BadInputError(f"{what} must be a mapping")
    return raw


def section(raw: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    """``raw[key]`` as a mapping (empty when missing)."""
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise BadInputError(f"{what}: '{key}' must be a mapping")
    return value


def load_repo_settings(repo_root: Path | None, base: Policy | None = None) -> RepoSettings:
    """The repository's ``.healcrew.yaml``, reduced to what it may narrow (``base`` is the operator's policy)."""
    base = base or Policy()
    text = read_config_text(repo_root / CONFIG_FILE) if repo_root is not None else None
    if text is None:
        return RepoSettings(policy=base)
    raw = parse_config(text, CONFIG_FILE)
    delivery_notes: list[str] = []
    delivery: dict[str, Any] = {}
    for key, value in section(raw, "delivery", CONFIG_FILE).items():
        if key in OPERATOR_DELIVERY_FIELDS:
            delivery_notes.append(f"{CONFIG_FILE}: delivery.{key} ignored: credentials, endpoints, remotes and "
                                  "the commit identity are chosen only by the operator (flags, environment, --config)")
        else:
            delivery[key] = value  # unknown keys fail later, in DeliveryConfig's validation
    policy_raw = section(raw, "policy", CONFIG_FILE)
    try:
        theirs = Policy.model_validate({**base.model_dump(), **policy_raw})
    except ValidationError as exc:
        raise BadInputError(f"{CONFIG_FILE}: policy.{describe_validation_error(exc, 'policy')}") from None
    policy, narrowing_notes = base.narrowed(theirs, set(policy_raw) & REPO_POLICY_FIELDS)
    return RepoSettings(policy=policy, delivery=delivery, delivery_notes=delivery_notes,
                        policy_notes=[f"{CONFIG_FILE}: policy.{n}" for n in narrowing_notes])
