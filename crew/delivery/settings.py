"""What the command line's delivery flags mean: forge, remote, operator config, and whether to push.

Pushing is opt-in. A branch is pushed only to a remote the operator named: ``--remote``, the
remote or ``push: true`` in the operator's config file, or ``--deliver github`` (a pull request
on GitHub cannot exist without a pushed branch). The one exception is an example repository
that healcrew itself materialized in its cache: it gets a bare remote in the cache, also made by
healcrew, so ``healcrew replay`` shows the whole flow without touching anything of the user's.
Otherwise delivery writes the local review bundle (``PR.md``, ``fix.patch``, ``report.json``)
into the output folder and pushes nothing; the report says so.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from crew.errors import BadInputError

NOT_PUSHED = (
    "nothing pushed: the review bundle (PR.md, fix.patch, report.json) is in the output folder; "
    "pass --remote NAME_OR_URL (or set delivery.remote in the operator config) to push a branch"
)


class DeliverySettings(BaseModel):
    """The forge to deliver to (None: no delivery), the ``DeliveryConfig`` fields, and notes for the report."""

    model_config = ConfigDict(extra="forbid")

    forge: str | None = Field(default=None, description="local, github, or None for no delivery.")
    config: dict[str, object] | None = Field(default=None, description="DeliveryConfig fields, as JSON.")
    notes: list[str] = Field(default_factory=list, description="Policy decisions to record in the report.")


def _remote_overrides(remote: str | None) -> dict[str, object]:
    if remote is None:
        return {}
    if not remote.strip():
        raise BadInputError("--remote must not be empty")
    path = Path(remote)
    if "://" in remote or "/" in remote or ":" in remote or path.exists():
        return {"remote_url": str(path.resolve()) if path.exists() else remote}
    return {"remote": remote}


def delivery_settings(
    repo_path: Path, commit: str, deliver: str | None, remote: str | None, config_file: Path | None, cache: Path,
) -> DeliverySettings:
    """The delivery of one run, from the flags, the operator's config file and the repo's own file."""
    if deliver is not None and deliver not in ("local", "github", "none"):
        raise BadInputError(f"--deliver must be local, github or none, not {deliver!r}")
    if deliver == "none":
        return DeliverySettings()
    from crew.delivery.config import load_settings, operator_config_path
    from crew.delivery.deliver import demo_remote, is_materialized_example
    from crew.repo import GitRepo

    repo = GitRepo(repo_path, commit)
    loaded = load_settings(repo.path, operator_config_path(config_file), forge=deliver, **_remote_overrides(remote))
    config, notes = loaded.config, list(loaded.notes)
    named = bool({"remote", "remote_url", "push"} & set(loaded.operator_keys)) or config.forge == "github"
    if "push" in loaded.operator_keys and not config.push:
        named = False
    if not named and is_materialized_example(repo, cache):
        config.remote_url = demo_remote(repo, cache)
        named = True
        notes.append("example repository: the branch goes to healcrew's own demo remote "
                     f"{Path(config.remote_url).name} in its cache")
    config.push = named
    return DeliverySettings(forge=config.forge, config=config.model_dump(mode="json"), notes=notes)
