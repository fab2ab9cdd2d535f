"""A FIFO writer in front of the audit log, so no request waits on its fsync.

Intake enqueues its record before it commits the incident, and workers only see committed
incidents, so the log's order still matches what happened. Records still in the queue when the
process is killed are lost; ``close`` drains it on a normal stop.
"""

from __future__ import annotations

import logging
import queue
import threading

from crew.service.worker import Auditor

_log = logging.getLogger(__name__)


class QueuedAudit:
    """Hands records to one thread that appends them to ``log`` in order."""

    def __init__(self, log: Auditor) -> None:
        self.log = log
        self.pending: queue.Queue[tuple[str, str, str, dict[str, object] | None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="healcrew-audit", daemon=True)
        self.thread.start()

    def append(self, action: str, *, correlation_id: str, actor: str,
               detail: dict[str, object] | None = None) -> None:
        """Queue one record."""
        self.pending.put((action, correlation_id, actor, detail))

    def _run(self) -> None:
        while (item := self.pending.get()) is not None:
            action, correlation_id, actor, detail = item
            try:
                self.log.append(action, correlation_id=correlation_id, actor=actor, detail=detail)
            except Exception as exc:  # the service keeps running; the gap shows in audit verify
                _log.error("audit record %s for %s not written: %s", action, correlation_id, exc)

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop."""
        self.pending.put(None)
        self.thread.join(timeout)
