"""Build tiny repositories and diagnoses by hand, and run patched code in a subprocess.

Tests may run the code a candidate produces (healcrew itself never does): the patched module is
written to a copy of the repository and called in a fresh interpreter.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Diagnosis, Frame, Traceback
from crew.repair.candidates import Candidate, TemplateContext
from crew.repo import GitRepo

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.com",
}


def make_repo(root: Path, files: dict[str, str]) -> GitRepo:
    """A one-commit git repository holding ``files``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "deployed"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env, capture_output=True)
    return GitRepo(root)


def line_of(repo: GitRepo, path: str, marker: str) -> int:
    text = repo.read(path) or ""
    for number, line in enumerate(text.splitlines(), 1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {path}")


def crash(
    repo: GitRepo, path: str, marker: str, exc: str, message: str,
    library: Frame | None = None, log: list[str] | None = None,
) -> TemplateContext:
    """Diagnose a crash at the line of ``path`` holding ``marker``; a context for the templates."""
    line = line_of(repo, path, marker)
    code = (repo.read(path) or "").splitlines()[line - 1].strip()
    frames = [
        Frame(file="/app/main.py", line=3, function="<module>", code="main()"),
        Frame(file=f"/app/{path}", line=line, function="f", code=code),
    ]
    if library is not None:
        frames.append(library)
    raw = "Traceback (most recent call last):\n" + "\n".join(
        f'  File "{f.file}", line {f.line}, in {f.function}' for f in frames
    ) + f"\n{exc}: {message}"
    tb = Traceback(exc_type=exc, exc_message=message, frames=frames, raw=raw)
    group = CrashGroup(signature="s", exc_type=exc, exc_message=message, count=3, example=0)
    evidence = CrashEvidence(
        incident_id="t", source="test", tracebacks=[tb], groups=[group], log_excerpt=[*(log or []), *raw.splitlines()],
    )
    diagnosis: Diagnosis = diagnose(evidence, repo)
    return TemplateContext(diagnosis=diagnosis, repo=repo, evidence=evidence)


def run_patched(
    repo: GitRepo, cand: Candidate | None, snippet: str, tmp: Path, env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``snippet`` (which prints a result) in a copy of the repo with the candidate's edits applied."""
    work = tmp / f"run-{len(list(tmp.glob('run-*')))}"
    shutil.copytree(repo.path, work, ignore=shutil.ignore_patterns(".git"))
    for edit in cand.edits if cand else ():
        (work / edit.path).write_text(edit.updated)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, "-c", snippet], cwd=work, capture_output=True, text=True, timeout=30,
        env={**clean, "PYTHONPATH": str(work), **(env or {})},
    )


def result(repo: GitRepo, cand: Candidate | None, call: str, tmp: Path, setup: str = "",
           env: dict[str, str] | None = None) -> object:
    """The JSON-able result of ``call`` on the patched (or original, with None) code; raises on a crash."""
    proc = run_patched(repo, cand, f"{setup}\nimport json\nprint(json.dumps({call}, default=str))", tmp, env)
    if proc.returncode != 0:
        raise AssertionError(f"{call} crashed:\n{proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def crashes(repo: GitRepo, cand: Candidate | None, call: str, tmp: Path, setup: str = "",
            env: dict[str, str] | None = None) -> str | None:
    """The exception line when ``call`` crashes, else None."""
    proc = run_patched(repo, cand, f"{setup}\n{call}", tmp, env)
    if proc.returncode == 0:
        return None
    return proc.stderr.strip().splitlines()[-1]


def changed_lines(cand: Candidate) -> int:
    """How many source lines the candidate removes or adds, over all its edits."""
    total = 0
    for edit in cand.edits:
        for row in difflib.unified_diff(edit.original.splitlines(), edit.updated.splitlines(), lineterm="", n=0):
            if row[:1] in "+-" and not row.startswith(("+++", "---")):
                total += 1
    return total


def by_strategy(cands: list[Candidate], strategy: str) -> Candidate:
    found = [c for c in cands if c.strategy == strategy]
    assert found, f"no {strategy!r} among {[c.strategy for c in cands]}"
    return found[0]


def assert_fixes(
    repo: GitRepo, cand: Candidate, tmp: Path, crash_call: str, normal_calls: list[str], setup: str = "",
    max_changed: int = 4, env: dict[str, str] | None = None, normal_env: dict[str, str] | None = None,
) -> None:
    """The candidate parses, changes few lines, stops the crash and keeps normal results.

    ``env`` is the environment of every run; ``normal_env`` (default ``env``) that of the normal calls.
    """
    import ast

    for edit in cand.edits:
        if edit.path.endswith(".py"):
            ast.parse(edit.updated)
    assert 0 < changed_lines(cand) <= max_changed, changed_lines(cand)
    assert 0.0 <= cand.score <= 1.0 and cand.rationale
    assert crashes(repo, None, crash_call, tmp, setup, env) is not None, "the original must crash"
    assert crashes(repo, cand, crash_call, tmp, setup, env) is None, crashes(repo, cand, crash_call, tmp, setup, env)
    normal = env if normal_env is None else normal_env
    for call in normal_calls:
        assert result(repo, cand, call, tmp, setup, normal) == result(repo, None, call, tmp, setup, normal), call
