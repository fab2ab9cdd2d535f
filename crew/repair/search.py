"""The budgeted search's bookkeeping: one candidate per distinct program, ranked by evidence.

Two candidates whose patched files parse to the same AST (``ast.dump`` without line numbers:
comments, blank lines and formatting do not count) are the same program and are validated once,
under the higher generator prior (Agentless deduplicates its samples the same way). Validated
candidates are ranked by what the sandbox showed, strongest first: the regression test
reproduces and then passes, no test newly fails, fewer ordinary inputs whose output changed,
a smaller patch after normalisation, and only then the generator's prior.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from crew.handoffs import ValidationReport
from crew.repair.candidates import Candidate, TemplateContext


def _normal(path: str, text: str) -> str:
    """The program a file holds, without positions; text stripped of trailing space when it is not Python."""
    if path.endswith(".py"):
        try:
            return ast.dump(ast.parse(text), include_attributes=False)
        except (SyntaxError, ValueError):
            pass
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def normal_key(cand: Candidate) -> tuple[tuple[str, str], ...]:
    """What a candidate does, independent of how its text is laid out."""
    return tuple(sorted((e.path, _normal(e.path, e.updated)) for e in cand.edits))


def is_noop(cand: Candidate) -> bool:
    """Its patched files are the same programs as the originals (a comment or layout change only)."""
    return all(_normal(e.path, e.original) == _normal(e.path, e.updated) for e in cand.edits)


def dedup(cands: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per normalised program, the one with the higher prior; order by prior kept."""
    best: dict[tuple[tuple[str, str], ...], Candidate] = {}
    for cand in cands:
        key = normal_key(cand)
        if key not in best or cand.score > best[key].score:
            best[key] = cand
    return sorted(best.values(), key=lambda c: -c.score)


def _lines(path: str, text: str) -> list[str]:
    if path.endswith(".py"):
        try:
            return ast.unparse(ast.parse(text)).splitlines()
        except (SyntaxError, ValueError):
            pass
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def normalised_size(cand: Candidate) -> int:
    """Lines added plus lines removed between the normalised original and patched files."""
    size = 0
    for e in cand.edits:
        for line in difflib.unified_diff(_lines(e.path, e.original), _lines(e.path, e.updated), lineterm="", n=0):
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                size += 1
    return size


@dataclass(frozen=True)
class Evidence:
    """What ranks a validated candidate (smaller sorts first)."""

    fixed: bool
    newly_failing: int
    changed_outputs: int
    size: int
    prior: float

    def key(self) -> tuple[int, int, int, int, float]:
        return (0 if self.fixed else 1, self.newly_failing, self.changed_outputs, self.size, -self.prior)

    @property
    def clean(self) -> bool:
        """The best the sandbox can show: fixed, nothing newly failing, no ordinary output changed."""
        return self.fixed and not self.newly_failing and not self.changed_outputs


def order_key(cand: Candidate) -> tuple[int, float]:
    """The order candidates are validated in: the tail of the ranking key, known before any run."""
    return (normalised_size(cand), -cand.score)


def provably_first(best: tuple[Candidate, ValidationReport], pending: Iterable[Candidate]) -> bool:
    """No candidate still to validate can outrank ``best``: it is clean, and every pending one comes
    after it in :func:`order_key` (so at best ties on evidence and loses on size or prior).

    This lets the search hand reflection its first candidate without validating the rest.
    """
    ev = evidence(*best)
    return ev.clean and all(order_key(best[0]) <= order_key(c) for c in pending)


def evidence(cand: Candidate, report: ValidationReport | None) -> Evidence:
    fixed = report is not None and report.reproduces and report.fixed
    newly = len(report.newly_failing) if report is not None else 0
    changed = len(report.differential_mismatches) if report is not None else 0
    return Evidence(fixed=fixed, newly_failing=newly, changed_outputs=changed, size=normalised_size(cand),
                    prior=cand.score)


def rank(validated: list[tuple[Candidate, ValidationReport]]) -> list[tuple[Candidate, ValidationReport]]:
    """Validated candidates, best evidence first (a stable sort: equal evidence keeps the prior's order)."""
    return sorted(validated, key=lambda pair: evidence(*pair).key())


def kinds(ctx: TemplateContext) -> dict[tuple[tuple[str, str], ...], str]:
    """Which generator (template module) offers each candidate at this context, by normalised program."""
    from crew.repair.candidates import _templates

    found: dict[tuple[tuple[str, str], ...], str] = {}
    for module in _templates():
        if ctx.diagnosis.root_cause in getattr(module, "HANDLES", ()):
            try:
                offered = module.generate(ctx)
            except Exception:  # a generator that fails here fails in the loop's own call too
                continue
            for cand in offered:
                found.setdefault(normal_key(cand), module.__name__.rsplit(".", 1)[-1])
    return found


def verdict(report: ValidationReport | None) -> str:
    """A validated candidate's stage in one phrase, for the table in the report."""
    if report is None:
        return "not validated"
    if not report.reproduces:
        return f"not validated: {report.failure or 'the crash was not reproduced'}"
    if not report.fixed:
        return report.failure or "test still fails"
    if report.newly_failing:
        return f"newly failing: {', '.join(report.newly_failing[:3])}"
    if report.differential_mismatches:
        return f"differential: {len(report.differential_mismatches)} of {report.differential_inputs} outputs changed"
    return report.failure or "passed"
