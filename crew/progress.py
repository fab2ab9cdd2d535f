"""Stage progress for people (Rich) or for nobody (``--json``); replaces CrewAI's panels.

A stage's summary may quote the log (an exception message), so it is shown through
:func:`crew.escape.terminal`.
"""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.status import Status

from crew.escape import terminal


class Reporter(Protocol):
    """What the flow tells about each stage as it runs."""

    def started(self, stage: str) -> None: ...

    def finished(self, stage: str, seconds: float, status: str, summary: str) -> None: ...


class SilentReporter:
    """For ``--json`` and for tests."""

    def started(self, stage: str) -> None:
        return None

    def finished(self, stage: str, seconds: float, status: str, summary: str) -> None:
        return None


class RichReporter:
    """One line per stage on stderr, with a spinner while it runs."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._status: Status | None = None

    def started(self, stage: str) -> None:
        if self.console.is_terminal:
            self._status = self.console.status(f"[bold]{terminal(stage)}[/] …")
            self._status.start()

    def finished(self, stage: str, seconds: float, status: str, summary: str) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        mark = {"ok": "[green]✓[/]", "failed": "[red]✗[/]"}.get(status, "[yellow]–[/]")
        self.console.print(
            f"{mark} [bold]{terminal(stage):<11}[/] {seconds * 1000:7.0f} ms  {terminal(summary)}", highlight=False
        )
