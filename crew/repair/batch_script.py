"""Runs INSIDE the sandbox: validate several candidates in one container, each in its own copy.

This file is copied into the sandbox as a script and must not import healcrew. Run as
``python -I -S batch.py SPEC KEYFILE`` in the prepared (unpatched) work dir. For each candidate,
in order, it copies the work dir to a scratch folder, writes the candidate's patched files there
(healcrew computed them on the host; no patch tool in the container is trusted), and runs in that
copy: the regression test alone; only if it passed, the repo's suite; then the differential probe.

Why the results can be trusted as far as healcrew trusts them, and no further
-----------------------------------------------------------------------------
- Like the probe's parent, this process never imports repo code (``-I -S``), marks itself
  non-dumpable, and reads and deletes KEYFILE (the batch key and one probe key per candidate)
  before any repo code runs. Each candidate's results go out as one block, zlib-compressed,
  base64-encoded and HMAC-tagged under the batch key; healcrew ignores a block whose tag does
  not verify, so repo code cannot add, drop or swap another candidate's verdict.
- A candidate's probe key is written to its copy only just before its probe runs; the probe
  deletes it before repo code runs. Every process left behind by earlier steps has been killed
  by then: after each step, every process that did not exist when this script started is killed
  (pids that exist at start are the container's init, its sleeper and this script), so nothing
  of the repo outlives its step, reads a later key, or touches a later copy.
- The JUnit reports and the probe's output are relayed raw: healcrew parses the XML with its
  hostile-input parser and verifies the probe block under its own key. What repo code prints is
  never read as a verdict here; the only decision taken in the container (run the suite only
  when the regression test's pytest exited 0) saves time and cannot make a candidate pass.
- With ``stop_after_pass`` the batch stops after the first candidate whose regression test's
  pytest exited 0 (its suite and probe still run); the others are reported as not started.
- Each step has its own timeout and runs in its own session; a step that hangs or kills its
  interpreter (``os._exit``, a segfault) costs that step's timeout, never the batch.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib

BEGIN, END = "<<<HEALCREW-BATCH", "HEALCREW-BATCH>>>"
MAX_REPORT = 16 << 20  # bytes of one JUnit report relayed
MAX_TEXT = 1 << 20  # bytes of a step's stdout relayed (the probe's block is in it)
TAIL = 2000  # bytes of a step's stderr kept, for the report's one-line reason
_PR_SET_DUMPABLE = 4


def _non_dumpable():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _read_keys(path):
    with open(path, "rb") as fh:
        keys = json.loads(fh.read(1 << 16).decode("ascii"))
    os.unlink(path)
    batch = bytes.fromhex(keys["batch"])
    if len(batch) < 16:
        raise ValueError("batch key too short")
    return batch, [str(k) for k in keys["probes"]]


def _pids():
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def _kill_leftovers(trusted):
    """Kill every process that was not there when the batch started, until none is left."""
    for _ in range(200):
        alive = [p for p in _pids() - trusted if not _zombie(p)]
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _inside(root, rel):
    target = os.path.realpath(os.path.join(root, rel))
    return target.startswith(os.path.realpath(root) + os.sep)


def _write(root, rel, text):
    if rel.startswith("/") or ".." in rel.split("/"):
        raise ValueError(f"refused path {rel!r}")
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.islink(path):
        os.unlink(path)
    if not _inside(root, rel):
        raise ValueError(f"{rel!r} leaves the copy")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _read_capped(path, cap):
    try:
        with open(path, "rb") as fh:
            return fh.read(cap)
    except OSError:
        return None


def _step(argv, cwd, env, timeout, junit, trusted, keep_stdout=False):
    """One command in the copy; what came back, raw (stdout only where it is read: the probe's)."""
    if junit:
        with contextlib.suppress(OSError):
            os.unlink(junit)
    out_path, err_path = "/tmp/.healcrew-step.out", "/tmp/.healcrew-step.err"
    start = time.monotonic()
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            timed_out, code = True, None
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    seconds = time.monotonic() - start
    _kill_leftovers(trusted)
    stdout = (_read_capped(out_path, MAX_TEXT) or b"") if keep_stdout else b""
    stderr = b""
    with contextlib.suppress(OSError), open(err_path, "rb") as fh:
        fh.seek(max(0, os.fstat(fh.fileno()).st_size - TAIL))
        stderr = fh.read(TAIL)
    report = _read_capped(junit, MAX_REPORT) if junit and not timed_out else None
    for path in (out_path, err_path):
        with contextlib.suppress(OSError):
            os.unlink(path)
    return {
        "exit_code": code, "timed_out": timed_out, "seconds": round(seconds, 3),
        "stdout": stdout.decode("utf-8", "replace"), "stderr": stderr.decode("utf-8", "replace"),
        "junit": base64.b64encode(report).decode("ascii") if report is not None else None,
    }


def _emit(key, payload):
    data = zlib.compress(json.dumps(payload).encode("utf-8"), 6)
    tag = hmac.new(key, data, hashlib.sha256).hexdigest()
    sys.stdout.write(f"\n{BEGIN}\n{tag} {base64.b64encode(data).decode('ascii')}\n{END}\n")
    sys.stdout.flush()


def _copy(work, dest):
    shutil.rmtree(dest, ignore_errors=True)
    skip = {".healcrew"}

    def ignore(folder, names):
        return [n for n in names if folder == work and n in skip]

    shutil.copytree(work, dest, symlinks=True, ignore=ignore)
    os.makedirs(os.path.join(dest, ".healcrew"), exist_ok=True)


def _candidate(index, cand, spec, probe_key, trusted, deadline):
    work, copy = os.getcwd(), os.path.join(spec["scratch"], f"c{index}")
    result = {"index": index, "steps": {}}
    try:
        _copy(work, copy)
        for rel, text in cand["files"].items():
            _write(copy, rel, text)
    except (OSError, ValueError) as exc:
        result["error"] = f"the copy could not be made: {type(exc).__name__}: {str(exc)[:200]}"
        shutil.rmtree(copy, ignore_errors=True)
        return result
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{copy}:{copy}/src"
    result["copy"] = copy
    junit = spec["junit"]

    def left():
        return deadline - time.monotonic()

    try:
        test = _step(spec["test"], copy, env, min(spec["test_timeout"], left()), junit, trusted)
        result["steps"]["test"] = test
        if test["exit_code"] != 0 or left() <= 1:
            return result
        result["steps"]["suite"] = _step(spec["suite"], copy, env, min(spec["suite_timeout"], left()), junit,
                                         trusted)
        probe = spec.get("probe")
        if probe and left() > 1:
            for rel, text in probe["files"].items():
                _write(copy, rel, text)
            _write(copy, probe["key_path"], probe_key)  # the probe deletes it before repo code runs
            result["steps"]["probe"] = _step(probe["argv"], copy, env, min(spec["probe_timeout"], left()), None,
                                             trusted, keep_stdout=True)
        return result
    finally:
        _kill_leftovers(trusted)
        shutil.rmtree(copy, ignore_errors=True)


def main(spec_path, key_path):
    _non_dumpable()  # before anything else: a failure here means no results, not unsigned ones
    trusted = _pids()  # init, the sleeper, this script: nothing of the repo has run yet
    key, probe_keys = _read_keys(key_path)
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    os.unlink(spec_path)
    deadline = time.monotonic() + float(spec["deadline"])
    os.makedirs(spec["scratch"], exist_ok=True)
    stopped = False
    for index, cand in enumerate(spec["candidates"]):
        if stopped:
            _emit(key, {"index": index, "stopped": True})
            continue
        if deadline - time.monotonic() < float(spec.get("min_left", 1.0)):
            _emit(key, {"index": index, "skipped": "the batch's time ran out before this candidate"})
            continue
        result = _candidate(index, cand, spec, probe_keys[index], trusted, deadline)
        _emit(key, result)
        # saves time only: healcrew judges the candidate and asks again for the rest if it must
        stopped = bool(spec.get("stop_after_pass")) and result["steps"].get("test", {}).get("exit_code") == 0


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
