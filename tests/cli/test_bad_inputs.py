"""Every bad input the tests know, through the real command line: one line, non-zero, nothing written.

The catalogue gathers the bad inputs of the other test files (the logs of ``tests/test_cli.py``,
the corpus logs in ``tests/fixtures/logs`` that hold no crash, the malformed and escaping bundles,
the delivery, sandbox and report errors) and adds the command line's own (options, log sources,
``--out``, ``--deliver github`` without its settings). Each runs as a subprocess in an empty
folder; it must exit non-zero with exactly one line on stderr, ``healcrew: ...`` holding the
reason, print nothing on stdout, show no traceback, and leave no ``out/`` folder (nor any
``--out`` it was given).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from crew.bundle import load_bundle
from tests.e2e_helpers import ROOT

FLAGSHIP = ROOT / "examples" / "incidents" / "pricing-zero-division"
CORPUS = ROOT / "tests" / "fixtures" / "logs"
REPORTS = ROOT / "tests" / "delivery" / "fixtures"
OTHER_REPO_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/billing/billing/invoices.py", line 12, in total\n'
    "    return a / b\n"
    "ZeroDivisionError: division by zero\n"
)


@dataclass
class Place:
    """What a case may use: an empty working folder, the flagship repository, a scratch folder."""

    cwd: Path
    repo: Path
    scratch: Path
    env: dict[str, str]

    def file(self, name: str, content: bytes | str) -> str:
        path = self.scratch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return str(path)

    def bundle(self, mutate: Callable[[Path], object] | None = None) -> str:
        """A copy of the flagship bundle (its repo given by path), changed by ``mutate``."""
        dest = self.scratch / "bundle"
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("incident.yaml", "alert.json", "logs.json"):
            (dest / name).write_bytes((FLAGSHIP / name).read_bytes())
        service = str(ROOT / "examples" / "pricing-service")
        spec = dest / "incident.yaml"
        spec.write_text(spec.read_text().replace("../../pricing-service", service))
        if mutate is not None:
            mutate(dest)
        return str(dest)

    def run(self, *extra: str, log: str | None = None, deliver: str = "none") -> list[str]:
        """``healcrew run`` on the flagship repository with ``log``, no delivery unless asked."""
        logs = ["--log", log] if log is not None else []
        return ["run", "--repo", str(self.repo), *logs, "--sandbox", "docker", "--deliver", deliver, *extra]


Case = Callable[[Place], list[str]]


def _log(name: str, content: bytes | str) -> Case:
    return lambda p: p.run(log=p.file(name, content))


def _corpus(name: str) -> Case:
    return lambda p: p.run(log=str(CORPUS / name))


def _replay(mutate: Callable[[Path], object]) -> Case:
    return lambda p: ["replay", p.bundle(mutate), "--diagnose-only"]


def _github_config(p: Place, with_repo: bool) -> str:
    github = "  github:\n    repo: shop/pricing-service\n" if with_repo else ""
    return p.file("ops.yaml", f"delivery:\n  labels: [healcrew]\n{github}")


def _link_out(bundle: Path) -> None:
    outside = bundle.parent / "outside.log"
    outside.write_text(OTHER_REPO_TRACEBACK)
    (bundle / "logs.json").unlink()
    (bundle / "logs.json").symlink_to(outside)


def _report_without_pr(p: Place) -> str:
    folder = p.scratch / "run"
    folder.mkdir()
    (folder / "report.json").write_text((REPORTS / "accepted_report.json").read_text())
    return str(folder)


# id: (expected exit code, a fragment of the error line, the command's arguments)
CASES: dict[str, tuple[int, str, Case]] = {
    # logs (tests/test_cli.py, tests/fixtures/logs)
    "log-empty": (2, "is empty", _log("empty.log", b"")),
    "log-binary": (2, "binary", _log("bin.log", b"\x00\x01\x02\xff\xfe" * 4000)),
    "log-gzip": (2, "gzip", _log("crash.log.gz", gzip.compress(OTHER_REPO_TRACEBACK.encode()))),
    "log-garbage": (1, "no crash evidence", _log("garbage.log", "lorem ipsum dolor\nsit amet 1234 ##@!\n" * 50)),
    "log-no-traceback": (1, "no crash evidence", _log("ok.log", "INFO started\nINFO GET /health 200\nWARNING slow\n")),
    "corpus-no-traceback": (1, "no crash evidence", _corpus("no_traceback.log")),
    "corpus-java-go-only": (1, "no crash evidence", _corpus("java_go_only.log")),
    "log-other-repo": (2, "in the repository", _log("other.log", OTHER_REPO_TRACEBACK)),
    "log-missing": (2, "not found", lambda p: p.run(log=str(p.scratch / "nope.log"))),
    "log-directory": (2, "directory", lambda p: p.run(log=str(p.scratch))),
    "diagnose-log-empty": (2, "is empty", lambda p: ["diagnose", "--repo", str(p.repo), "--log", p.file("e.log", "")]),
    # the repository and commit
    "repo-not-git": (2, "not a git repository",
                     lambda p: ["run", "--repo", str(p.scratch), "--log", str(FLAGSHIP / "logs.json")]),
    "repo-missing": (2, "repository not found",
                     lambda p: ["run", "--repo", str(p.scratch / "gone"), "--log", str(FLAGSHIP / "logs.json")]),
    "repo-is-a-file": (2, "is a file", lambda p: ["run", "--repo", p.file("f.txt", "x"), "--log", p.file("l", "x")]),
    "commit-unknown": (2, "commit", lambda p: p.run("--commit", "deadbeef", log=str(FLAGSHIP / "logs.json"))),
    # options
    "sandbox-unknown": (2, "--sandbox", lambda p: p.run("--sandbox", "vm", log=str(FLAGSHIP / "logs.json"))),
    "python-malformed": (2, "--python", lambda p: p.run("--python", "2", log=str(FLAGSHIP / "logs.json"))),
    "deliver-unknown": (2, "--deliver must be", lambda p: p.run("--deliver", "email", log=str(FLAGSHIP / "logs.json"))),
    "timeout-zero": (2, "--timeout", lambda p: p.run("--timeout", "0", log=str(FLAGSHIP / "logs.json"))),
    "option-unknown": (2, "No such option", lambda p: p.run("--bogus", log=str(FLAGSHIP / "logs.json"))),
    "repo-option-missing": (2, "Missing option", lambda p: ["run", "--log", str(FLAGSHIP / "logs.json")]),
    "out-is-a-file": (2, "--out", lambda p: p.run("--out", p.file("out.txt", "x"), log=str(FLAGSHIP / "logs.json"))),
    # log sources
    "no-log-source": (2, "give the crash's logs", lambda p: p.run()),
    "two-log-sources": (2, "one log source",
                        lambda p: p.run("--kubernetes", "shop/pod", log=str(FLAGSHIP / "logs.json"))),
    "kubernetes-malformed": (2, "--kubernetes must be", lambda p: p.run("--kubernetes", "just-a-pod")),
    "loki-not-a-url": (2, "--loki must be", lambda p: p.run("--loki", "loki:3100")),
    "loki-without-query": (2, "--loki needs", lambda p: p.run("--loki", "http://127.0.0.1:9")),
    "loki-query-alone": (2, "go with --loki",
                         lambda p: p.run("--loki-query", '{a="b"}', log=str(FLAGSHIP / "logs.json"))),
    "alert-missing": (2, "alert file not found",
                      lambda p: p.run("--alert", str(p.scratch / "a.json"), log=str(FLAGSHIP / "logs.json"))),
    "alert-not-json": (2, "alert file", lambda p: p.run("--alert", p.file("a.json", "{not json"),
                                                       log=str(FLAGSHIP / "logs.json"))),
    "loki-unreachable": (2, "Loki", lambda p: p.run("--loki", "http://127.0.0.1:9", "--loki-query", '{app="x"}')),
    "kubernetes-unreachable": (2, "Kubernetes", lambda p: p.run("--kubernetes", "shop/pricing-0")),
    # delivery settings
    "github-without-repo": (2, "delivery.github.repo", lambda p: p.run(
        "--config", _github_config(p, False), log=str(FLAGSHIP / "logs.json"), deliver="github")),
    "github-without-config": (2, "--config FILE or $HEALCREW_CONFIG", lambda p: p.run(
        log=str(FLAGSHIP / "logs.json"), deliver="github")),
    "github-without-token": (2, "GITHUB_TOKEN", lambda p: p.run(
        "--config", _github_config(p, True), log=str(FLAGSHIP / "logs.json"), deliver="github")),
    "config-missing": (2, "operator config", lambda p: p.run(
        "--config", str(p.scratch / "ops.yaml"), log=str(FLAGSHIP / "logs.json"), deliver="local")),
    "remote-unknown": (2, "no remote named", lambda p: p.run(
        "--remote", "upstream-that-is-not-there", log=str(FLAGSHIP / "logs.json"), deliver="local")),
    # bundles (tests/test_cli.py, tests/security/test_bundle_paths.py)
    "bundle-alert-not-json": (2, "not JSON", _replay(lambda b: (b / "alert.json").write_text("{not json"))),
    "bundle-alert-malformed": (2, "alert", _replay(
        lambda b: (b / "alert.json").write_text('{"version": "4", "alerts": "nope"}'))),
    "bundle-yaml-broken": (2, "YAML", _replay(lambda b: (b / "incident.yaml").write_text("id: [unclosed"))),
    "bundle-no-logs": (2, "logs", _replay(lambda b: (b / "incident.yaml").write_text("id: x\nrepo: {path: .}\n"))),
    "bundle-not-a-mapping": (2, "mapping", _replay(lambda b: (b / "incident.yaml").write_text("- a list\n"))),
    "bundle-no-spec": (2, "incident.yaml", _replay(lambda b: (b / "incident.yaml").unlink())),
    "bundle-log-gone": (2, "log file not found", _replay(lambda b: (b / "logs.json").unlink())),
    "bundle-log-empty": (2, "is empty", _replay(lambda b: (b / "logs.json").write_text(""))),
    "bundle-log-links-out": (2, "outside the bundle", _replay(_link_out)),
    "bundle-missing": (2, "bundle not found", lambda p: ["replay", str(p.scratch / "none")]),
    "bundle-is-a-file": (2, "not a bundle folder", lambda p: ["replay", str(FLAGSHIP / "incident.yaml")]),
    # reports, the sandbox, the audit log (tests/delivery, tests/sandbox, tests/audit)
    "pr-show-no-report": (2, "no report.json", lambda p: ["pr", "show", str(p.scratch / "nope")]),
    "pr-show-not-a-report": (2, "not a healcrew run report", lambda p: ["pr", "show", p.file("r/report.json", "{}")]),
    "pr-close-no-pr": (2, "opened no pull request", lambda p: ["pr", "close", _report_without_pr(p)]),
    "sandbox-patch-binary": (2, "binary", lambda p: [
        "sandbox", "run", "--repo", str(p.repo), "--patch", p.file("fix.diff", b"\x7fELF\x00\x00\x01"), "--", "true"]),
    "sandbox-patch-not-utf8": (2, "not UTF-8", lambda p: [
        "sandbox", "run", "--repo", str(p.repo), "--patch", p.file("fix.diff", b"--- a/x\n\xff\xfe\n"), "--", "true"]),
    "sandbox-repo-missing": (2, "does not exist", lambda p: [
        "sandbox", "run", "--repo", str(p.scratch / "gone"), "--sandbox", "process", "--", "true"]),
    "sandbox-unknown-backend": (2, "--sandbox must be", lambda p: [
        "sandbox", "run", "--repo", str(p.repo), "--sandbox", "vm", "--", "true"]),
    "audit-log-missing": (2, "not found", lambda p: ["audit", "verify", str(p.scratch / "audit.jsonl")]),
}


@pytest.fixture(scope="module")
def flagship_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(load_bundle(FLAGSHIP, tmp_path_factory.mktemp("cache")).repo)


@pytest.fixture
def place(tmp_path: Path, flagship_repo: Path) -> Place:
    cwd, scratch = tmp_path / "cwd", tmp_path / "scratch"
    cwd.mkdir()
    scratch.mkdir()
    unreachable = scratch / "kubeconfig"
    unreachable.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    dropped = ("HEALCREW_DEBUG", "HEALCREW_CONFIG", "HEALCREW_LOKI_URL", "GITHUB_TOKEN", "KUBERNETES_SERVICE_HOST")
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.lower().endswith("_proxy")}
    env |= {"HEALCREW_CACHE": str(tmp_path / "cache"), "KUBECONFIG": str(unreachable), "COLUMNS": "200",
            "HEALCREW_AUDIT_LOG": str(scratch / "no-audit.jsonl")}
    return Place(cwd=cwd, repo=flagship_repo, scratch=scratch, env=env)


def assert_one_line(proc: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr, proc.stdout)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("healcrew: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout == "", proc.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_input_is_one_line_and_writes_nothing(case: str, place: Place) -> None:
    code, fragment, build = CASES[case]
    argv = build(place)
    outs = [Path(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a == "--out"]
    existed = {out: out.exists() for out in outs}
    proc = subprocess.run([sys.executable, "-m", "crew.cli", *argv], cwd=place.cwd, env=place.env,
                          capture_output=True, text=True, timeout=100, check=False)
    assert_one_line(proc, code, fragment)
    assert list(place.cwd.iterdir()) == [], "a rejected input must write nothing (no out/ folder)"
    for out, was_there in existed.items():
        assert out.exists() == was_there and (not out.is_dir() or not any(out.iterdir()))
