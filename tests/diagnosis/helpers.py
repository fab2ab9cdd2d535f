"""A tiny repository whose crash is produced by really running it, so the traceback is Python's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from crew.agents.diagnostic import diagnose
from crew.extract import parse_traceback_text
from crew.handoffs import CrashEvidence, Diagnosis
from crew.repo import GitRepo

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]


def crash_diagnosis(root: Path, files: dict[str, str], entry: str, strip_carets: bool = False) -> Diagnosis:
    """Commit ``files`` under ``root``, run ``entry`` (test code, not repo input) and diagnose its traceback."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    subprocess.run([*GIT, "init", "-q", str(root)], check=True)
    subprocess.run([*GIT, "-C", str(root), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(root), "commit", "-q", "-m", "initial"], check=True)
    run = subprocess.run([sys.executable, "-c", entry], cwd=root, capture_output=True, text=True, timeout=30)
    assert run.returncode != 0, run.stdout
    text = run.stderr
    if strip_carets:  # what a Python 3.10 log looks like
        text = "\n".join(line for line in text.splitlines() if not set(line.strip()) <= set("~^") or not line.strip())
    tb = parse_traceback_text(text[text.index("Traceback") :])
    assert tb is not None
    return diagnose(CrashEvidence(incident_id="t", source="test", tracebacks=[tb]), GitRepo(root))
