"""``RepairPolicy``: the operator's rules for one service, and the decision taken on every fix.

In: a ``RepairPolicy`` YAML file (a ``kind: RepairPolicy`` resource, see docs/POLICY.md) and a
``RunReport`` whose fix was accepted by any brain. Out: a ``PolicyDecision`` (deliver, wait for a
human, reject, or a dry run) with every reason that led to it, for the report and the audit log.

The policy is the operator's, so it is trusted; it still cannot lift the built-in forbidden
paths (``crew.policy.defaults``): a ``!pattern`` is refused when the file is loaded, and the
diff check is the one the sandbox and delivery gates already run (``check_diff`` with
:meth:`RepairPolicy.gate_policy`), so there is one check, not two. A repository's own
``.healcrew.yaml`` may narrow the gate policy further (``load_repo_settings(root, base=...)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crew.errors import BadInputError, describe_validation_error
from crew.policy.model import Policy
from crew.repair.kinds import Kind

if TYPE_CHECKING:
    from crew.handoffs import AlertInfo, RunReport
    from crew.policy.touch import Reader

__all__ = [
    "API_VERSION", "ApprovalTrigger", "PolicyDecision", "RepairPolicy", "below_failure_threshold", "decide",
    "load_repair_policy", "repair_policy_from_mapping", "restarts_in",
]

API_VERSION = "healcrew/v1alpha1"
KIND = "RepairPolicy"
MAX_POLICY_BYTES = 64 * 1024
ALL_KINDS: tuple[Kind, ...] = get_args(Kind)

ApprovalTrigger = Literal["always", "low_confidence", "config_edit", "revert", "large_change"]
DEFAULT_APPROVAL: tuple[ApprovalTrigger, ...] = ("low_confidence", "config_edit")


class RepairPolicy(BaseModel):
    """What healcrew may do for one service without asking a human."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(default="", description="The service this policy is for (metadata.name of the file).")
    allowed_strategies: list[Kind] = Field(
        default_factory=lambda: list(ALL_KINDS),
        description="Kinds of fix that may be delivered (revert, guard, default, coerce, parse, rename, mutate, "
                    "initialise, import, config, other); any other kind is rejected.",
    )
    failure_threshold: int = Field(
        default=3, ge=1, description="Restarts of the container before healcrew acts on its alert.",
    )
    forbidden_paths: list[str] = Field(
        default_factory=list,
        description="More gitignore-style patterns a fix must never touch, on top of the built-in ones, which "
                    "always apply.",
    )
    max_files: int = Field(default=3, ge=1, description="Most files a fix may touch (the regression test aside).")
    max_changed_lines: int = Field(
        default=40, ge=1, description="Most added plus removed lines a fix may have (the regression test aside).",
    )
    allow_config_edits: bool = Field(
        default=True, description="Whether a fix may edit configuration at all; when false such a fix is rejected.",
    )
    attempts_per_hour: int = Field(
        default=3, ge=0,
        description="Runs for this service in any hour; the next one waits for a human (0: every run waits).",
    )
    require_approval_for: list[ApprovalTrigger] = Field(
        default_factory=lambda: list(DEFAULT_APPROVAL),
        description="Outcomes that wait for a human before delivery: always, low_confidence (the diagnosis' "
                    "confidence below min_confidence), config_edit, revert, large_change (more than half "
                    "the size limits).",
    )
    min_confidence: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Below this diagnosis confidence a fix is low_confidence.",
    )
    canary_autostart: bool = Field(
        default=False, description="Whether a canary of the delivered fix may start without a human.",
    )
    dry_run: bool = Field(
        default=False, description="Do everything but push: the decision is dry_run instead of deliver.",
    )

    @field_validator("forbidden_paths")
    @classmethod
    def _no_lifting(cls, patterns: list[str]) -> list[str]:
        lifting = [p for p in patterns if p.lstrip().startswith("!")]
        if lifting:
            raise ValueError(f"{lifting[0]!r} would lift a ban; the built-in forbidden paths always apply")
        blank = [p for p in patterns if not p.strip()]
        if blank:
            raise ValueError("a forbidden path may not be empty")
        return patterns

    def gate_policy(self) -> Policy:
        """The ``Policy`` the sandbox and delivery gates (and reflection) check diffs against."""
        return Policy(max_changed_lines=self.max_changed_lines, max_files=self.max_files,
                      forbidden_paths=list(self.forbidden_paths), allow_config_edits=self.allow_config_edits)


class PolicyDecision(BaseModel):
    """What to do with an accepted fix, and every reason for it."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["deliver", "await_approval", "reject", "dry_run"]
    reasons: list[str] = Field(default_factory=list, description="Every rule that applied, one line each.")
    canary_autostart: bool = Field(default=False, description="Whether a canary may start once it is delivered.")


# --------------------------------------------------------------------------- loading


def repair_policy_from_mapping(raw: object, what: str) -> RepairPolicy:
    """A ``RepairPolicy`` from the parsed resource ``raw``; one-line ``BadInputError`` naming ``what``."""
    if not isinstance(raw, dict):
        raise BadInputError(f"{what} must be a mapping with apiVersion, kind, metadata and spec")
    unknown = sorted(str(k) for k in raw if k not in ("apiVersion", "kind", "metadata", "spec"))
    if unknown:
        raise BadInputError(f"{what}: unknown key {unknown[0]!r} (expected apiVersion, kind, metadata, spec)")
    if raw.get("apiVersion") != API_VERSION:
        raise BadInputError(f"{what}: apiVersion must be {API_VERSION}")
    if raw.get("kind") != KIND:
        raise BadInputError(f"{what}: kind must be {KIND}")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise BadInputError(f"{what}: metadata.name must name the service")
    extra_meta = sorted(str(k) for k in metadata if k not in ("name", "namespace", "labels", "annotations"))
    if extra_meta:
        raise BadInputError(f"{what}: metadata.{extra_meta[0]}: unknown key")
    spec = raw.get("spec") if raw.get("spec") is not None else {}
    if not isinstance(spec, dict):
        raise BadInputError(f"{what}: spec must be a mapping")
    if "service" in spec:
        raise BadInputError(f"{what}: spec.service: unknown key (the service is metadata.name)")
    try:
        return RepairPolicy.model_validate({**spec, "service": metadata["name"]})
    except ValidationError as exc:
        raise BadInputError(f"{what}: spec.{describe_validation_error(exc, 'spec')}") from None


def load_repair_policy(path: Path) -> RepairPolicy:
    """The ``RepairPolicy`` in the YAML file at ``path`` (``BadInputError`` with a one-line reason)."""
    what = path.name
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        raise BadInputError(f"repair policy not found: {path}") from None
    except OSError as exc:
        raise BadInputError(f"repair policy {path} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise BadInputError(f"{what} is larger than {MAX_POLICY_BYTES} bytes")
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInputError(f"{what} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BadInputError(f"{what} is not valid YAML{where}") from None
    return repair_policy_from_mapping(raw, what)


# --------------------------------------------------------------------------- intake


def restarts_in(alert: AlertInfo) -> int | None:
    """The restart count an alert carries (``annotations.restarts``, as deploy/prometheus' rule sets it)."""
    for source in (alert.annotations, alert.labels):
        value = source.get("restarts")
        if value is None:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if number >= 0 and number == number and number != float("inf"):
            return int(number)
    return None


def below_failure_threshold(policy: RepairPolicy, restarts: int | None) -> str | None:
    """Why healcrew should not act yet (fewer restarts than the threshold); None when it may.

    An alert that says nothing of restarts has already been judged a crash loop by its rule, so it
    is acted on.
    """
    if restarts is None or restarts >= policy.failure_threshold:
        return None
    return (f"{restarts} restart(s), below the failure threshold of {policy.failure_threshold}: "
            "healcrew waits for more")


# --------------------------------------------------------------------------- the decision


def _size(diff: str) -> tuple[int, int]:
    from crew.repair.diffs import parse_diff

    patch = parse_diff(diff)
    return len(patch), sum(f.added + f.removed for f in patch)


def decide(
    policy: RepairPolicy, report: RunReport, *, attempts_last_hour: int, read: Reader | None = None,
) -> PolicyDecision:
    """The action for ``report``'s accepted fix under ``policy``, with every reason.

    ``attempts_last_hour`` counts this service's runs in the last hour before this one. ``read``
    (a repo path -> its text at the deployed commit) lets the content rules see whole files.
    Rejections win over a dry run, a dry run over waiting for a human, and that over delivery.
    """
    from crew.delivery.gitops import fix_patch
    from crew.policy.touch import CONFIG_NAMES, check_diff
    from crew.repair.kinds import kind as kind_of

    rejects: list[str] = []
    waits: list[str] = []
    notes: list[str] = []
    accepted = report.accepted
    if accepted is None:
        return PolicyDecision(action="reject", reasons=["no fix was accepted, so there is nothing to deliver"])
    proposal = accepted.proposal
    fix_kind = kind_of(proposal.strategy)

    service = report.incident.service
    if policy.service and service and service != policy.service:
        rejects.append(f"this policy is for {policy.service}, not for {service}")
    if fix_kind not in policy.allowed_strategies:
        rejects.append(f"a {fix_kind} fix ({proposal.strategy}) is not among the allowed strategies "
                       f"({', '.join(policy.allowed_strategies) or 'none'})")
    if accepted.critique is None or accepted.critique.verdict != "accept":
        rejects.append("reflection did not accept this fix")
    validation = accepted.validation
    if fix_kind != "config":
        if validation is None:
            rejects.append("the fix was not validated in the sandbox")
        elif not (validation.passed and validation.reproduces and validation.fixed and validation.no_regressions):
            rejects.append(f"the sandbox did not prove the fix: {validation.failure or 'validation did not pass'}")

    gate = policy.gate_policy()
    rejects.extend(r.message for r in check_diff(fix_patch(report), gate, read))  # the patch delivery applies

    test_path = proposal.test.path if proposal.test is not None else None
    try:
        files, lines = _size(proposal.diff)
        paths = [p for p in proposal.touched_files if p != test_path]
    except BadInputError:
        files, lines, paths = 0, 0, []  # already refused by check_diff as unreadable
    if files > gate.max_files:
        rejects.append(f"the fix touches {files} files, more than the {gate.max_files} allowed")
    if lines > gate.max_changed_lines:
        rejects.append(f"the fix changes {lines} lines, more than the {gate.max_changed_lines} allowed")

    attempt = attempts_last_hour + 1
    if attempts_last_hour >= policy.attempts_per_hour:
        waits.append(f"run {attempt} for this service within an hour, over the quota of "
                     f"{policy.attempts_per_hour}: waits for a human")

    triggers = set(policy.require_approval_for)
    confidence = report.diagnosis.confidence if report.diagnosis is not None else 0.0
    is_config = fix_kind == "config" or any(CONFIG_NAMES.search(p) for p in paths)
    if "always" in triggers:
        waits.append("this policy has every fix approved by a human")
    if "low_confidence" in triggers and confidence < policy.min_confidence:
        waits.append(f"diagnosis confidence {confidence:.2f} is below {policy.min_confidence:.2f}")
    if "config_edit" in triggers and is_config:
        waits.append("the fix edits configuration")
    if "revert" in triggers and fix_kind == "revert":
        waits.append("the fix reverts a commit")
    if "large_change" in triggers and (files * 2 > gate.max_files or lines * 2 > gate.max_changed_lines):
        waits.append(f"the fix is large ({files} file(s), {lines} line(s)) for this policy's limits")

    if rejects:
        return PolicyDecision(action="reject", reasons=rejects + waits)
    if policy.dry_run:
        notes.append("dry run: everything but the push")
        return PolicyDecision(action="dry_run", reasons=notes + waits)
    if waits:
        return PolicyDecision(action="await_approval", reasons=waits)
    reasons = [f"a validated {fix_kind} fix within policy ({files} file(s), {lines} line(s))"]
    if policy.canary_autostart:
        reasons.append("a canary may start by itself")
    return PolicyDecision(action="deliver", reasons=reasons, canary_autostart=policy.canary_autostart)

