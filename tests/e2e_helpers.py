"""Shared steps of the end-to-end tests: a small service as a real git repo, and `healcrew run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


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
