"""``healcrew pr show`` in a terminal: folds stay folded, code is not wrapped, long output is paged.

The terminal is a real pseudo-terminal and the pager a real program (a script that saves what it
is given), so what is checked is what a reviewer's terminal would receive.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crew.cli_pr import parse_blocks
from tests.e2e_helpers import ROOT

REPORT = ROOT / "tests" / "delivery" / "fixtures" / "flagship_report.json"
LONG_COMMAND = ("git checkout 755d4d7d14f8 && git checkout healcrew/pricing-zero-division-division-by-zero-calc -- "
                "tests/test_healcrew_pricing_zero_division.py")
BODY = f"""## Summary

The pricing service crashed with ZeroDivisionError 3x; this PR guards the divisor.

<details>
<summary>Traceback (75 lines)</summary>

```pytb
Traceback (most recent call last):
  File "/app/app/pricing.py", line 27, in calc
ZeroDivisionError: float division by zero
```

</details>

## Reproduce locally

```sh
{LONG_COMMAND}
python -m pytest -q tests/test_healcrew_pricing_zero_division.py
```

<sub>Opened by healcrew.</sub>
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def test_blocks_keep_folds_fences_and_prose_apart() -> None:
    blocks = parse_blocks(BODY)
    assert [b.kind for b in blocks] == ["prose", "fold", "prose", "code", "prose"]
    fold = blocks[1]
    assert fold.text == "Traceback (75 lines)"
    assert [c.kind for c in fold.children or []] == ["code"] and "ZeroDivisionError" in (fold.children or [])[0].text
    assert blocks[3].lang == "sh" and LONG_COMMAND in blocks[3].text.splitlines()


def test_a_fence_inside_a_fold_does_not_close_it_and_folds_nest() -> None:
    body = "<details>\n<summary>outer</summary>\n\n```\n</details>\n```\n<details>\n<summary>inner</summary>\nx\n" \
           "</details>\n</details>\nafter\n"
    outer, after = parse_blocks(body)
    assert outer.text == "outer" and after.text.strip() == "after"
    kinds = [c.kind for c in outer.children or []]
    assert kinds == ["code", "fold"] and (outer.children or [])[0].text == "</details>"


def _run_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(REPORT.read_text())
    (folder / "PR.md").write_text(BODY)
    return folder


def _in_a_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; everything the terminal received."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "crew.cli", *args], stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=follower, env=env, close_fds=True)
    os.close(follower)
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        received += chunk
    os.close(leader)
    proc.wait(10)
    assert proc.returncode == 0, received.decode(errors="replace")
    return ANSI.sub("", received.decode(errors="replace")).replace("\r\n", "\n")


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    saver = tmp_path / "pager.sh"
    saver.write_text(f"#!/bin/sh\ncat > {tmp_path / 'paged.txt'}\n")
    saver.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("LESS", "HEALCREW_DEBUG")}
    return {**env, "HEALCREW_CACHE": str(tmp_path / "cache"), "PAGER": str(saver), "TERM": "xterm",
            "COLUMNS": "60", "LINES": "10"}


def test_in_a_terminal_folds_stay_folded_and_commands_are_not_wrapped(tmp_path: Path,
                                                                       terminal_env: dict[str, str]) -> None:
    shown = _in_a_terminal(["pr", "show", str(_run_folder(tmp_path)), "--no-pager"], terminal_env)
    assert "▸ Traceback (75 lines)" in shown and "folded" in shown
    assert "ZeroDivisionError: float division by zero" not in shown  # inside the fold
    assert LONG_COMMAND in shown.splitlines(), "a command to copy must stay on one line"
    assert "<details>" not in shown and "<summary>" not in shown and "<sub>" not in shown
    assert not (tmp_path / "paged.txt").exists()

    unfolded = _in_a_terminal(["pr", "show", str(_run_folder(tmp_path / "again")), "--no-pager", "--unfold"],
                              terminal_env)
    assert "ZeroDivisionError: float division by zero" in unfolded


def test_long_output_goes_through_the_pager_short_output_does_not(tmp_path: Path,
                                                                  terminal_env: dict[str, str]) -> None:
    folder = _run_folder(tmp_path)
    shown = _in_a_terminal(["pr", "show", str(folder)], terminal_env)
    paged = ANSI.sub("", (tmp_path / "paged.txt").read_text())
    assert "Reproduce locally" in paged and LONG_COMMAND in paged.splitlines()
    assert "Reproduce locally" not in shown  # the pager had it, not the terminal directly

    (tmp_path / "paged.txt").unlink()
    tall = _in_a_terminal(["pr", "show", str(folder)], {**terminal_env, "LINES": "200"})
    assert "Reproduce locally" in tall and not (tmp_path / "paged.txt").exists()


def test_not_a_terminal_prints_the_markdown_source_and_never_pages(tmp_path: Path,
                                                                   terminal_env: dict[str, str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "crew.cli", "pr", "show", str(_run_folder(tmp_path))],
                          capture_output=True, text=True, env=terminal_env, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout == BODY
    assert not (tmp_path / "paged.txt").exists()
