"""How a run stops when told: Ctrl-C, SIGTERM or its deadline, within a bounded time.

A command-line run installs ``stop_guard()``. A signal or the deadline becomes one stop request,
which (a) runs the stop callbacks at once (each live container is removed, so whatever waits on
it wakes up), (b) makes every ``check_stop()`` and every wait in the sandbox raise ``Interrupted``
(in worker threads too, where no signal is ever delivered), and (c) arms a watchdog: if the
process is still there ``grace`` seconds later, the emergency callbacks (the report) and the
cleanups run and the process exits with the stop's code, whatever is stuck. A second signal
skips the wait. Without a guard (library callers) a signal is a plain ``KeyboardInterrupt``.

``deferred_interrupts()`` keeps a signal from landing half-way through creating or removing a
container; the deferral is bounded (``DEFER_LIMIT``, or the guard's watchdog) and the signal is
honoured when the block ends.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

EXIT_TIMEOUT = 124
"""Exit code of a run stopped by its deadline (as ``timeout(1)`` and ``healcrew sandbox run``)."""
DEFER_LIMIT = 1.0
"""Seconds a signal may be held back by ``deferred_interrupts()`` before it is raised anyway."""
GRACE = 1.0
"""Seconds between a stop request and the watchdog's forced exit."""
_EMERGENCY_LIMIT = 0.4  # seconds the report, then the cleanups, get before the process exits regardless

Callback = Callable[[], None]


@dataclass(frozen=True)
class StopReason:
    """Why a run stopped: the one-line message for the report and the process exit code."""

    message: str
    exit_code: int

    @classmethod
    def from_signal(cls, signum: int) -> StopReason:
        return cls(f"interrupted by {signal.Signals(signum).name}", 128 + signum)


class Interrupted(KeyboardInterrupt):
    """The run was told to stop; ``except Exception`` does not catch it, by design."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.message)
        self.reason = reason


class _Guard:
    def __init__(self, grace: float, hard_exit: bool) -> None:
        self.grace = grace
        self.hard_exit = hard_exit
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.reason: StopReason | None = None
        self.holding = 0  # > 0: the main thread must not be interrupted (deferral, or it only waits)
        self.poke = False  # the deadline asked the main thread to raise
        self.emergency: list[Callback] = []
        self.cleanups: list[Callback] = []
        self.active = True
        self.deadline: float | None = None
        self.timer: threading.Timer | None = None
        self.exiting = threading.Lock()


_GUARD: _Guard | None = None
_ON_STOP: dict[int, Callback] = {}
_ON_STOP_LOCK = threading.Lock()
_IDS = iter(range(1, sys.maxsize))


def _run_quietly(callbacks: list[Callback]) -> None:
    for callback in callbacks:
        with contextlib.suppress(BaseException):  # one failing cleanup must not stop the others
            callback()


def add_stop_callback(callback: Callback) -> Callback:
    """Call ``callback`` (from a helper thread) as soon as a stop is requested; returns its remover."""
    with _ON_STOP_LOCK:
        key = next(_IDS)
        _ON_STOP[key] = callback
    guard = _GUARD
    if guard is not None and guard.stopped.is_set():
        threading.Thread(target=_run_quietly, args=([callback],), daemon=True).start()

    def remove() -> None:
        with _ON_STOP_LOCK:
            _ON_STOP.pop(key, None)

    return remove


def _register(callbacks: list[Callback] | None, callback: Callback) -> Callback:
    if callbacks is None:  # no guard installed: nothing forces an exit
        return lambda: None
    callbacks.append(callback)
    return lambda: callbacks.remove(callback) if callback in callbacks else None


def add_emergency(callback: Callback) -> Callback:
    """Run ``callback`` before a forced exit (e.g. write the report); returns its remover."""
    guard = _GUARD
    return _register(guard.emergency if guard is not None else None, callback)


def add_cleanup(callback: Callback) -> Callback:
    """Run ``callback`` on a forced exit, after the emergency callbacks; returns its remover."""
    guard = _GUARD
    return _register(guard.cleanups if guard is not None else None, callback)


def stop_reason() -> StopReason | None:
    """Why the run is stopping, or None while it may go on."""
    guard = _GUARD
    return guard.reason if guard is not None and guard.stopped.is_set() else None


def check_stop() -> None:
    """Raise ``Interrupted`` once a stop was requested (call it at points where stopping is safe)."""
    reason = stop_reason()
    if reason is not None:
        raise Interrupted(reason)


def wait_for_stop(seconds: float) -> bool:
    """Sleep up to ``seconds``; True as soon as a stop is requested."""
    guard = _GUARD
    if guard is None:
        time.sleep(max(0.0, seconds))
        return False
    return guard.stopped.wait(max(0.0, seconds))


def remaining() -> float | None:
    """Seconds left before the run's deadline (None: no deadline)."""
    guard = _GUARD
    if guard is None or guard.deadline is None:
        return None
    return guard.deadline - time.monotonic()


def request_stop(reason: StopReason) -> bool:
    """Ask the run to stop; False when a stop was already requested (the first reason is kept)."""
    guard = _GUARD
    if guard is None:
        return False
    with guard.lock:
        if guard.stopped.is_set():
            return False
        guard.reason = reason
        guard.stopped.set()
    with _ON_STOP_LOCK:
        callbacks = list(_ON_STOP.values())
    threading.Thread(target=_run_quietly, args=(callbacks,), name="healcrew-stop", daemon=True).start()
    if guard.hard_exit:
        threading.Thread(target=_watchdog, args=(guard,), name="healcrew-watchdog", daemon=True).start()
    return True


def _watchdog(guard: _Guard) -> None:
    time.sleep(guard.grace)
    if guard.active:
        _force_exit(guard)


def _force_exit(guard: _Guard) -> None:
    """The last resort: report, clean up, exit with the stop's code, even if the main thread is stuck."""
    if not guard.exiting.acquire(blocking=False):
        return
    reason = guard.reason or StopReason("interrupted", 130)
    worker = threading.Thread(target=_run_quietly, args=(list(guard.emergency),), daemon=True)
    worker.start()
    worker.join(_EMERGENCY_LIMIT)
    with _ON_STOP_LOCK:
        callbacks = list(_ON_STOP.values())
    cleaner = threading.Thread(target=_run_quietly, args=(callbacks + list(guard.cleanups),), daemon=True)
    cleaner.start()
    cleaner.join(_EMERGENCY_LIMIT)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(reason.exit_code)


def _handle(signum: int, frame: FrameType | None) -> None:
    guard = _GUARD
    if guard is None or not guard.active:
        raise KeyboardInterrupt
    if guard.poke and guard.reason is not None:  # the deadline, delivered to the main thread
        guard.poke = False
        if not guard.holding:
            raise Interrupted(guard.reason)
        return
    if not request_stop(StopReason.from_signal(signum)):  # a second signal: stop waiting
        if guard.hard_exit:
            _force_exit(guard)
        if guard.holding:
            return
    if not guard.holding:
        raise Interrupted(StopReason.from_signal(signum) if guard.reason is None else guard.reason)


def _deadline_passed(guard: _Guard, reason: StopReason) -> None:
    if guard.active and request_stop(reason) and not guard.holding:
        guard.poke = True
        _thread.interrupt_main(signal.SIGINT)  # the main thread may be busy in code that never checks


@contextlib.contextmanager
def stop_guard(grace: float = GRACE, hard_exit: bool = True) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into a bounded stop for the block (main thread only; nested: no-op).

    ``hard_exit`` allows the watchdog to end the process; embedders that cannot allow that pass False.
    """
    global _GUARD
    if threading.current_thread() is not threading.main_thread() or _GUARD is not None:
        yield
        return
    guard = _Guard(grace, hard_exit)
    previous = {sig: signal.signal(sig, _handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    _GUARD = guard
    try:
        yield
    finally:
        guard.active = False
        if guard.timer is not None:
            guard.timer.cancel()
        _GUARD = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deadline(seconds: float | None, reason: StopReason) -> Iterator[None]:
    """Stop the run with ``reason`` after ``seconds`` (needs ``stop_guard``; None: no deadline)."""
    guard = _GUARD
    if guard is None or seconds is None:
        yield
        return
    guard.deadline = time.monotonic() + seconds
    guard.timer = threading.Timer(seconds, _deadline_passed, args=(guard, reason))
    guard.timer.daemon = True
    guard.timer.start()
    try:
        yield
    finally:
        guard.timer.cancel()
        guard.timer, guard.deadline = None, None


@contextlib.contextmanager
def _holding(guard: _Guard) -> Iterator[None]:
    guard.holding += 1
    try:
        yield
    finally:
        guard.holding -= 1


@contextlib.contextmanager
def waiting_on_workers() -> Iterator[None]:
    """The main thread only waits for worker threads: a signal stops them, not the main thread.

    Raising in the middle of an event loop that waits for its threads would stall there; the
    workers see the stop and unwind, and the caller then reads ``stop_reason()``.
    """
    guard = _GUARD
    if guard is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    with _holding(guard):
        yield


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold a SIGINT/SIGTERM back for the block (bounded), then raise it as ``KeyboardInterrupt``."""
    guard = _GUARD
    if guard is not None:
        if threading.current_thread() is threading.main_thread():
            with _holding(guard):
                yield
        else:
            yield
        check_stop()
        return
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    overdue = threading.Event()

    def remember(signum: int, frame: FrameType | None) -> None:
        if overdue.is_set() or received:  # held back long enough, or asked twice: honour it now
            raise KeyboardInterrupt
        received.append(signum)
        timer = threading.Timer(DEFER_LIMIT, _overdue, args=(overdue, signum))
        timer.daemon = True
        timer.start()

    previous: dict[int, Any] = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        overdue.set()  # a timer firing after the block must not interrupt the code that follows
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            raise KeyboardInterrupt


def _overdue(overdue: threading.Event, signum: int) -> None:
    if not overdue.is_set():
        overdue.set()
        _thread.interrupt_main(signal.Signals(signum))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``KeyboardInterrupt`` so ``finally`` blocks run (for CLI entry points)."""
    if threading.current_thread() is not threading.main_thread() or _GUARD is not None:
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
