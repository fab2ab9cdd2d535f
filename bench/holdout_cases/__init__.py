"""The holdout benchmark's case format, and the cases kept outside ``bench/holdout.py``.

A case is a tiny service written in full here, so nobody has to trust a download to run the
benchmark, and so its history (a good commit, then the bug) is exactly what a reader sees.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field


def dedent(text: str) -> str:
    """Source text written indented inside a case, as the file holds it."""
    return textwrap.dedent(text).lstrip("\n")


@dataclass
class Case:
    """One holdout incident."""

    name: str
    expected: str  # the root-cause class a careful human would name
    good: dict[str, str]  # files of the first commit
    bug: dict[str, str]  # files the second (buggy) commit changes
    trigger: str  # code the service's worker runs; it must crash
    prefix: str = "/app"  # where the repo lives in the container
    style: str = "plain"  # plain | k8s | json | bracket
    context: list[str] = field(default_factory=list)  # log lines just before the crash
    fixable: bool = True  # False: declining with a clear reason is the right outcome
    binary: dict[str, bytes] = field(default_factory=dict)  # non-UTF-8 files of the buggy commit
    pythonpath: str = "."  # relative to the repo
    shape: str = ""  # the crash shape the case stands for (what makes it hard), for the table
    test_command: str | None = None  # the repo's own test command, passed as --test-cmd
    python: str = "3.11"  # the Python production runs; the log is rendered as that version prints it
