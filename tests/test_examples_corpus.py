"""The incident corpus: every bundle with an ``expected.yaml`` is internally consistent.

For each bundle: the YAML files follow their schema, the example repository materializes to
the deployed commit the bundle names, the fault line was last changed by the suspect commit,
the service's own suite passes on the deployed (buggy) code, the recorded ``reproduce``
snippet really raises the expected exception at the fault line, and the logs and the alert
carry the evidence a diagnosis needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from crew.bundle import BundleSpec
from crew.handoffs import RootCause
from crew.history import materialize

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BUNDLES = sorted(p.parent for p in (EXAMPLES / "incidents").glob("*/expected.yaml"))
STDLIB_PREFIX = "/usr/local/lib/python3."

# Run a bundle's reproduce snippet with the repo root on sys.path; report the exception's
# type and the deepest frame inside the repository as one JSON line on stdout.
REPRODUCER = r"""
import json, os, sys, traceback
root = os.getcwd()
sys.path.insert(0, root)
snippet = sys.stdin.read()
try:
    exec(compile(snippet, "<reproduce>", "exec"), {"__name__": "__reproduce__"})
except BaseException as exc:
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.isabs(f.filename) and f.filename.startswith(root + os.sep)]
    deepest = frames[-1] if frames else None
    print(json.dumps({
        "exc_type": name, "message": str(exc),
        "path": os.path.relpath(deepest.filename, root) if deepest else None,
        "line": deepest.lineno if deepest else None,
        "function": deepest.name if deepest else None,
    }))
else:
    print(json.dumps({"exc_type": None}))
"""


class Fault(BaseModel):
    """Where the fix belongs: the deepest frame inside the repository."""

    model_config = ConfigDict(extra="forbid")

    path: str
    line: int = Field(gt=0)
    function: str


class Expected(BaseModel):
    """The schema of a bundle's ``expected.yaml`` (the answer key of the corpus)."""

    model_config = ConfigDict(extra="forbid")

    root_cause: RootCause
    exc_type: str | None
    exc_message: str | None = None
    fault: Fault | None
    fault_code: str | None = None
    suspect_commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    fixable: bool
    fix_hint: str = Field(min_length=20)
    decline_reason: str | None = None
    reproduce: str | None = None
    manifest: str | None = None
    termination: dict[str, str | int] | None = None


def _load(bundle: Path) -> tuple[BundleSpec, Expected]:
    spec = BundleSpec.model_validate(yaml.safe_load((bundle / "incident.yaml").read_text()))
    expected = Expected.model_validate(yaml.safe_load((bundle / "expected.yaml").read_text()))
    return spec, expected


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus-cache")


def _repo(bundle: Path, spec: BundleSpec, cache: Path) -> Path:
    return materialize((bundle / spec.repo.path).resolve(), cache)


def _log_text(bundle: Path, spec: BundleSpec) -> str:
    assert spec.logs.file
    return (bundle / spec.logs.file).read_text(encoding="utf-8")


pytestmark = pytest.mark.skipif(not BUNDLES, reason="no incident bundles with expected.yaml")
ids = [b.name for b in BUNDLES]


def test_corpus_has_every_root_cause_class() -> None:
    seen = {_load(b)[1].root_cause for b in BUNDLES}
    wanted = set(RootCause) - {RootCause.DIVISION_BY_ZERO}
    assert wanted <= seen, f"missing classes: {sorted(wanted - seen)}"


@pytest.mark.parametrize("bundle", BUNDLES, ids=ids)
def test_bundle_files_follow_the_schema(bundle: Path) -> None:
    spec, expected = _load(bundle)
    assert spec.id == bundle.name
    assert spec.logs.file and (bundle / spec.logs.file).is_file()
    assert spec.repo.path.startswith("../../services/") or spec.id == "pricing-zero-division"
    assert spec.pod.startswith(spec.service + "-") and spec.container
    assert spec.test_command == "python -m pytest -q"
    if expected.fixable:
        assert expected.decline_reason is None
        assert expected.fault or expected.manifest, "a fixable bundle names where the fix goes"
    else:
        assert expected.decline_reason and len(expected.decline_reason) > 40
    if expected.root_cause is RootCause.OUT_OF_MEMORY:
        assert expected.fault is None and expected.manifest
    else:
        assert expected.fault is not None and expected.reproduce and expected.exc_type


@pytest.mark.parametrize("bundle", BUNDLES, ids=ids)
def test_alert_is_a_v4_webhook_for_this_pod(bundle: Path) -> None:
    spec, expected = _load(bundle)
    assert spec.alert
    payload = json.loads((bundle / spec.alert).read_text())
    assert payload["version"] == "4" and payload["status"] == "firing"
    alert = payload["alerts"][0]
    labels = alert["labels"]
    assert labels["namespace"] == spec.namespace
    assert labels["pod"] == spec.pod
    assert labels["container"] == spec.container
    assert alert["fingerprint"] and alert["startsAt"]
    if expected.root_cause is RootCause.OUT_OF_MEMORY:
        assert labels["alertname"] == "KubeContainerOOMKilled"
        assert "OOMKilled" in json.dumps(alert) and "137" in json.dumps(alert)
    else:
        assert labels["alertname"] == "KubePodCrashLooping"


@pytest.mark.parametrize("bundle", BUNDLES, ids=ids)
def test_repo_materializes_at_the_deployed_commit(bundle: Path, cache: Path) -> None:
    spec, expected = _load(bundle)
    repo = _repo(bundle, spec, cache)
    assert _git(repo, "rev-parse", "HEAD").strip() == spec.repo.commit
    history = _git(repo, "log", "--format=%H").split()
    assert expected.suspect_commit in history
    assert expected.suspect_commit != history[-1], "the root commit cannot be the suspect"
    if expected.fault:
        source = (repo / expected.fault.path).read_text(encoding="utf-8").splitlines()
        if expected.fault_code:
            assert source[expected.fault.line - 1].strip() == expected.fault_code
        blame = _git(repo, "blame", "--porcelain", "-L",
                     f"{expected.fault.line},{expected.fault.line}", "HEAD", "--",
                     expected.fault.path)
        assert blame.split()[0] == expected.suspect_commit
    if expected.manifest:
        assert (repo / expected.manifest).is_file()


@pytest.mark.parametrize("bundle", BUNDLES, ids=ids)
def test_service_suite_passes_on_the_deployed_code(bundle: Path, cache: Path) -> None:
    spec, _ = _load(bundle)
    repo = _repo(bundle, spec, cache)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=repo,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout


# An OOM kill leaves no traceback to reproduce; those bundles have no ``reproduce`` snippet.
WITH_TRACEBACK = [b for b in BUNDLES if yaml.safe_load((b / "expected.yaml").read_text()).get("reproduce")]


@pytest.mark.parametrize("bundle", WITH_TRACEBACK, ids=[b.name for b in WITH_TRACEBACK])
def test_reproduce_snippet_crashes_at_the_fault_line(bundle: Path, cache: Path) -> None:
    spec, expected = _load(bundle)
    assert expected.reproduce is not None
    repo = _repo(bundle, spec, cache)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [sys.executable, "-c", REPRODUCER], cwd=repo, input=expected.reproduce,
        capture_output=True, text=True, timeout=60, env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["exc_type"] == expected.exc_type
    if expected.exc_message is not None:
        assert got["message"] == expected.exc_message or expected.exc_message in got["message"]
    assert expected.fault is not None
    assert (got["path"], got["line"], got["function"]) == (
        expected.fault.path, expected.fault.line, expected.fault.function)


@pytest.mark.parametrize("bundle", BUNDLES, ids=ids)
def test_logs_carry_the_evidence(bundle: Path) -> None:
    spec, expected = _load(bundle)
    text = _log_text(bundle, spec)
    if spec.logs.file and spec.logs.file.endswith(".json") and text.lstrip().startswith("{"):
        body = json.loads(text)
        if "data" in body:  # a Loki query_range response: direction=backward
            assert body["status"] == "success"
            for stream in body["data"]["result"]:
                stamps = [int(ts) for ts, _ in stream["values"]]
                assert stamps == sorted(stamps, reverse=True)
    if expected.fault is None:
        assert "Traceback" not in text
        return
    assert expected.exc_type and expected.exc_type in text
    # The frame, as a container path ending in the repo path, with the real line number.
    needle = f'{expected.fault.path}\\", line {expected.fault.line}, in {expected.fault.function}'
    plain = f'{expected.fault.path}", line {expected.fault.line}, in {expected.fault.function}'
    assert plain in text or needle in text or plain in text.replace('\\"', '"')
    assert "/work/" not in text and "/tmp/" not in text and "/root/" not in text
