"""Runs INSIDE the sandbox: call a repo function with candidate inputs and report what happened.

This file is copied into the sandbox as a script and must not import healcrew. It reads a JSON
spec (module, function, argument tuples as Python expressions, the fault frame) and reports, for
each input by its index in the spec, the exception raised and the frame that raised it, or the
repr and type of the result. Reproduction uses it to find the input that raises the diagnosed
exception in the fault frame (the EvoCrash fitness: same type, same frame); the differential
check uses it to compare original and patched results on the other inputs.

How the results reach healcrew, and what repo code can and cannot do about it
-------------------------------------------------------------------------------
Run as ``python -I -S probe.py SPEC KEYFILE``. The probe is two processes:

- The *parent* never imports repo code. ``-I`` keeps ``PYTHONPATH``, the user site, and the
  script's own folder (which the repo could fill with a ``sitecustomize.py``) off ``sys.path``;
  ``-S`` skips ``site``, so no ``.pth`` file of an installed dependency runs in it. It marks
  itself non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``; without that it stops), forks the worker,
  and only then reads the run's key from KEYFILE and deletes the file.
- The *worker* waits until the parent holds the key and the file is gone, then sets up ``site``,
  imports the repo and runs the calls. Its stdout is pointed at stderr, and it sends one JSON
  line per input on a pipe to the parent.
- The parent prints what the worker sent once, base64-encoded, with an HMAC-SHA256 tag under
  the key, between the markers. Healcrew ignores any block whose tag does not verify.

Repo code runs only in the worker and in processes started after the probe. It cannot read the
key: the key file is deleted before the worker goes on, and without ``CAP_SYS_PTRACE`` (the
sandbox drops every capability) a process cannot read a non-dumpable process's memory, fds or
environment under ``/proc``, or trace it. The key is never in the worker's memory (it is read
after the fork) nor on a command line. So a block printed by repo code -- at import, in a call,
from an ``atexit`` hook, a child process or the repo's own tests run later in the container --
is ignored. What the key does NOT make trustworthy is the content: repo code in the worker can
write anything on the result pipe, since it runs there. That is why healcrew treats every
entry as untrusted data: entries name inputs by index into the list healcrew sent, healcrew
renders only its own inputs, and exception names and messages are capped and only compared.
"""

import ast
import asyncio
import base64
import contextlib
import hashlib
import hmac
import importlib
import inspect
import json
import math
import os
import select
import signal
import sys
import time
import traceback
from typing import Any

BEGIN, END = "<<<HEALCREW-PROBE", "HEALCREW-PROBE>>>"
MAX_PAYLOAD = 4 << 20  # bytes the parent relays; the worker's entries are capped well below this
_PR_SET_DUMPABLE = 4


class _CallTimeout(BaseException):
    pass


def _alarm(_signum, _frame):
    raise _CallTimeout()


# ----------------------------------------------------------------------------- the worker


def _namespace(module, imports):
    """Names an input expression may use: the target module's, plus the classes it needs."""
    from types import SimpleNamespace

    namespace = {"SimpleNamespace": SimpleNamespace}
    namespace.update(vars(module))
    for name, where in imports.items():
        with contextlib.suppress(Exception):  # a missing helper only skips the inputs that use it
            namespace[name] = getattr(importlib.import_module(where), name)
    return namespace


def _value(source, namespace):
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return eval(source, dict(namespace))  # healcrew's own constructor expressions, inside the sandbox


def _describe(value):
    text = repr(value)
    if len(text) > 300:
        text = text[:300] + "..."
    kind = type(value).__name__
    if isinstance(value, float) and not math.isfinite(value):
        kind = "float-nonfinite"
    return text, kind


def _raising_frame(exc, fault_path):
    frames = traceback.extract_tb(exc.__traceback__)
    in_repo = [f for f in frames if f.filename.replace("\\", "/").endswith(fault_path)]
    last = in_repo[-1] if in_repo else (frames[-1] if frames else None)
    if last is None:
        return None
    return {"file": last.filename[:500], "line": last.lineno or 0, "function": last.name[:200]}


def _failure(entry, exc, spec):
    entry["error"] = type(exc).__name__[:200]
    try:
        entry["message"] = str(exc)[:300]
    except BaseException:  # a __str__ that raises is still a crash to report
        entry["message"] = ""
    entry["frame"] = _raising_frame(exc, spec["fault_path"])


def _http_client(spec):
    """A test client that lets the handler's exception propagate (Flask or FastAPI)."""
    route = spec["route"]
    name = route["app_name"]
    app = getattr(importlib.import_module(route["app_module"]), name.removesuffix("()"))
    if name.endswith("()"):  # an app factory
        app = app()
    if route["framework"] == "flask":
        app.config.update(TESTING=True, PROPAGATE_EXCEPTIONS=True)
        return app.test_client()
    from fastapi.testclient import TestClient

    return TestClient(app)


def _probe_http(spec, send):
    try:
        client = _http_client(spec)
    except BaseException as exc:  # report why no request could be sent
        failed: dict[str, Any] = {"index": None}
        _failure(failed, exc, spec)
        send(failed)
        return
    method = spec["route"]["method"].lower()
    for index, args_src in enumerate(spec.get("inputs", [])):
        entry: dict[str, Any] = {"index": index}
        path, body = ast.literal_eval(args_src[0]), ast.literal_eval(args_src[1])
        try:
            kwargs = {} if body is None else {"json": json.loads(body)}
            response = getattr(client, method)(path, **kwargs)
            text = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
            entry["result"], entry["type"] = f"{response.status_code} {text[:200]}", "response"
        except BaseException as exc:
            _failure(entry, exc, spec)
        send(entry)


def _probe_calls(spec, send):
    namespace: dict = {}
    target: Any = None
    try:
        module = importlib.import_module(spec["module"])
        target = module
        for part in spec["function"].split("."):
            target = getattr(target, part)
        namespace = _namespace(module, spec.get("imports", {}))
    except BaseException as exc:  # report the import failure itself as the outcome
        failed: dict[str, Any] = {"index": None}
        _failure(failed, exc, spec)
        send(failed)
        return
    signal.signal(signal.SIGALRM, _alarm)
    for index, args_src in enumerate(spec.get("inputs", [])):
        entry: dict[str, Any] = {"index": index}
        try:
            args = [_value(a, namespace) for a in args_src]
        except Exception as exc:  # an input we could not build is skipped, not fatal
            entry["skipped"] = f"cannot build input: {type(exc).__name__}"
            send(entry)
            continue
        signal.alarm(int(spec.get("per_call_timeout", 2)))
        try:
            value = target(*args)
            if spec.get("is_async") or inspect.iscoroutine(value):
                value = asyncio.run(value)
            entry["result"], entry["type"] = _describe(value)
        except _CallTimeout:
            entry["error"] = "Timeout"
        except BaseException as exc:
            _failure(entry, exc, spec)
        finally:
            signal.alarm(0)
        send(entry)


def _worker(spec, go_fd, out_fd):
    """Wait for the parent to hold the key, then import the repo and run the calls."""
    os.dup2(2, 1)  # whatever repo code prints goes to stderr, never to the stream the parent signs
    if os.read(go_fd, 1) != b"g":
        os._exit(3)  # the parent failed to take the key: run nothing
    os.close(go_fd)
    import site

    site.main()  # the installed packages (and their .pth files) only now, after the key is gone
    sys.path.extend(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)  # -I ignored it
    for root in spec.get("sys_path", []):
        sys.path.insert(0, os.path.abspath(root))
    out = os.fdopen(out_fd, "w", encoding="utf-8")

    def send(entry):
        out.write(json.dumps(entry) + "\n")
        out.flush()

    try:
        (_probe_http if spec.get("mode") == "http" else _probe_calls)(spec, send)
    finally:
        out.close()


# ----------------------------------------------------------------------------- the parent


def _non_dumpable():
    """Keep processes of the same uid out of this one's memory and /proc entries."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


def _read_key(key_path):
    with open(key_path, "rb") as fh:
        key = bytes.fromhex(fh.read(200).decode("ascii").strip())
    os.unlink(key_path)
    if len(key) < 16:
        raise ValueError("probe key too short")
    return key


def _collect(read_fd, pid, deadline):
    """The worker's lines, until it exits (or the deadline passes: then it is killed)."""
    chunks, size, exited = [], 0, False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.5))
        if ready:
            data = os.read(read_fd, 65536)
            if not data:
                break
            if size < MAX_PAYLOAD:
                chunks.append(data[: MAX_PAYLOAD - size])
                size += len(chunks[-1])
        elif exited:
            break  # the worker is gone but something it started holds the pipe open
        if not exited and os.waitpid(pid, os.WNOHANG)[0] == pid:
            exited = True
    if not exited:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    payload = b"".join(chunks)
    return payload[: payload.rfind(b"\n") + 1]  # whole lines only


def main(spec_path, key_path):
    _non_dumpable()  # before anything else: a failure here means no results, not unsigned ones
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    go_read, go_write = os.pipe()
    out_read, out_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: the key is not in this process's memory, and never will be
        os.close(go_write)
        os.close(out_read)
        code = 0
        try:
            _worker(spec, go_read, out_write)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)  # no atexit hooks of repo code
    os.close(go_read)
    os.close(out_write)
    try:
        key = _read_key(key_path)
    except BaseException:
        os.close(go_write)  # the worker sees EOF and runs nothing
        os.waitpid(pid, 0)
        raise
    os.write(go_write, b"g")
    os.close(go_write)
    inputs = len(spec.get("inputs", []))
    deadline = time.monotonic() + 30 + inputs * (int(spec.get("per_call_timeout", 2)) + 1)
    payload = _collect(out_read, pid, deadline)
    tag = hmac.new(key, payload, hashlib.sha256).hexdigest()
    sys.stdout.write(f"\n{BEGIN}\n{tag} {base64.b64encode(payload).decode('ascii')}\n{END}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
