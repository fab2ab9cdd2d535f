"""The two places the policy is enforced: before the sandbox runs a candidate, and before delivery.

Reflection's forbidden-path rule says the same in its critique; these gates are what make it
hold: a refused candidate is never executed, and a refused fix never leaves the machine, even
if a report was edited or another brain produced it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crew.errors import DeliveryError
from crew.handoffs import Critique, Finding, RepairProposal
from crew.policy.model import Policy
from crew.policy.repo_file import load_repo_settings
from crew.policy.touch import check_diff

if TYPE_CHECKING:
    from crew.handoffs import RunReport
    from crew.repo import GitRepo


def before_sandbox(proposal: RepairProposal, repo: GitRepo, policy: Policy) -> Critique | None:
    """A reject verdict when ``proposal`` touches what ``policy`` forbids; None when it may be run."""
    refusals = check_diff(proposal.diff, policy, repo.read)
    if not refusals:
        return None
    return Critique(
        verdict="reject",
        findings=[Finding(rule="forbidden-path", severity="blocker", message=r.message) for r in refusals],
        feedback=" ".join(dict.fromkeys(f"A fix must not touch {r.path}; a human must make this change."
                                        for r in refusals)),
    )


def before_delivery(report: RunReport, repo: GitRepo) -> None:
    """Raise ``DeliveryError`` when the fix to deliver (diff and test) touches a forbidden path."""
    from crew.delivery.gitops import fix_patch

    policy = load_repo_settings(repo.path, base=report.incident.operator_policy).policy
    refusals = check_diff(fix_patch(report), policy, repo.read)
    if refusals:
        raise DeliveryError(f"not delivered: {refusals[0].message}")
