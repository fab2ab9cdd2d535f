"""The run's stages in a child process, so the service's own process only waits on them.

A run is seconds of CPU-bound Python (parsing, candidate generation, diffing). In a thread of the
service it held the GIL against the event loop: every database call and socket write of the
webhook waited for the interpreter's switch interval, and an alert storm during a run was taken
in at 12 requests per second. In a child the run has its own interpreter; the service thread
blocks on a pipe and the webhook keeps its speed. The state crosses as ``FlowState`` JSON, the
same form the CrewAI Flow already carries it in, and a child dies with the service
(``PR_SET_PDEATHSIG``), so a ``kill -9`` leaves no orphan run behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this child when the service process goes away."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no prctl: the child ends when its pipe breaks
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service decides when runs stop


def monitor(incident_json: str, out_dir: str) -> tuple[str, str | None]:
    """Monitoring for ``incident_json``; (FlowState JSON, the top crash signature or None)."""
    from crew.flow import FlowState, Stages
    from crew.handoffs import Incident

    incident = Incident.model_validate_json(incident_json)
    state = FlowState(id=incident.correlation_id, incident=incident, repair_enabled=True, out_dir=out_dir)
    Stages(state).monitoring()
    groups = state.evidence.groups if state.evidence is not None else []
    return state.model_dump_json(), (groups[0].signature if groups else None)


def diagnose_and_repair(state_json: str) -> str:
    """Diagnosis and repair (delivery off) on a monitored state; the new FlowState JSON."""
    from crew.flow import FlowState, Stages

    stages = Stages(FlowState.model_validate_json(state_json))
    stages.diagnostic()
    stages.repair()
    return stages.state.model_dump_json()


def deliver(state_json: str, forge: str, config: dict[str, Any]) -> str:
    """Delivery of the accepted fix to ``forge``; the new FlowState JSON."""
    from crew.flow import FlowState, Stages

    state = FlowState.model_validate_json(state_json)
    state.deliver, state.delivery_config = forge, config
    stages = Stages(state)
    stages.delivery()
    return stages.state.model_dump_json()


def canary(state_json: str, backend: str, time_scale: float | None, argo: dict[str, Any] | None) -> str:
    """The canary of a delivered fix (the worker already asked the policy); the new FlowState JSON.

    An argo image given as a template gets the delivered commit and branch filled in here, where
    the delivery record is.
    """
    from crew.canary.after_delivery import planned_canary
    from crew.flow import FlowState, Stages

    state = FlowState.model_validate_json(state_json)
    planned_canary(state, backend, time_scale, argo)
    stages = Stages(state)
    stages.canary()
    return stages.state.model_dump_json()


def pool(workers: int) -> ProcessPoolExecutor:
    """One child per worker thread, started fresh (spawn: no copy of the service's threads or sockets)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent)


def stop(children: ProcessPoolExecutor) -> None:
    """Kill the children now: waiting for a run to end would hold a stopping service for minutes."""
    processes = list(getattr(children, "_processes", {}).values())  # the executor has no public kill before 3.14
    children.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join(5)
