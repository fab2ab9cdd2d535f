"""Attack: a huge repository exhausts the host's memory before any size check.

The copy is streamed (blob by blob to disk, the container tar from a file) and bounded by a size
limit with a one-line error. Each case runs in a fresh interpreter that reports its peak RSS.
The repo is large but cheap: one 96 MiB blob of zeros compresses to a few hundred KiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOB_MB = 96
RSS_BOUND_MB = 80  # well under the blob: the copy must never hold it in memory

PROBE = """
import json, sys
from sandbox.errors import WorkspaceError
from sandbox.workspace import make_workspace
from tests.security.peak import peak_rss_mb
error = None
try:
    with make_workspace(sys.argv[1], commit=sys.argv[2] if len(sys.argv) > 2 else None) as ws:
        size = (ws.path / "big.bin").stat().st_size
        tar = ws.tar_file().stat().st_size
except WorkspaceError as exc:
    error, size, tar = str(exc), 0, 0
print(json.dumps({"error": error, "size": size, "tar": tar,
                  "rss_mb": peak_rss_mb()}))
"""


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repo whose one commit holds a 96 MiB file; the work tree never holds it."""
    repo = tmp_path_factory.mktemp("large") / "svc"
    repo.mkdir()

    def git(*args: str, stdin: bytes | None = None) -> str:
        return subprocess.run(["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args], cwd=repo,
                              input=stdin, capture_output=True, check=True).stdout.decode().strip()

    git("init", "-q")
    (repo / "app.py").write_text("x = 1\n")
    git("add", "app.py")
    sha = git("hash-object", "-w", "--stdin", stdin=bytes(BLOB_MB * 1024 * 1024))
    git("update-index", "--add", "--cacheinfo", f"100644,{sha},big.bin")
    git("commit", "-qm", "big")
    return repo


def _probe(repo: Path, *args: str, limit_mb: int | None = None) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HEALCREW_MAX_REPO_MB", None)
    if limit_mb is not None:
        env["HEALCREW_MAX_REPO_MB"] = str(limit_mb)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(repo), *args], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_a_repo_over_the_limit_stops_with_one_line_naming_the_limit(big_repo: Path) -> None:
    result = _probe(big_repo, "HEAD", limit_mb=16)
    error = str(result["error"])
    assert "larger than the 16 MiB limit" in error and "HEALCREW_MAX_REPO_MB" in error
    assert "\n" not in error
    assert float(str(result["rss_mb"])) < RSS_BOUND_MB


def test_a_large_repo_under_the_limit_is_copied_in_bounded_memory(big_repo: Path) -> None:
    result = _probe(big_repo, "HEAD", limit_mb=1024)
    assert result["error"] is None
    assert result["size"] == BLOB_MB * 1024 * 1024
    assert int(str(result["tar"])) > BLOB_MB * 1024 * 1024  # the container's tar is a file on disk
    assert float(str(result["rss_mb"])) < RSS_BOUND_MB


def test_the_work_tree_copy_is_bounded_too(big_repo: Path, tmp_path: Path) -> None:
    with open(big_repo / "big.bin", "wb") as sparse:  # sparse: 96 MiB on paper, no disk used
        sparse.truncate(BLOB_MB * 1024 * 1024)
    try:
        result = _probe(big_repo, limit_mb=16)
        assert "larger than the 16 MiB limit" in str(result["error"])
        assert float(str(result["rss_mb"])) < RSS_BOUND_MB
    finally:
        (big_repo / "big.bin").unlink()


def test_a_bad_limit_is_a_clear_error(big_repo: Path) -> None:
    env_result = _probe(big_repo, "HEAD", limit_mb=0)
    assert "HEALCREW_MAX_REPO_MB must be positive" in str(env_result["error"])
