"""The command line: documented exit codes, one-line errors, never a Python traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from crew.bundle import load_bundle
from tests.e2e_helpers import assert_one_line_error
from tests.e2e_helpers import healcrew as run_healcrew

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "incidents" / "pricing-zero-division"


def healcrew(*args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_healcrew(*args, cache=cache or ROOT / ".healcrew" / "test-cache", timeout=120)


@pytest.fixture(scope="module")
def flagship_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    return Path(load_bundle(FLAGSHIP, cache).repo)


def test_help_is_fast_and_lists_commands() -> None:
    proc = healcrew("--help")
    assert proc.returncode == 0
    for command in ("diagnose", "replay", "run", "sandbox"):
        assert command in proc.stdout


def test_diagnose_flagship_shows_fault_code_and_suspect(flagship_repo: Path) -> None:
    proc = healcrew("diagnose", "--log", str(FLAGSHIP / "logs.json"), "--repo", str(flagship_repo))
    assert proc.returncode == 0, proc.stderr
    assert "return p / d" in proc.stdout and "app/pricing.py:27" in proc.stdout
    assert "Apply per-item discount divisor" in proc.stdout
    assert "division_by_zero" in proc.stdout
    assert proc.stdout.count("Suspect commit:") == 1 and "Add pricing service" not in proc.stdout  # history


def test_diagnose_json_prints_the_records(flagship_repo: Path) -> None:
    proc = healcrew("diagnose", "--log", str(FLAGSHIP / "logs.json"), "--repo", str(flagship_repo), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["diagnosis"]["root_cause"] == "division_by_zero"
    assert report["diagnosis"]["fault_frame"]["repo_path"] == "app/pricing.py"
    assert report["evidence"]["groups"][0]["count"] == 3


@pytest.mark.parametrize(
    ("content", "code", "needle"),
    [
        (b"", 2, "empty"),
        (b"\x00\x01\x02\xff\xfe" * 4000, 2, "binary"),
        (b"lorem ipsum dolor\nsit amet 1234 ##@!\n" * 50, 1, "no crash evidence"),
        (b"INFO started\nINFO GET /health 200\nWARNING slow request\n", 1, "no crash evidence"),
    ],
    ids=["empty", "binary", "garbage", "no-traceback"],
)
def test_bad_logs(tmp_path: Path, flagship_repo: Path, content: bytes, code: int, needle: str) -> None:
    log = tmp_path / "bad.log"
    log.write_bytes(content)
    assert_one_line_error(healcrew("diagnose", "--log", str(log), "--repo", str(flagship_repo)), code, needle)


def test_traceback_not_in_repo(tmp_path: Path, flagship_repo: Path) -> None:
    log = tmp_path / "other.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        '  File "/srv/billing/billing/invoices.py", line 12, in total\n'
        "    return a / b\n"
        "ZeroDivisionError: division by zero\n"
    )
    assert_one_line_error(healcrew("diagnose", "--log", str(log), "--repo", str(flagship_repo)), 2, "in the repository")


def test_not_a_git_repo_and_missing_paths(tmp_path: Path) -> None:
    assert_one_line_error(healcrew("diagnose", "--log", str(FLAGSHIP / "logs.json"), "--repo", str(tmp_path)),
                          2, "not a git repository")
    assert_one_line_error(healcrew("diagnose", "--log", str(tmp_path / "nope.log"), "--repo", str(ROOT)),
                          2, "not found")


def test_bad_commit(flagship_repo: Path) -> None:
    proc = healcrew("diagnose", "--log", str(FLAGSHIP / "logs.json"), "--repo", str(flagship_repo),
                    "--commit", "deadbeef")
    assert_one_line_error(proc, 2, "commit")


def _bundle_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "bundle"
    dest.mkdir()
    for name in ("incident.yaml", "alert.json", "logs.json"):
        (dest / name).write_bytes((FLAGSHIP / name).read_bytes())
    service = str(ROOT / "examples" / "pricing-service")
    text = (dest / "incident.yaml").read_text().replace("../../pricing-service", service)
    (dest / "incident.yaml").write_text(text)
    return dest


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda b: (b / "alert.json").write_text("{not json"), "not JSON"),
        (lambda b: (b / "alert.json").write_text('{"version": "4", "alerts": "nope"}'), "alert"),
        (lambda b: (b / "incident.yaml").write_text("id: [unclosed"), "YAML"),
        (lambda b: (b / "incident.yaml").write_text("id: x\nrepo: {path: .}\n"), "logs"),
        (lambda b: (b / "incident.yaml").write_text("- a list\n"), "mapping"),
        (lambda b: (b / "incident.yaml").unlink(), "incident.yaml"),
        (lambda b: (b / "logs.json").unlink(), "log file not found"),
    ],
    ids=["alert-not-json", "alert-malformed", "yaml-broken", "missing-logs", "not-a-mapping", "no-spec", "no-log"],
)
def test_malformed_bundles(tmp_path: Path, mutate, needle: str) -> None:  # type: ignore[no-untyped-def]
    bundle = _bundle_copy(tmp_path)
    mutate(bundle)
    out = tmp_path / "out"
    proc = healcrew("replay", str(bundle), "--diagnose-only", "--out", str(out), cache=tmp_path / "cache")
    assert_one_line_error(proc, 2, needle)
    assert not out.exists(), "a failed load must write nothing"


def test_missing_bundle(tmp_path: Path) -> None:
    assert_one_line_error(healcrew("replay", str(tmp_path / "none")), 2, "bundle not found")


def test_bad_sandbox_choice(tmp_path: Path) -> None:
    assert_one_line_error(healcrew("replay", str(FLAGSHIP), "--sandbox", "vm"), 2, "--sandbox")
