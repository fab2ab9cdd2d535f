"""Stage progress for people (Rich) or for nobody (``--json``); replaces CrewAI's panels.

The flow tells a reporter when a stage starts, what happens inside it (the repair's sandbox
runs and verdicts), when it ends, and the record it produced, so a person sees the diagnosis
as soon as it is known rather than after the repair. A stage's summary may quote the log (an
exception message, a test's failure), so it is redacted and shown through
:func:`crew.escape.terminal`. A failed stage prints nothing here: the command line says why in
its one error line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rich.console import Console
from rich.status import Status

from crew.escape import terminal


class Reporter(Protocol):
    """What the flow tells about each stage as it runs."""

    def started(self, stage: str) -> None: ...

    def progress(self, stage: str, message: str) -> None: ...

    def finished(self, stage: str, seconds: float, status: str, summary: str) -> None: ...

    def result(self, stage: str, value: object) -> None: ...


class SilentReporter:
    """For ``--json``, the service and tests."""

    def started(self, stage: str) -> None:
        return None

    def progress(self, stage: str, message: str) -> None:
        return None

    def finished(self, stage: str, seconds: float, status: str, summary: str) -> None:
        return None

    def result(self, stage: str, value: object) -> None:
        return None


class RichReporter:
    """One line per stage and per step inside it on stderr, with a spinner in a terminal.

    ``on_result`` is called with each stage's record as soon as the stage succeeds (the command
    line shows the evidence and the diagnosis from it). The lines of the ``hold`` stages wait for
    the next stage to succeed and are dropped when it fails: a run that stops on its input then
    prints only its error line.
    """

    def __init__(self, console: Console | None = None,
                 on_result: Callable[[str, object], None] | None = None, hold: tuple[str, ...] = ()) -> None:
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.on_result = on_result
        self.hold = hold
        self._held: list[str] = []
        self._status: Status | None = None

    def started(self, stage: str) -> None:
        if self.console.is_terminal:
            self._status = self.console.status(f"[bold]{terminal(stage)}[/] …")
            self._status.start()

    def progress(self, stage: str, message: str) -> None:
        shown = _shown(message)
        if self._status is not None:
            self._status.update(f"[bold]{terminal(stage)}[/] {shown} …")
        self.console.print(f"  [dim]{terminal(stage)}: {shown}[/]", highlight=False)

    def finished(self, stage: str, seconds: float, status: str, summary: str) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if status == "failed":
            self._held.clear()
            return
        mark = {"ok": "[green]✓[/]"}.get(status, "[yellow]–[/]")
        line = f"{mark} [bold]{terminal(stage):<11}[/] {seconds * 1000:7.0f} ms  {_shown(summary)}"
        if stage in self.hold:
            self._held.append(line)
            return
        for held in self._held:
            self.console.print(held, highlight=False)
        self._held.clear()
        self.console.print(line, highlight=False)

    def result(self, stage: str, value: object) -> None:
        if self.on_result is not None:
            self.on_result(stage, value)


def _shown(text: str) -> str:
    """``text`` as it may leave the process and reach a terminal: redacted, inert."""
    from crew.delivery.redact import redact

    return terminal(redact(text))
