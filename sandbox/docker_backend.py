"""Runs a command in a locked-down, throw-away container through the docker SDK.

The container's own process only sleeps, and only until the run's deadline (so even a healcrew
killed with ``kill -9`` leaves nothing running for long; it is labelled with its owner for the
start-up sweep, ``sandbox.sweep``); the repo is streamed in as a tar on the stdin of a
``tar -x`` exec (``put_archive`` cannot write into a read-only root or a tmpfs), the command runs
as a second exec whose output is streamed into head/tail buffers, and the JUnit report is read
back with ``cat`` before the container is killed. Killing it is what makes docker record an OOM
kill, and the container is removed in every case, Ctrl-C included. A stop request
(``sandbox.signals``) removes it at once and makes the run raise ``Interrupted``.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.errors import EngineUnavailableError, SandboxError
from sandbox.images import LABEL
from sandbox.output import HeadTailBuffer
from sandbox.results import RunResult
from sandbox.signals import (
    EXIT_TIMEOUT,
    Interrupted,
    StopReason,
    add_stop_callback,
    check_stop,
    deferred_interrupts,
    remaining,
    stop_reason,
)
from sandbox.sweep import owner_labels

ISOLATION_NOTE = (
    "docker container: no network, read-only root filesystem, tmpfs scratch, non-root user, "
    "all capabilities dropped, no-new-privileges, memory/pids/CPU limits, wall-clock timeout"
)
JUNIT_CAP = 32 * 1024 * 1024
LIFETIME_SLACK = 60.0
"""Seconds a container may live beyond its command's timeout: copying the repo in, reading the report."""
_POLL = 0.1  # seconds between looks at the stop request while a command runs


def connect(timeout: float = 120.0, ping_timeout: float | None = None) -> Any:
    """A docker client whose engine answered a ping, or ``EngineUnavailableError``."""
    try:
        import docker
        import docker.errors
    except ImportError as exc:  # pragma: no cover - docker is a declared dependency
        raise EngineUnavailableError("the docker Python package is not installed") from exc
    try:
        client = docker.from_env(timeout=int(ping_timeout or timeout))
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests and OS errors here
        raise EngineUnavailableError(f"no Docker engine answered: {_short(exc)}") from exc
    if ping_timeout:
        client.api.timeout = int(timeout)
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class DockerBackend:
    """One container per run; everything about it is decided by the ``SandboxConfig``."""

    name = "docker"
    isolation_note = ISOLATION_NOTE

    def __init__(self, client: Any, config: SandboxConfig) -> None:
        self.client = client
        self.config = config

    def run(
        self, tar: bytes | Path, image: str, command: list[str], timeout: float, junit_path: str | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[RunResult, bytes | None]:
        """Run ``command`` on the repo in ``tar`` inside ``image``; the container never outlives this.

        Returns the result (tests not yet parsed) and the JUnit XML read from ``junit_path``, if any.
        """
        import docker.errors

        cfg = self.config
        check_stop()
        left = remaining()  # the run's budget bounds every command in it
        if left is not None and left <= 0:
            raise Interrupted(stop_reason() or StopReason("the run's deadline passed", EXIT_TIMEOUT))
        timeout = min(timeout, left) if left is not None else timeout
        name = f"healcrew-sbx-{uuid.uuid4().hex[:12]}"
        container: Any = None
        out, err = HeadTailBuffer(cfg.output_cap_bytes), HeadTailBuffer(cfg.output_cap_bytes)
        forget = add_stop_callback(lambda: self._remove(None, name))  # wakes whatever waits on the container
        try:
            try:
                with deferred_interrupts():  # a create cut short would leave a container we hold no handle to
                    container = self._create(name, image, env or {}, timeout + LIFETIME_SLACK)
                    container.start()
                self._load_repo(container, tar)
                exit_code, timed_out, duration = self._exec(container, command, timeout, out, err)
                junit = self._read_file(container, junit_path) if junit_path and not timed_out else None
                oom = self._stop_and_check_oom(container)
            except Interrupted:
                raise
            except BaseException as exc:  # the container went away because the run was told to stop
                reason = stop_reason()
                if reason is not None:
                    raise Interrupted(reason) from exc
                raise
        except docker.errors.ImageNotFound as exc:
            raise SandboxError(f"unknown image {image!r}") from exc
        except docker.errors.DockerException as exc:
            raise SandboxError(f"docker run failed: {_short(exc)}") from exc
        finally:
            forget()
            with deferred_interrupts():
                self._remove(container, name)
        result = RunResult(
            command=command, backend="docker", isolation_note=ISOLATION_NOTE, image=image,
            exit_code=None if timed_out else exit_code,
            stdout=out.text(), stderr=err.text(), stdout_bytes=out.total, stderr_bytes=err.total,
            stdout_truncated=out.truncated, stderr_truncated=err.truncated, duration=round(duration, 3),
            timed_out=timed_out, oom_killed=oom and not timed_out, junit_path=junit_path, workdir=cfg.workdir,
        )
        return result, junit

    def _create(self, name: str, image: str, env: dict[str, str], lifetime: float) -> Any:
        """The container; its main process ends after ``lifetime`` seconds, whoever forgets to kill it."""
        cfg = self.config
        lifetime = math.ceil(lifetime)
        uid, _, gid = cfg.user.partition(":")
        scratch = f"rw,nosuid,nodev,size={cfg.scratch_mb}m"
        environment = {
            "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": f"{cfg.workdir}:{cfg.workdir}/src", "PIP_NO_INDEX": "1",
            **cfg.env, **env,
        }
        return self.client.containers.create(
            image, ["sleep", str(lifetime)], name=name,
            labels={**cfg.labels, **owner_labels(time.time() + lifetime), LABEL: "run"},
            user=cfg.user, working_dir=cfg.workdir, environment=environment,
            network_mode="none", read_only=True,
            tmpfs={"/tmp": f"{scratch},mode=1777",
                   cfg.workdir: f"{scratch},exec,mode=0755,uid={uid},gid={gid or uid}"},
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            pids_limit=cfg.pids, mem_limit=f"{cfg.memory_mb}m", memswap_limit=f"{cfg.memory_mb}m",
            nano_cpus=int(cfg.cpus * 1e9), init=True, stdin_open=False, tty=False,
        )

    def _load_repo(self, container: Any, tar: bytes | Path) -> None:
        """Stream the repo tar (a file, read in chunks, or bytes) into ``tar -x`` in the container."""
        api = self.client.api
        exec_id = api.exec_create(container.id, ["tar", "-x", "-m", "-f", "-", "-C", self.config.workdir],
                                  stdin=True, stdout=True, stderr=True, user=self.config.user)["Id"]
        sock = api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)
        try:
            if isinstance(tar, bytes):
                raw.sendall(tar)
            else:
                with open(tar, "rb") as source:
                    while chunk := source.read(1 << 20):
                        raw.sendall(chunk)
            raw.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := raw.recv(65536):
                reply += chunk[:4096] if len(reply) < 4096 else b""
        finally:
            sock.close()
        code = api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            text = reply[8:].decode(errors="replace").strip().splitlines()  # skip the stream frame header
            hint = text[0] if text else f"exit {code}"
            raise SandboxError(f"copying the repo into the sandbox failed ({hint}); is scratch_mb large enough?")

    def _exec(
        self, container: Any, command: list[str], timeout: float, out: HeadTailBuffer, err: HeadTailBuffer
    ) -> tuple[int | None, bool, float]:
        api = self.client.api
        exec_id = api.exec_create(container.id, command, user=self.config.user, workdir=self.config.workdir)["Id"]
        failure: list[BaseException] = []

        def pump() -> None:
            try:
                for stdout, stderr in api.exec_start(exec_id, stream=True, demux=True):
                    if stdout:
                        out.write(stdout)
                    if stderr:
                        err.write(stderr)
            except Exception as exc:  # the stream breaks when the container is killed
                failure.append(exc)

        reader = threading.Thread(target=pump, name=f"sandbox-output-{container.id[:12]}", daemon=True)
        start = time.monotonic()
        reader.start()
        end = start + timeout
        while reader.is_alive() and (left := end - time.monotonic()) > 0:
            reader.join(min(_POLL, left))
            check_stop()
        duration = time.monotonic() - start
        timed_out = reader.is_alive()
        if timed_out:
            container.kill()
            reader.join(10)
            return None, True, duration
        info = api.exec_inspect(exec_id)
        if failure and info.get("Running"):
            raise SandboxError(f"lost the command's output stream: {_short(failure[0])}")
        return info.get("ExitCode"), False, duration

    def _read_file(self, container: Any, path: str) -> bytes | None:
        api = self.client.api
        exec_id = api.exec_create(container.id, ["cat", path], stdout=True, stderr=False, user=self.config.user,
                                  workdir=self.config.workdir)["Id"]
        buf = bytearray()
        for chunk, _ in api.exec_start(exec_id, stream=True, demux=True):
            if chunk and len(buf) < JUNIT_CAP:
                buf += chunk
        if api.exec_inspect(exec_id).get("ExitCode") != 0:
            return None
        return bytes(buf)

    def _stop_and_check_oom(self, container: Any) -> bool:
        """Kill the sleeper; docker records an OOM kill in the container state only on exit."""
        import docker.errors

        with contextlib.suppress(docker.errors.APIError):  # already stopped (its init was OOM-killed)
            container.kill()
        container.wait(timeout=30)
        container.reload()
        return bool(container.attrs.get("State", {}).get("OOMKilled"))

    def _remove(self, container: Any, name: str) -> None:
        import docker.errors

        target = container
        for _ in range(3):
            try:
                if target is None:
                    target = self.client.containers.get(name)
                target.remove(force=True, v=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:
                if "already in progress" in str(exc):
                    return
                time.sleep(0.2)
            except Exception:  # connection trouble while cleaning up: try again, never mask the run's error
                time.sleep(0.2)
