"""Shared steps of the command-line and end-to-end tests: running `healcrew`, checking its one-line
errors, and a small service as a real git repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def healcrew(*args: str, cache: Path, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command line in a subprocess (documented exit codes, stderr as a user sees it)."""
    env = {**os.environ, "HEALCREW_CACHE": str(cache), "COLUMNS": "200"}
    env.pop("HEALCREW_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "crew.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    """Exit ``code``, exactly one ``healcrew:`` line on stderr holding ``needle``, and no traceback."""
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("healcrew:")]
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def commit_repo(root: Path, files: dict[str, str], message: str) -> Path:
    """Write ``files`` (path → text) under ``root`` and commit them as one commit of a new repo."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git = ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", message], cwd=root, check=True)
    return root


def healcrew_run(
    repo: Path, log: Path, out: Path, cache: Path, *extra: str, timeout: float = 900,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`healcrew run --json` in the Docker sandbox; the process and its parsed report ({} if none)."""
    env = {**os.environ, "HEALCREW_CACHE": os.environ.get("HEALCREW_CACHE") or str(cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "crew.cli", "run", "--repo", str(repo), "--log", str(log), "--out", str(out),
         "--sandbox", "docker", "--json", *extra],
        capture_output=True, text=True, env=env, timeout=timeout,
    )
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else {})
