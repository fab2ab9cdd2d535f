"""One thread folds the webhook's alerts into the store, a batch per transaction (group commit).

During an alert storm each request used to open a session, look its fingerprint up, flush and
commit on the event loop, under a lock: about a millisecond of ORM work per request on the one
thread that also parses HTTP, and a storm was taken in at half the rate Alertmanager can send.
Here the requests that arrive while a batch is being written wait together and go in the next
one: one transaction, one lookup per fingerprint, one commit. A request is answered only after
its batch committed, so a 202 still means the alert is stored; a single writer also keeps what
the lock kept: two repeats never make two incidents. A batch's waiting requests are woken with one
call into their event loop: waking each from this thread cost a GIL hand-over per request, and the
storm queued behind them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from crew.handoffs import AlertInfo
from crew.service.config import ServiceConfig
from crew.service.intake import Folded, fold
from crew.service.store import AlertRow, Store

_log = logging.getLogger(__name__)

BATCH_LIMIT = 256
"""Requests per transaction at most, so one commit never holds a long queue's answers back."""

Recorder = Callable[[list[Folded]], None]
"""Called with a request's results inside its transaction, before the commit (the audit's hook)."""

_Waiter = Future[list[Folded]] | asyncio.Future[list[Folded]]
_Request = tuple[list[AlertInfo], _Waiter]


class IntakeWriter:
    """Folds submitted alerts in batches on its own thread; ``submit`` returns a future per request."""

    def __init__(self, store: Store, config: ServiceConfig, record: Recorder | None = None) -> None:
        self.store, self.config, self.record = store, config, record
        self.pending: queue.Queue[_Request | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="healcrew-intake", daemon=True)
        self.thread.start()

    def submit(self, alerts: list[AlertInfo]) -> Future[list[Folded]]:
        """Queue one request's alerts; the future holds what each did once its batch committed."""
        done: Future[list[Folded]] = Future()
        self.pending.put((alerts, done))
        return done

    async def fold(self, alerts: list[AlertInfo]) -> list[Folded]:
        """What each of ``alerts`` did, once its batch committed (for a caller on an event loop)."""
        done: asyncio.Future[list[Folded]] = asyncio.get_running_loop().create_future()
        self.pending.put((alerts, done))
        return await done

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self.pending.put(None)
        self.thread.join(timeout=30)

    def _run(self) -> None:
        while (first := self.pending.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < BATCH_LIMIT:
                try:
                    item = self.pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Request]) -> None:
        try:
            with self.store.session() as s:
                newest: dict[str, AlertRow] = {}
                results = [[fold(s, self.config, alert, newest) for alert in alerts] for alerts, _done in batch]
                if self.record is not None:  # after every fold succeeded, so a retried request is recorded once
                    for folded in results:
                        self.record(folded)
                s.commit()
        except Exception:  # one bad request must not fail the others: write each on its own
            if len(batch) > 1:
                for request in batch:
                    self._write([request])
                return
            _log.exception("intake of %d alerts failed", len(batch[0][0]))
            _settle([(batch[0][1], RuntimeError("the alert could not be stored"))])
            return
        _settle([(done, folded) for (_alerts, done), folded in zip(batch, results, strict=True)])


_Outcome = list[Folded] | Exception


def _settle(outcomes: list[tuple[_Waiter, _Outcome]]) -> None:
    """Resolve the waiters: thread futures here, each event loop's futures in one call into it."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Waiter, _Outcome]]] = {}
    for waiter, outcome in outcomes:
        if isinstance(waiter, asyncio.Future):
            by_loop.setdefault(waiter.get_loop(), []).append((waiter, outcome))
        else:
            _resolve(waiter, outcome)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve_all, items)
        except RuntimeError:  # the loop closed: nobody waits any more
            continue


def _resolve_all(items: list[tuple[_Waiter, _Outcome]]) -> None:
    for waiter, outcome in items:
        _resolve(waiter, outcome)


def _resolve(waiter: _Waiter, outcome: _Outcome) -> None:
    if waiter.done():  # an asyncio waiter is cancelled when its client went away
        return
    if isinstance(outcome, Exception):
        waiter.set_exception(outcome)
    else:
        waiter.set_result(outcome)
