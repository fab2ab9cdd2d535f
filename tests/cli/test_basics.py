"""The command line's own behaviour: its version, shell completion, exit code 3, and what start-up costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

from crew.bundle import load_bundle
from tests.e2e_helpers import ROOT

FLAGSHIP = ROOT / "examples" / "incidents" / "pricing-zero-division"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HEALCREW_DEBUG"}
    return {**env, "HEALCREW_CACHE": str(tmp_path / "cache"), **extra}


def python(code: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120, check=False)


@pytest.mark.parametrize("flag", ["--version", "-V", "version"])
def test_version_comes_from_the_package_metadata(flag: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "crew.cli", flag], capture_output=True, text=True,
                          env=cli_env(tmp_path), timeout=60, check=False)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == f"healcrew {version('healcrew')}\n"


def test_shell_completion_completes_commands_and_options(tmp_path: Path) -> None:
    """Through the console script: the shell finds completions by the program's name."""
    script = Path(sys.executable).with_name("healcrew")
    assert script.is_file(), "the healcrew console script is installed with the package (make install)"

    def complete(words: str) -> list[str]:
        env = cli_env(tmp_path, COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1),
                      _HEALCREW_COMPLETE="complete_bash")
        proc = subprocess.run([str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    assert complete("healcrew rep") == ["replay"]
    assert {"--loki", "--loki-query", "--log", "--loki-org-id"} <= set(complete("healcrew run --lo"))
    shown = subprocess.run([str(script), "--show-completion", "bash"], capture_output=True, text=True,
                           env=cli_env(tmp_path), timeout=60, check=False)
    assert shown.returncode == 0 and "_HEALCREW_COMPLETE=complete_bash" in shown.stdout


def test_an_internal_error_is_one_line_and_exit_3(tmp_path: Path) -> None:
    proc = python("""
        import sys
        import crew.cli as cli

        @cli.app.command("explode")
        def explode() -> None:
            {}["missing"]

        sys.argv = ["healcrew", "explode"]
        cli.main()
    """, cli_env(tmp_path), tmp_path)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == ["healcrew: internal error: KeyError: 'missing' (HEALCREW_DEBUG=1 shows more)"], proc.stderr


def _modules_after(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, set[str], str]:
    """Run the CLI's main in-process and report which heavy packages it imported."""
    proc = python(f"""
        import json, sys
        import crew.cli as cli
        sys.argv = ["healcrew", *{argv!r}]
        try:
            cli.main()
        finally:
            heavy = ("crewai", "docker", "kubernetes", "github", "git", "litellm")
            print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.__stdout__)
    """, env, cwd)
    return proc.returncode, set(json.loads(proc.stdout.strip().splitlines()[-1])), proc.stderr


def test_a_bad_input_is_rejected_before_any_heavy_import(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    code, heavy, stderr = _modules_after(["run", "--repo", str(ROOT), "--log", str(empty), "--sandbox", "process"],
                                         cli_env(tmp_path), tmp_path)
    assert code == 2 and stderr.startswith("healcrew: ") and "is empty" in stderr
    assert heavy == set(), f"imported {heavy} to reject an empty log"


def test_a_diagnosis_never_loads_crewai(tmp_path: Path) -> None:
    repo = Path(load_bundle(FLAGSHIP, tmp_path / "cache").repo)
    code, heavy, stderr = _modules_after(["replay", str(FLAGSHIP), "--diagnose-only", "--out", str(tmp_path / "o")],
                                         cli_env(tmp_path), tmp_path)
    assert code == 0, stderr
    assert "crewai" not in heavy and "docker" not in heavy
    code, heavy, stderr = _modules_after(["diagnose", "--repo", str(repo), "--log", str(FLAGSHIP / "logs.json")],
                                         cli_env(tmp_path), tmp_path)
    assert code == 0, stderr
    assert "crewai" not in heavy
