"""One way to run ``probe_script.py`` in the sandbox and read back only what it tagged.

Every probe run gets a fresh key in a file the probe deletes before any repo code runs (see
``probe_script.py``), and ``-I -S`` keeps the repo's ``sitecustomize``, ``.pth`` files and
``PYTHONPATH`` out of the process until the key is taken. Reproduction, the differential check
and the before-regression probe all go through :func:`run_probe`, so none can forget a step.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from crew.repair.reproduce import PROBE_SCRIPT, ProbeResult, new_probe_key, parse_probe_output

if TYPE_CHECKING:
    from crew.validate import Runner, SandboxOutcome

PROBE_PATH = ".healcrew/probe.py"
KEY_PATH = ".healcrew/probe.key"


def probe_command(spec_path: str) -> list[str]:
    """``-I -S``: nothing of the repo runs before the probe has taken its key."""
    return ["python", "-I", "-S", PROBE_PATH, spec_path, KEY_PATH]


def probe_files(spec: dict[str, Any], spec_path: str, key: str) -> dict[str, str]:
    return {PROBE_PATH: PROBE_SCRIPT.read_text(encoding="utf-8"), spec_path: json.dumps(spec), KEY_PATH: key}


def run_probe(
    runner: Runner, spec: dict[str, Any], spec_path: str, diff: str | None, timeout: float,
) -> tuple[list[ProbeResult] | None, SandboxOutcome]:
    """Run one probe (on the deployed commit, or with ``diff`` applied); its verified entries, or
    None when no block tagged under this run's key came back, and the raw outcome."""
    key = new_probe_key()
    outcome = runner.run(probe_command(spec_path), diff, probe_files(spec, spec_path, key), timeout)
    return parse_probe_output(outcome.stdout, key), outcome
