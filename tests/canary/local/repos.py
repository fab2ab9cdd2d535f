"""The flagship service's repository with candidate commits for the local canary tests.

``fixed`` is the deployed commit plus the fix the flagship's answer key describes
(``expected.yaml``: the fault line and the replacement quoted in its hint); the bad candidates
are commits on top of it: one that fails every tenth request, one that answers three times
slower (each request waits twice as long as the service took to handle it), one that crashes on
start (its module raises at import, as a service missing its configuration does).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
FLAGSHIP = ROOT / "examples" / "pricing-service"
BUNDLE = ROOT / "examples" / "incidents" / "pricing-zero-division"

FAIL_ONE_IN_TEN = '''

import itertools as _itertools

from fastapi.responses import JSONResponse as _JSONResponse

_calls = _itertools.count(1)


@app.middleware("http")
async def _fail_one_in_ten(request, call_next):
    if next(_calls) % 10 == 0:
        return _JSONResponse({"detail": "injected failure"}, status_code=500)
    return await call_next(request)
'''

THREE_TIMES_SLOWER = '''

import time as _time


@app.middleware("http")
async def _three_times_slower(request, call_next):
    start = _time.perf_counter()
    response = await call_next(request)
    _time.sleep(2 * (_time.perf_counter() - start) + 0.004)
    return response
'''

CRASH_ON_START = '''

raise RuntimeError("PRICING_CATALOG_URL is not set")
'''


@dataclass(frozen=True)
class Repo:
    path: Path
    deployed: str
    fixed: str


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, capture_output=True, text=True,
                          check=True, timeout=60)
    return proc.stdout.strip()


def commit_edit(repo: Path, rel: str, message: str, *, append: str = "", replace: tuple[str, str] | None = None,
                base: str | None = None) -> str:
    """A commit on ``base`` (default: the current HEAD) that edits one file; its sha."""
    if base:
        git(repo, "checkout", "-q", "--detach", base)
    path = repo / rel
    text = path.read_text()
    if replace:
        assert replace[0] in text, f"{replace[0]!r} not in {rel}"
        text = text.replace(replace[0], replace[1], 1)
    path.write_text(text + append)
    git(repo, "commit", "-q", "-am", message)
    return git(repo, "rev-parse", "HEAD")


def flagship(tmp: Path) -> Repo:
    """The example's repository (recorded history) with the fix committed on the deployed commit."""
    from crew.history import materialize

    source = materialize(FLAGSHIP, tmp / "materialized")
    repo = tmp / "pricing-service"
    git(tmp, "clone", "-q", str(source), str(repo))
    incident = yaml.safe_load((BUNDLE / "incident.yaml").read_text())
    expected = yaml.safe_load((BUNDLE / "expected.yaml").read_text())
    deployed = incident["repo"]["commit"]
    replacement = re.search(r"`([^`]+)`", expected["fix_hint"])
    assert replacement, "the answer key quotes the fixed line"
    fixed = commit_edit(repo, expected["fault"]["path"], "Treat a zero divisor as no discount",
                        replace=(expected["fault_code"], replacement.group(1)), base=deployed)
    return Repo(repo, deployed, fixed)


def bad_candidate(repo: Repo, kind: str) -> str:
    """A bad candidate commit on top of the fixed one: ``errors``, ``slow`` or ``crash``."""
    snippet = {"errors": FAIL_ONE_IN_TEN, "slow": THREE_TIMES_SLOWER, "crash": CRASH_ON_START}[kind]
    return commit_edit(repo.path, "app/main.py", f"Bad candidate: {kind}", append=snippet, base=repo.fixed)
