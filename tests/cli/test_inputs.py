"""The preflight of ``crew.cli_inputs``: what passes, and that a refusal names the file and the key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crew.cli import _delivery_settings
from crew.cli_inputs import LogArgs, check_delivery, check_log_args, incident_for
from crew.errors import BadInputError
from tests.e2e_helpers import commit_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = commit_repo(tmp_path / "svc", {"svc/calc.py": "def ratio(a, b):\n    return a / b\n"}, "init")
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "origin.git")], check=True)
    subprocess.run(["git", "remote", "add", "origin", str(tmp_path / "origin.git")], cwd=path, check=True)
    return path


def _ops(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ops" / "healcrew.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_github_delivery_with_its_repo_token_and_remote_passes(repo: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ops = _ops(tmp_path, "delivery:\n  github:\n    repo: shop/svc\n    token_env: SHOP_GH_TOKEN\n")
    monkeypatch.setenv("HEALCREW_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SHOP_GH_TOKEN", "ghp_for_the_test")
    forge, config, _ = _delivery_settings(repo, "HEAD", "github", None, ops)
    assert forge == "github"
    check_delivery(forge, config, ops, repo, "HEAD")  # no error

    monkeypatch.delenv("SHOP_GH_TOKEN")
    with pytest.raises(BadInputError, match=r"\$SHOP_GH_TOKEN .*delivery.github.token_env in the operator config "
                                            + str(ops)):
        check_delivery(forge, config, ops, repo, "HEAD")


def test_github_delivery_without_its_repo_names_the_file_and_key(repo: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ops = _ops(tmp_path, "delivery:\n  labels: [bot]\n")
    monkeypatch.setenv("HEALCREW_CACHE", str(tmp_path / "cache"))
    forge, config, _ = _delivery_settings(repo, "HEAD", "github", None, ops)
    with pytest.raises(BadInputError, match=rf"delivery.github.repo \('owner/name'\) in the operator config {ops}"):
        check_delivery(forge, config, ops, repo, "HEAD")


def test_a_push_to_a_remote_the_repo_lacks_is_refused_before_the_run(repo: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALCREW_CACHE", str(tmp_path / "cache"))
    forge, config, _ = _delivery_settings(repo, "HEAD", "local", "upstream", None)
    with pytest.raises(BadInputError, match="no remote named upstream"):
        check_delivery(forge, config, None, repo, "HEAD")
    forge, config, _ = _delivery_settings(repo, "HEAD", "local", "origin", None)
    check_delivery(forge, config, None, repo, "HEAD")


def test_the_incident_takes_the_pod_from_kubernetes_and_the_id_from_it(repo: Path) -> None:
    args = LogArgs(kubernetes="shop/pricing-6f9c/pricing")
    check_log_args(args)
    incident = incident_for(repo, "HEAD", args)
    assert incident.id == "svc-pricing-6f9c"
    assert (incident.namespace, incident.pod, incident.container) == ("shop", "pricing-6f9c", "pricing")
    assert incident.logs is not None and incident.logs.kubernetes is not None
    assert incident.logs.kubernetes.previous is True


@pytest.mark.parametrize("value", ["pod", "a/b/c/d", "Shop/pod", "shop/", "/pod"])
def test_a_malformed_kubernetes_target_is_refused(value: str) -> None:
    with pytest.raises(BadInputError, match="--kubernetes must be NAMESPACE/POD"):
        check_log_args(LogArgs(kubernetes=value))
