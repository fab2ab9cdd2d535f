"""Candidate fixes and the registry that asks every repair template for them.

A template is a module in ``crew.repair.templates`` with a ``generate(ctx)`` function and a
``HANDLES`` tuple of root-cause classes. Candidates from all matching templates are ranked by
score; strategies the critique already rejected are dropped. A template may also have an
``explain(ctx)`` hook that says why it offers nothing, so a decline names its real reason.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

from crew.handoffs import CrashEvidence, Critique, Diagnosis, RootCause
from crew.repo import GitRepo

TEMPLATE_MODULES = (
    "division", "keys", "none_guard", "types", "index", "parse", "attributes", "imports",
    "config", "encoding", "revert", "rename", "guard", "initialise", "default",
    "coerce", "mutate",
)


@dataclass(frozen=True)
class SourceEdit:
    """A whole-file edit; the diff is computed from it."""

    path: str
    original: str
    updated: str


@dataclass(frozen=True)
class Candidate:
    """One possible fix, before any test has run."""

    strategy: str
    edits: tuple[SourceEdit, ...]
    rationale: str
    score: float
    expected_result: str | None = None
    brain: str = "offline"
    """Which brain proposed it."""
    extra_files: tuple[tuple[str, str], ...] = ()
    """Files added for validation only (the llm brain's own regression test), as (path, text)."""

    @property
    def touched_files(self) -> list[str]:
        return [e.path for e in self.edits]


@dataclass
class TemplateContext:
    """What a template may look at. Read-only: templates never run repo code."""

    diagnosis: Diagnosis
    repo: GitRepo
    evidence: CrashEvidence | None = None
    feedback: Critique | None = None
    tried: set[str] = field(default_factory=set)


def _templates() -> list[ModuleType]:
    modules = []
    for name in TEMPLATE_MODULES:
        try:
            modules.append(importlib.import_module(f"crew.repair.templates.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"crew.repair.templates.{name}":
                raise
    return modules


def generate_candidates(ctx: TemplateContext, limit: int = 6) -> list[Candidate]:
    """Ranked candidates from every template that handles the diagnosed class."""
    root: RootCause = ctx.diagnosis.root_cause
    found: list[Candidate] = []
    for module in _templates():
        if root in getattr(module, "HANDLES", ()):
            found.extend(module.generate(ctx))
    seen: set[tuple[tuple[str, str], ...]] = set()
    ranked: list[Candidate] = []
    for cand in sorted(found, key=lambda c: -c.score):
        key = tuple((e.path, e.updated) for e in cand.edits)
        if cand.strategy in ctx.tried or key in seen or not cand.edits:
            continue
        if any(e.original == e.updated for e in cand.edits):
            continue
        seen.add(key)
        ranked.append(cand)
    return ranked[:limit]


def explain_decline(ctx: TemplateContext) -> str | None:
    """Why the templates that handle the diagnosed class offer nothing: the first reason one gives.

    Ask it only when ``generate_candidates`` returned nothing: a hook explains a decline, it does
    not check whether its template would have offered a fix.
    """
    root: RootCause = ctx.diagnosis.root_cause
    for module in _templates():
        hook = getattr(module, "explain", None)
        if root in getattr(module, "HANDLES", ()) and callable(hook):
            reason = hook(ctx)
            if reason:
                return str(reason)
    return None
