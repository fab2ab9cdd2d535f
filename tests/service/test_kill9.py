"""``kill -9`` of a real ``healcrew serve`` in the middle of the flagship's run, then a restart on the
same database and audit log: the incident is delivered at most once, to one branch with one PR
record, and the audit chain still verifies.

Two moments: while the sandbox validates a fix (the restart resumes the run and delivers it once),
and after the delivery intent was committed (the restart marks the incident failed and delivers
nothing again, whether or not the branch already reached the remote). The second moment is held
by a hook of the test's own bare remote, which waits inside the push: ``pre-receive`` before the
branch is written, ``post-receive`` after. The serve process and every child it started (git, the
hook) are killed as a group with SIGKILL; nothing in healcrew is patched.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from sandbox.sweep import RUN_PREFIX
from tests.service.helpers import FLAGSHIP_ALERT, ROOT

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

TOKEN = "kill9-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ENDED = ("fixed", "failed", "rejected", "dry_run", "awaiting_approval", "folded", "cancelled")
OWNER_PID = "org.healcrew.owner.pid"  # sandbox.sweep's owner label on every sandbox container
T = TypeVar("T")


def _until(check: Callable[[], T | None], seconds: float, what: str, every: float = 0.2) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _git(*args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True, env=env, timeout=30).stdout


class Site:
    """One test's service: config, state, audit log, cache, bare remote; serve started and killed on it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.remote, self.audit = tmp, tmp / "remote.git", tmp / "audit.jsonl"
        self.state, self.out, self.cache = tmp / "state.db", tmp / "out", tmp / "cache"
        _git("init", "-q", "--bare", "-b", "main", str(self.remote))
        config = yaml.safe_load((ROOT / "examples" / "service" / "healcrew-service.yaml").read_text())
        entry = config["services"][0]
        entry["repo"]["path"] = str(ROOT / "examples" / "pricing-service")
        entry["logs"]["file"] = str(ROOT / "examples" / "incidents" / "pricing-zero-division" / "logs.json")
        entry["policy"] = str(ROOT / "examples" / "service" / "repair-policy.yaml")
        entry["delivery"] = {"remote_url": str(self.remote), "push": True}
        config["out_dir"] = str(self.out)
        self.config = tmp / "service.yaml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.url = ""

    def hold_push(self, hook: str) -> Path:
        """Make the remote's ``hook`` (pre-receive or post-receive) note that it runs, then wait to be killed."""
        flag = self.tmp / "pushing"
        path = self.remote / "hooks" / hook
        path.write_text(f"#!/bin/sh\necho {hook} > '{flag}'\nexec sleep 600\n")
        path.chmod(0o755)
        return flag

    def start(self) -> subprocess.Popen[bytes]:
        """``healcrew serve`` in its own process group."""
        port = _free_port()
        env = {**os.environ, "HEALCREW_WEBHOOK_TOKEN": TOKEN, "HEALCREW_CACHE": str(self.cache)}
        log = (self.tmp / f"serve-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "crew.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--config",
             str(self.config), "--state", f"sqlite:///{self.state}", "--audit-log", str(self.audit)],
            cwd=self.tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        self.url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {self.output(proc)}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _until(up, 30, "healcrew serve to answer /healthz")
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.tmp / f"serve-{self.procs.index(proc)}.log").read_text(errors="replace")[-3000:]

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process group: serve, its git and Docker CLI children, no handler runs."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)

    def post_flagship(self) -> str:
        r = httpx.post(f"{self.url}/alerts", content=FLAGSHIP_ALERT.read_bytes(), headers=AUTH, timeout=10)
        assert r.status_code == 202, r.text
        ids: list[str] = r.json()["incidents"]
        assert len(ids) == 1 and ids[0]
        return ids[0]

    def incident(self, iid: str) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/incidents/{iid}", headers=AUTH, timeout=10).json()
        return body

    def ended(self, iid: str, seconds: float) -> dict[str, Any]:
        return _until(lambda: (i := self.incident(iid))["status"] in ENDED and i, seconds,
                      f"incident {iid} to end", every=0.5)

    def branches(self) -> list[str]:
        return _git("--git-dir", str(self.remote), "for-each-ref", "--format=%(refname:short)", "refs/heads").split()

    def pr_records(self) -> list[Path]:
        return sorted((self.cache / "forge").glob("*/*.json"))

    def bundles(self) -> list[Path]:
        return sorted(self.out.rglob("PR.md"))

    def actions(self, iid: str) -> list[str]:
        lines = self.audit.read_bytes().splitlines()
        return [r["action"] for r in map(json.loads, lines) if r["correlation_id"] == iid]

    def delivery_intent(self, iid: str) -> str | None:
        with sqlite3.connect(f"file:{self.state}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT delivery_intent FROM incidents WHERE id = ?", (iid,)).fetchone()
        return row[0] if row else None

    def verify_exit(self) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "crew.cli", "audit", "verify", str(self.audit)],
                              capture_output=True, text=True, timeout=60, cwd=self.tmp)
        return done.returncode, (done.stdout + done.stderr).strip()


@pytest.fixture
def site(tmp_path: Path, docker_client: Any) -> Iterator[Site]:
    s = Site(tmp_path)
    try:
        yield s
    finally:
        s.close()


def _family(pid: int) -> set[int]:
    """``pid`` and its child processes (the serve's runs happen in children it spawns)."""
    found = {pid}
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found |= {int(c) for c in task.read_text().split()}
    return found


def _owned(docker_client: Any, pids: int | set[int]) -> list[Any]:
    return [c for pid in sorted({pids} if isinstance(pids, int) else pids)
            for c in docker_client.containers.list(all=True, filters={"label": f"{OWNER_PID}={pid}"})]


def _temp_folders(pid: int) -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob(f"{RUN_PREFIX}{pid}-*"))


def test_kill_9_while_the_sandbox_validates_then_restart_delivers_once(site: Site, docker_client: Any) -> None:
    began = time.monotonic()
    first = site.start()
    iid = site.post_flagship()
    _until(lambda: site.incident(iid)["status"] == "running", 30, "the incident to start running")
    running = time.monotonic()
    # In the middle of the run: the worker is validating a candidate in a sandbox container it owns.
    family: set[int] = set()
    _until(lambda: family.update(_family(first.pid)) or _owned(docker_client, family), 120,
           "a sandbox container of the serve process")
    mid = site.incident(iid)
    left = _temp_folders(first.pid)
    site.kill9(first)
    killed = time.monotonic()
    torn = not site.audit.read_bytes().endswith(b"\n")
    assert mid["status"] == "running", mid
    assert site.branches() == [] and site.pr_records() == []

    assert left and _owned(docker_client, family), "the killed run left nothing behind to clean up"

    site.start()  # same database, same audit log
    restarted = time.monotonic()
    # serve's start-up sweep removed what the killed process left: its sandbox container and temp folder
    assert _owned(docker_client, family) == [] and _temp_folders(first.pid) == []
    end = site.ended(iid, 150)
    ended = time.monotonic()
    print(f"\nkill -9 mid-run: running after {running - began:.1f} s, killed in stage {mid['stage']} "
          f"{killed - running:.1f} s later (audit log {'torn' if torn else 'whole'}); "
          f"restart to {end['status']} {ended - restarted:.1f} s; whole case {ended - began:.1f} s")

    assert end["status"] == "fixed" and end["pr_url"], end
    items = httpx.get(f"{site.url}/incidents", headers=AUTH, timeout=10).json()["items"]
    assert [i["id"] for i in items] == [iid]  # the restart resumed it; nothing new was made
    branches = site.branches()
    assert len(branches) == 1 and branches[0].startswith("healcrew/pricing-service-"), branches
    assert len(site.pr_records()) == 1 and len(site.bundles()) == 1, (site.pr_records(), site.bundles())
    assert Path(end["pr_url"]) == site.bundles()[0].parent
    actions = site.actions(iid)
    assert actions.count("pr_opened") == 1 and actions.count("branch_pushed") == 1, actions
    code, said = site.verify_exit()
    assert code == 0, said


@pytest.mark.parametrize("hook", ["pre-receive", "post-receive"])
def test_kill_9_after_the_delivery_intent_never_delivers_twice(site: Site, hook: str) -> None:
    began = time.monotonic()
    flag = site.hold_push(hook)
    first = site.start()
    iid = site.post_flagship()
    _until(flag.exists, 150, f"the push to reach the remote's {hook} hook", every=0.5)
    paused = time.monotonic()
    assert site.delivery_intent(iid) is not None  # committed before anything was pushed
    assert site.incident(iid)["stage"] == "delivery"
    site.kill9(first)
    (site.remote / "hooks" / hook).unlink()  # a second delivery, were there one, would now go through
    pushed = site.branches()
    assert len(pushed) == (1 if hook == "post-receive" else 0), pushed
    # A crash inside a write leaves half a line (a kill -9 between writes, as here, does not): the
    # restarted service must move it aside and go on, not stop auditing.
    whole = site.audit.read_bytes()
    assert whole.endswith(b"\n")
    last = whole.splitlines()[-1]
    site.audit.write_bytes(whole + last[: len(last) // 2])

    site.start()
    restarted = time.monotonic()
    end = site.ended(iid, 30)
    recovered = time.monotonic()
    time.sleep(2)  # a worker that (wrongly) took it up again would have started by now
    again = site.incident(iid)
    print(f"\nkill -9 after the delivery intent, in the remote's {hook}: after {paused - began:.1f} s; "
          f"restart to {end['status']} in {recovered - restarted:.1f} s")

    assert end["status"] == again["status"] == "failed" and end["outcome"] == "interrupted", end
    assert "not delivered again" in end["reason"] and not end["pr_url"], end
    assert site.branches() == pushed  # nothing more reached the remote
    assert site.pr_records() == []
    actions = site.actions(iid)
    assert "pr_opened" not in actions and "branch_pushed" not in actions, actions
    assert actions.count("run_started") == 1, actions  # the killed run's; the restart did not run it again
    code, said = site.verify_exit()
    assert code == 0, said
    assert "audit_tail_cut" in site.actions("") and site.audit.with_name("audit.jsonl.torn").is_file()
