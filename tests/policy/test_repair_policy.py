"""RepairPolicy: the file's format and its one-line errors, and every rule ``decide`` applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.errors import BadInputError, HealcrewError
from crew.handoffs import AlertInfo, RunReport
from crew.policy.repair_policy import (
    RepairPolicy,
    below_failure_threshold,
    decide,
    load_repair_policy,
    restarts_in,
)
from crew.policy.repo_file import load_repo_settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "delivery" / "fixtures"
EXAMPLE = ROOT / "examples" / "service" / "repair-policy.yaml"

OPEN = RepairPolicy(require_approval_for=[])  # nothing waits for a human: isolates one rule at a time


def _report(name: str = "flagship_report") -> RunReport:
    return RunReport.model_validate_json((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def _with_diff(diff: str, touched: list[str], strategy: str | None = None) -> RunReport:
    report = _report()
    assert report.accepted is not None
    report.accepted.proposal.diff = diff
    report.accepted.proposal.touched_files = touched
    if strategy is not None:
        report.accepted.proposal.strategy = strategy
    return report


def _file_diff(path: str, added: list[str], removed: int = 0) -> str:
    body = "".join(f"-old {i}\n" for i in range(removed)) + "".join(f"+{line}\n" for line in added)
    return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -1,{removed + 1} +1,{len(added) + 1} @@\n keep\n{body}")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "repair-policy.yaml"
    path.write_text(text)
    return path


HEADER = "apiVersion: healcrew/v1alpha1\nkind: RepairPolicy\nmetadata:\n  name: pricing-service\n"


# --------------------------------------------------------------------------- the file


def test_the_example_policy_loads() -> None:
    policy = load_repair_policy(EXAMPLE)
    assert policy.service == "pricing-service"
    assert policy.failure_threshold == 3 and policy.attempts_per_hour == 3
    assert "revert" not in policy.allowed_strategies and "guard" in policy.allowed_strategies
    assert policy.gate_policy().forbidden_paths == ["deploy/", "app/payments/"]
    assert policy.gate_policy().max_files == 2 and policy.gate_policy().allow_config_edits is False


def test_defaults_of_an_empty_spec(tmp_path: Path) -> None:
    policy = load_repair_policy(_write(tmp_path, HEADER))
    assert policy.attempts_per_hour == 3
    assert policy.dry_run is False and policy.canary_autostart is False
    assert set(policy.allowed_strategies) >= {"revert", "guard", "config", "other"}
    assert policy.gate_policy() == type(policy.gate_policy())()  # the same limits as the gate's defaults


@pytest.mark.parametrize(("text", "expected"), [
    (HEADER + "spec:\n  max_files: [1\n", "not valid YAML (line"),
    (HEADER + "spec:\n  attempts_per_hour: many\n", "spec.attempts_per_hour: Input should be a valid integer"),
    (HEADER + "spec:\n  retries: 2\n", "spec.retries: Extra inputs are not permitted"),
    (HEADER + "spec:\n  allowed_strategies: [guard, rewrite]\n", "spec.allowed_strategies.1:"),
    (HEADER + "spec:\n  require_approval_for: [sometimes]\n", "spec.require_approval_for.0:"),
    (HEADER + "spec:\n  failure_threshold: 0\n", "spec.failure_threshold:"),
    (HEADER + "spec:\n  dry_run: perhaps\n", "spec.dry_run:"),
    (HEADER + "spec:\n  service: other\n", "spec.service: unknown key"),
    (HEADER + "spec: [1]\n", "spec must be a mapping"),
    (HEADER + "status: {}\n", "unknown key 'status'"),
    (HEADER.replace("v1alpha1", "v9"), "apiVersion must be healcrew/v1alpha1"),
    (HEADER.replace("kind: RepairPolicy", "kind: Pod"), "kind must be RepairPolicy"),
    ("apiVersion: healcrew/v1alpha1\nkind: RepairPolicy\nspec: {}\n", "metadata.name must name the service"),
    (HEADER + "  owner: me\n", "metadata.owner: unknown key"),
    ("- a\n- b\n", "must be a mapping"),
    (HEADER + "spec:\n  forbidden_paths: ['!.github/']\n", "would lift a ban"),
])
def test_a_bad_file_is_one_line_naming_what_is_wrong(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(BadInputError) as caught:
        load_repair_policy(_write(tmp_path, text))
    message = str(caught.value)
    assert expected in message and "\n" not in message
    assert message.startswith("repair-policy.yaml") or "not found" in message


def test_a_missing_or_oversized_file_is_a_healcrew_error(tmp_path: Path) -> None:
    with pytest.raises(HealcrewError, match="not found"):
        load_repair_policy(tmp_path / "nope.yaml")
    with pytest.raises(HealcrewError, match="larger than"):
        load_repair_policy(_write(tmp_path, HEADER + "#" * 70_000))


# --------------------------------------------------------------------------- decisions


def test_a_validated_fix_within_policy_is_delivered() -> None:
    decision = decide(RepairPolicy(), _report(), attempts_last_hour=0)
    assert decision.action == "deliver", decision.reasons
    assert "guard fix" in decision.reasons[0] and decision.canary_autostart is False


def test_a_kind_of_fix_the_policy_does_not_allow_is_rejected() -> None:
    policy = RepairPolicy(allowed_strategies=["revert"], require_approval_for=[])
    decision = decide(policy, _report(), attempts_last_hour=0)
    assert decision.action == "reject"
    assert any("guard fix (guard-zero-divisor-identity) is not among the allowed" in r for r in decision.reasons)


def test_a_path_the_service_forbids_is_rejected_by_the_gates_own_check() -> None:
    policy = RepairPolicy(forbidden_paths=["app/pricing.py"], require_approval_for=[])
    decision = decide(policy, _report(), attempts_last_hour=0)
    assert decision.action == "reject"
    assert "app/pricing.py is forbidden by policy (app/pricing.py)" in decision.reasons


@pytest.mark.parametrize("path", [".github/workflows/ci.yml", "secrets/prod.env", "k8s/rbac/role.yaml",
                                  ".healcrew.yaml", "migrations/0002.py"])
def test_the_built_in_forbidden_paths_cannot_be_lifted(path: str) -> None:
    policy = RepairPolicy(forbidden_paths=[], allow_config_edits=True, max_files=50, max_changed_lines=1000,
                          allowed_strategies=["guard"], require_approval_for=[])
    decision = decide(policy, _with_diff(_file_diff(path, ["x = 1"]), [path]), attempts_last_hour=0)
    assert decision.action == "reject"
    assert any(path in r and "forbidden by policy" in r for r in decision.reasons)
    with pytest.raises(ValueError, match="lift a ban"):
        RepairPolicy(forbidden_paths=[f"!{path}"])
    with pytest.raises(ValueError, match="Extra inputs"):
        RepairPolicy.model_validate({"builtin_forbidden_paths": False})


def test_content_rules_of_the_gate_apply_too() -> None:
    diff = _file_diff("Dockerfile", ["USER root"])
    decision = decide(OPEN, _with_diff(diff, ["Dockerfile"]), attempts_last_hour=0)
    assert decision.action == "reject"
    assert any("USER" in r for r in decision.reasons)


def test_too_many_files_or_lines_are_rejected() -> None:
    diff = "".join(_file_diff(f"app/m{i}.py", ["y = 2"]) for i in range(3))
    decision = decide(RepairPolicy(max_files=2, require_approval_for=[]),
                      _with_diff(diff, [f"app/m{i}.py" for i in range(3)]), attempts_last_hour=0)
    assert decision.action == "reject" and "the fix touches 3 files, more than the 2 allowed" in decision.reasons
    decision = decide(RepairPolicy(max_changed_lines=5, require_approval_for=[]),
                      _with_diff(_file_diff("app/m.py", ["a"] * 4, removed=2), ["app/m.py"]), attempts_last_hour=0)
    assert decision.action == "reject" and "the fix changes 6 lines, more than the 5 allowed" in decision.reasons


def test_the_regression_test_does_not_count_toward_the_size_limits() -> None:
    decision = decide(RepairPolicy(max_files=1, max_changed_lines=2, require_approval_for=[]), _report(),
                      attempts_last_hour=0)
    assert decision.action == "deliver", decision.reasons


def test_the_fourth_run_in_an_hour_waits_for_a_human() -> None:
    assert decide(OPEN, _report(), attempts_last_hour=2).action == "deliver"
    decision = decide(OPEN, _report(), attempts_last_hour=3)
    assert decision.action == "await_approval"
    assert decision.reasons == ["run 4 for this service within an hour, over the quota of 3: waits for a human"]


@pytest.mark.parametrize(("trigger", "change", "expected"), [
    ("always", None, "every fix approved by a human"),
    ("low_confidence", "confidence", "confidence 0.30 is below 0.50"),
    ("revert", "revert", "reverts a commit"),
    ("large_change", "large", "the fix is large"),
])
def test_each_approval_trigger_makes_the_fix_wait(trigger: str, change: str | None, expected: str) -> None:
    report = _report()
    assert report.accepted is not None and report.diagnosis is not None
    if change == "confidence":
        report.diagnosis.confidence = 0.3
    elif change == "revert":
        report.accepted.proposal.strategy = "revert-suspect-hunk"
    elif change == "large":
        report = _with_diff(_file_diff("app/pricing.py", ["a"] * 25), ["app/pricing.py"])
    assert decide(OPEN, report, attempts_last_hour=0).action == "deliver"
    decision = decide(RepairPolicy(require_approval_for=[trigger]), report, attempts_last_hour=0)  # type: ignore[list-item]
    assert decision.action == "await_approval"
    assert any(expected in r for r in decision.reasons), decision.reasons


def test_a_configuration_fix_waits_by_default_and_is_rejected_when_config_edits_are_off() -> None:
    oom = _report("oom_report")
    decision = decide(RepairPolicy(), oom, attempts_last_hour=0)
    assert decision.action == "await_approval" and "the fix edits configuration" in decision.reasons
    decision = decide(RepairPolicy(allow_config_edits=False), oom, attempts_last_hour=0)
    assert decision.action == "reject"
    assert any("config edits are disabled by policy" in r for r in decision.reasons)


def test_dry_run_does_everything_but_deliver_and_never_hides_a_rejection() -> None:
    decision = decide(RepairPolicy(dry_run=True), _report(), attempts_last_hour=0)
    assert decision.action == "dry_run" and decision.reasons[0].startswith("dry run")
    decision = decide(RepairPolicy(dry_run=True, allowed_strategies=["revert"]), _report(), attempts_last_hour=0)
    assert decision.action == "reject"


def test_a_fix_not_proven_in_the_sandbox_or_not_accepted_is_rejected() -> None:
    report = _report()
    assert report.accepted is not None and report.accepted.validation is not None
    report.accepted.validation.passed = False
    report.accepted.validation.failure = "the regression test still fails on the patched code"
    decision = decide(OPEN, report, attempts_last_hour=0)
    assert decision.action == "reject" and any("still fails" in r for r in decision.reasons)
    report = _report()
    assert report.accepted is not None and report.accepted.critique is not None
    report.accepted.validation = None
    report.accepted.critique.verdict = "revise"
    reasons = decide(OPEN, report, attempts_last_hour=0).reasons
    assert "reflection did not accept this fix" in reasons and "the fix was not validated in the sandbox" in reasons


def test_a_run_without_an_accepted_fix_is_rejected() -> None:
    report = _report()
    report.accepted = None
    decision = decide(OPEN, report, attempts_last_hour=0)
    assert decision.action == "reject" and "nothing to deliver" in decision.reasons[0]


def test_every_reason_is_kept_when_several_rules_apply() -> None:
    policy = RepairPolicy(allowed_strategies=["revert"], forbidden_paths=["app/"], require_approval_for=["always"])
    decision = decide(policy, _report(), attempts_last_hour=5)
    assert decision.action == "reject"
    assert len(decision.reasons) == 4  # strategy, path, quota, always


def test_a_policy_for_another_service_rejects() -> None:
    report = _report()
    assert report.incident.service == "pricing-service"
    assert decide(RepairPolicy(service="pricing-service"), report, attempts_last_hour=0).action == "deliver"
    decision = decide(RepairPolicy(service="billing"), report, attempts_last_hour=0)
    assert decision.action == "reject" and "this policy is for billing, not for pricing-service" in decision.reasons


def test_canary_autostart_is_passed_on_only_with_a_delivery() -> None:
    policy = RepairPolicy(canary_autostart=True)
    assert decide(policy, _report(), attempts_last_hour=0).canary_autostart is True
    assert decide(policy, _report(), attempts_last_hour=9).canary_autostart is False


def test_a_repositorys_file_may_narrow_the_gate_policy_but_not_widen_it(tmp_path: Path) -> None:
    (tmp_path / ".healcrew.yaml").write_text("policy:\n  max_files: 1\n  max_changed_lines: 100\n")
    base = RepairPolicy(max_files=2, max_changed_lines=30).gate_policy()
    settings = load_repo_settings(tmp_path, base=base)
    assert settings.policy.max_files == 1 and settings.policy.max_changed_lines == 30
    assert any("max_changed_lines: 100 ignored" in n for n in settings.policy_notes)


# --------------------------------------------------------------------------- intake


def test_the_failure_threshold_counts_restarts_from_the_alert() -> None:
    policy = RepairPolicy(failure_threshold=3)
    alert = AlertInfo(status="firing", alertname="KubePodCrashLooping", annotations={"restarts": "2"})
    assert restarts_in(alert) == 2
    assert "below the failure threshold of 3" in (below_failure_threshold(policy, restarts_in(alert)) or "")
    assert below_failure_threshold(policy, 3) is None
    assert below_failure_threshold(policy, None) is None
    assert restarts_in(AlertInfo(status="firing", alertname="X", annotations={"restarts": "lots"})) is None
    assert restarts_in(AlertInfo(status="firing", alertname="X", labels={"restarts": "7"})) == 7
