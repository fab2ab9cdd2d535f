"""``Policy``: what Reflection and the policy gate accept, and how a repository may narrow it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Policy(BaseModel):
    """What a fix may be. The built-in forbidden paths always apply; nothing here can lift them."""

    model_config = ConfigDict(extra="forbid")

    max_changed_lines: int = Field(
        default=40, ge=1, description="Most added plus removed lines a fix may have (the regression test aside)."
    )
    max_files: int = Field(default=3, ge=1, description="Most files a fix may touch (the regression test aside).")
    forbidden_paths: list[str] = Field(
        default_factory=list,
        description=(
            "More gitignore-style patterns of repo paths a fix must never touch, on top of the built-in "
            "ones (CI, secrets, access control, Dockerfile USER, .healcrew.yaml, migrations, lock files)."
        ),
    )
    allow_config_edits: bool = Field(
        default=True,
        description=(
            "Whether a fix may edit configuration (manifests, Helm values, requirements, *.toml/*.ini/*.json); "
            "when false such a proposal is rejected."
        ),
    )

    def narrowed(self, other: Policy, fields: set[str]) -> tuple[Policy, list[str]]:
        """This policy with ``other``'s values for ``fields`` where they narrow it; notes for the rest."""
        update: dict[str, object] = {}
        notes: list[str] = []
        for name in sorted(fields):
            mine, theirs = getattr(self, name), getattr(other, name)
            if name == "forbidden_paths":
                added = [p for p in theirs if p not in mine]
                widening = [p for p in added if p.lstrip().startswith("!")]
                if widening:
                    notes.append(f"forbidden_paths {', '.join(widening)} ignored: a pattern may not lift a ban")
                update[name] = [*mine, *(p for p in added if p not in widening)]
            elif name == "allow_config_edits":
                if theirs and not mine:
                    notes.append("allow_config_edits: true ignored: it may only be turned off")
                update[name] = mine and theirs
            elif theirs > mine:
                notes.append(f"{name}: {theirs} ignored: it may only be lowered (from {mine})")
            else:
                update[name] = theirs
        return self.model_copy(update=update), notes
