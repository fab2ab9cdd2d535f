"""Leftovers of runs that could not clean up after themselves (``kill -9``, a power cut).

Every sandbox container is labelled with its owner (host, pid and the pid's start time, so a
reused pid is not mistaken for the owner) and its deadline; its main process sleeps only until
then. Every temp folder of a CLI run lives under one ``healcrew-run-<pid>-<start ms>-*`` folder.
At start-up healcrew removes containers whose owner is gone or whose deadline passed, and temp
folders whose owner is gone. Folders that carry no owner (made by library callers) are removed
only when nothing touched them for a day.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from sandbox.images import LABEL
from sandbox.wheels import WORK_PREFIX as WHEEL_BUILD_PREFIX

OWNER_HOST = "org.healcrew.owner.host"
OWNER_PID = "org.healcrew.owner.pid"
OWNER_STARTED = "org.healcrew.owner.started"
DEADLINE = "org.healcrew.deadline"
RUN_PREFIX = "healcrew-run-"
LEGACY_AGE = 3600.0
"""Seconds after which a run container that carries no owner label (an older healcrew) is removed."""
STALE_AGE = 86400.0
"""Seconds without a change after which a temp folder that carries no owner is removed."""
_OWNED = re.compile(rf"^{RUN_PREFIX}(\d+)-(\d+)-")
_TEMP_PREFIXES = ("healcrew-ws-", RUN_PREFIX, "healcrew-scratch-", "healcrew-deliver-", "healcrew-index-",
                  "healcrew-ls-", "healcrew-rm-", WHEEL_BUILD_PREFIX)
_SAME_START = 0.05  # seconds: psutil's start times of one process agree far closer than this


def _started(pid: int) -> float | None:
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None  # dead, only not reaped yet (a killed service's run, where no init reaps)
        return float(process.create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def owner_labels(deadline: float) -> dict[str, str]:
    """Labels naming this process as the owner of a container that must be gone by ``deadline`` (epoch s)."""
    started = _started(os.getpid()) or 0.0
    return {OWNER_HOST: socket.gethostname(), OWNER_PID: str(os.getpid()), OWNER_STARTED: f"{started:.3f}",
            DEADLINE: f"{deadline:.0f}"}


def owner_alive(pid: int, started: float) -> bool:
    """The process ``pid`` exists and is the one that started at ``started`` (not a reuse of the pid)."""
    now = _started(pid)
    return now is not None and abs(now - started) < _SAME_START


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _container_is_orphan(labels: dict[str, str], created: float, now: float) -> bool:
    deadline = _float(labels.get(DEADLINE))
    if deadline is not None and deadline < now:
        return True
    pid, started = labels.get(OWNER_PID), _float(labels.get(OWNER_STARTED))
    if pid is None or started is None:
        return labels.get(LABEL) == "run" and now - created > LEGACY_AGE
    if labels.get(OWNER_HOST) != socket.gethostname():
        return False  # another machine's run: only its deadline can tell
    return not (pid.isdigit() and owner_alive(int(pid), started))


def sweep_containers(client: Any, now: float | None = None) -> list[str]:
    """Remove healcrew containers whose owner is gone or whose deadline passed; returns their ids."""
    now = time.time() if now is None else now
    removed: list[str] = []
    for c in client.api.containers(all=True, filters={"label": LABEL}):
        if _container_is_orphan(c.get("Labels") or {}, float(c.get("Created") or now), now):
            with contextlib.suppress(Exception):  # gone meanwhile, or being removed by its owner
                client.api.remove_container(c["Id"], force=True, v=True)
                removed.append(c["Id"])
    return removed


def remove_own_containers(client: Any) -> list[str]:
    """Remove every container this process owns (the last resort of a run told to stop)."""
    removed: list[str] = []
    mine = _started(os.getpid())
    for c in client.api.containers(all=True, filters={"label": f"{OWNER_PID}={os.getpid()}"}):
        started = _float((c.get("Labels") or {}).get(OWNER_STARTED))
        if started is not None and mine is not None and abs(started - mine) < _SAME_START:
            with contextlib.suppress(Exception):
                client.api.remove_container(c["Id"], force=True, v=True)
                removed.append(c["Id"])
    return removed


def sweep_tempdirs(parent: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove healcrew temp folders under ``parent`` (the temp dir) whose owner is gone; returns them."""
    base = Path(parent or tempfile.gettempdir())
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(_TEMP_PREFIXES) or not entry.is_dir(follow_symlinks=False):
            continue
        owned = _OWNED.match(entry.name)
        if owned:
            orphan = not owner_alive(int(owned.group(1)), int(owned.group(2)) / 1000)
        else:
            try:
                orphan = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AGE
            except OSError:
                continue
        if orphan:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def owned_tempdir(parent: Path | None = None) -> Iterator[Path]:
    """A temp folder named for this process that every temp file of the block goes into, removed after.

    ``tempfile`` and child processes (``TMPDIR``) are pointed at it, so workspaces, run copies and
    delivery clones all land inside; one ``rmtree`` (or the next start-up's sweep) removes them all.
    """
    started = _started(os.getpid()) or 0.0
    base = Path(parent or tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-{int(started * 1000)}-", dir=base))
    previous_dir, previous_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(root)
    os.environ["TMPDIR"] = str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = previous_dir
        if previous_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous_env
        shutil.rmtree(root, ignore_errors=True)
