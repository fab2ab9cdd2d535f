"""Containment, proven against the real engine: every test also checks no container is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import pytest

from sandbox import SandboxConfig, prepare
from tests.sandbox.conftest import tree_digest

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("no_leftover_containers")]


def py(code: str) -> list[str]:
    return ["python3", "-c", code]


def test_network_connection_fails(plain_repo: Path, docker_config: SandboxConfig) -> None:
    code = (
        "import socket\n"
        "try:\n    socket.create_connection(('10.255.255.1', 80), timeout=3)\n"
        "except OSError as e:\n    print('blocked', e.errno)\nelse:\n    print('connected')\n"
        "print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))"
    )
    with prepare(plain_repo, config=docker_config) as box:
        result = box.run(py(code))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("blocked"), result.stdout + result.stderr
    assert lines[1] == "['lo']"  # no interface but loopback


def test_fork_bomb_is_stopped_by_the_pids_limit(plain_repo: Path, docker_config: SandboxConfig) -> None:
    code = (
        "import os, time\nn = 0\n"
        "try:\n    while True:\n        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\n"
        "        n += 1\nexcept OSError as e:\n    print(n, type(e).__name__)\n"
    )
    with prepare(plain_repo, config=docker_config) as box:
        result = box.run(py(code), timeout=20)
    forks, error = result.stdout.split()
    assert error == "BlockingIOError"  # EAGAIN from the pids cgroup
    assert 0 < int(forks) < docker_config.pids
    assert not result.timed_out


def test_memory_hog_is_oom_killed(plain_repo: Path, docker_config: SandboxConfig) -> None:
    with prepare(plain_repo, config=docker_config) as box:
        result = box.run(py("x = []\nwhile True: x.append(bytearray(10**7))"))
    assert result.oom_killed
    assert result.exit_code == 137
    assert not result.timed_out


def test_infinite_loop_is_killed_at_the_timeout(plain_repo: Path, docker_config: SandboxConfig) -> None:
    start = time.monotonic()
    with prepare(plain_repo, config=docker_config) as box:
        result = box.run(py("while True: pass"), timeout=2)
    assert result.timed_out and result.exit_code is None
    assert 1.9 <= result.duration < 5
    assert time.monotonic() - start < 20


def test_writes_outside_the_scratch_space_fail(plain_repo: Path, docker_config: SandboxConfig) -> None:
    code = (
        "import json\nout = {}\n"
        "for p in ['/etc/evil', '/usr/evil', '/evil', '/opt/evil', '/var/evil', '/tmp/ok', '/work/ok']:\n"
        "    try:\n        open(p, 'w').write('x')\n        out[p] = 'written'\n"
        "    except OSError as e:\n        out[p] = e.strerror\n"
        "print(json.dumps(out))"
    )
    with prepare(plain_repo, config=docker_config) as box:
        result = box.run(py(code))
    outcome = json.loads(result.stdout)
    assert outcome.pop("/tmp/ok") == "written" and outcome.pop("/work/ok") == "written"
    assert set(outcome.values()) <= {"Read-only file system", "Permission denied"}, outcome


def test_host_files_are_not_visible(plain_repo: Path, docker_config: SandboxConfig) -> None:
    marker = Path("/tmp") / f"healcrew-marker-{uuid.uuid4().hex}"
    marker.write_text("secret")
    paths = [str(marker), str(plain_repo), str(Path(__file__).resolve()), os.getcwd(), "/var/run/docker.sock"]
    code = f"import os, json; print(json.dumps([os.path.exists(p) for p in {paths!r}]), os.getuid())"
    try:
        with prepare(plain_repo, config=docker_config) as box:
            result = box.run(py(code))
    finally:
        marker.unlink()
    seen, uid = result.stdout.rsplit(" ", 1)
    assert json.loads(seen) == [False, False, False, os.getcwd() == "/", False], result.stderr
    assert uid.strip() == "65534"


def test_deleting_every_file_leaves_the_checkout_unchanged(
    git_repo: tuple[Path, str], docker_config: SandboxConfig
) -> None:
    repo, _ = git_repo
    before = tree_digest(repo)
    with prepare(repo, config=docker_config) as box:
        result = box.run(["sh", "-c", "rm -rf /work/* /work/.[!.]* / 2>/dev/null; ls -A /work | wc -l"])
    assert result.stdout.strip() == "0"
    assert tree_digest(repo) == before


def test_huge_output_is_truncated_in_bounded_memory(plain_repo: Path, docker_config: SandboxConfig) -> None:
    megabytes = 300
    code = (
        "import sys\nw = sys.stdout.buffer.write\nw(b'FIRST-LINE\\n')\nchunk = b'x' * (1 << 20)\n"
        f"for _ in range({megabytes}):\n    w(chunk)\nw(b'\\nLAST-LINE\\n')\nsys.stderr.write('done\\n')"
    )
    with prepare(plain_repo, config=docker_config) as box:
        tracemalloc.start()
        try:
            result = box.run(py(code), timeout=120)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == megabytes * (1 << 20) + len("FIRST-LINE\n") + len("\nLAST-LINE\n")
    assert result.stdout_truncated and not result.stderr_truncated
    assert result.stdout.startswith("FIRST-LINE") and result.stdout.rstrip().endswith("LAST-LINE")
    assert len(result.stdout) < docker_config.output_cap_bytes + 100
    assert peak < 32 * (1 << 20), f"peak {peak / 2**20:.1f} MiB while streaming {megabytes} MiB"
    assert result.stderr == "done\n"


def test_runs_go_in_parallel(plain_repo: Path, docker_config: SandboxConfig) -> None:
    results: list[Any] = []
    with prepare(plain_repo, config=docker_config) as box:
        threads = [threading.Thread(target=lambda i=i: results.append(box.run(py(f"print({i})")))) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(r.stdout.strip() for r in results) == ["0", "1", "2"]


def test_ctrl_c_removes_the_container(plain_repo: Path, docker_config: SandboxConfig, docker_client: Any) -> None:
    label = uuid.uuid4().hex
    cfg = docker_config.model_copy(update={"labels": {**docker_config.labels, "org.healcrew.ctrlc": label}})
    script = (
        "import sys\nfrom sandbox import SandboxConfig, prepare\n"
        f"cfg = SandboxConfig.model_validate_json({cfg.model_dump_json()!r})\n"
        f"with prepare({str(plain_repo)!r}, config=cfg) as box:\n"
        "    box.run(['sleep', '60'], timeout=60)\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stderr=subprocess.PIPE, text=True)

    def mine() -> list[Any]:
        return docker_client.api.containers(all=True, filters={"label": f"org.healcrew.ctrlc={label}"})

    stderr = ""
    try:
        deadline = time.monotonic() + 30
        while not mine() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mine(), "the sandbox container never appeared"
        time.sleep(0.5)  # let it reach the command
        proc.send_signal(signal.SIGINT)  # as Ctrl-C would
        _, stderr = proc.communicate(timeout=30)
        left = mine()
    finally:
        if proc.poll() is None:  # never SIGKILL first: that is the one signal no cleanup survives
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for leftover in mine():  # keep the engine clean even when the assertion below fails
            docker_client.api.remove_container(leftover["Id"], force=True)
    assert "KeyboardInterrupt" in stderr
    assert left == []
