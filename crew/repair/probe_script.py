"""Runs INSIDE the sandbox: call a repo function with candidate inputs and report what happened.

This file is copied into the sandbox as a script and must not import healcrew. It reads a JSON
spec (module, function, argument tuples as Python literals, the fault frame) and prints one
JSON document between markers: for each input, the exception raised and the frame that raised
it, or the repr and type of the result. Reproduction uses it to find the input that raises the
diagnosed exception in the fault frame (the EvoCrash fitness: same type, same frame); the
differential check uses it to compare original and patched results on the other inputs.
"""

import ast
import asyncio
import contextlib
import importlib
import inspect
import json
import math
import os
import signal
import sys
import traceback
from typing import Any

BEGIN, END = "<<<HEALCREW-PROBE", "HEALCREW-PROBE>>>"


class _CallTimeout(BaseException):
    pass


def _alarm(_signum, _frame):
    raise _CallTimeout()


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
        return eval(source, dict(namespace))  # runs only inside the sandbox


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
    return {"file": last.filename, "line": last.lineno, "function": last.name}


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


def _probe_http(spec):
    results = []
    try:
        client = _http_client(spec)
    except BaseException as exc:  # report why no request could be sent
        return [{"args": None, "error": type(exc).__name__, "message": str(exc)[:300]}]
    method = spec["route"]["method"].lower()
    for args_src in spec.get("inputs", []):
        entry = {"args": args_src}
        path, body = ast.literal_eval(args_src[0]), ast.literal_eval(args_src[1])
        try:
            kwargs = {} if body is None else {"json": json.loads(body)}
            response = getattr(client, method)(path, **kwargs)
            text = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
            entry["result"], entry["type"] = f"{response.status_code} {text[:200]}", "response"
        except BaseException as exc:
            entry["error"] = type(exc).__name__
            entry["message"] = str(exc)[:300]
            entry["frame"] = _raising_frame(exc, spec["fault_path"])
        results.append(entry)
    return results


def main(spec_path):
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    for root in spec.get("sys_path", []):
        sys.path.insert(0, os.path.abspath(root))
    if spec.get("mode") == "http":
        sys.stdout.write(f"\n{BEGIN}\n{json.dumps(_probe_http(spec))}\n{END}\n")
        return
    results: list[dict] = []
    namespace: dict = {}
    target: Any = None
    try:
        module = importlib.import_module(spec["module"])
        target = module
        for part in spec["function"].split("."):
            target = getattr(target, part)
        namespace = _namespace(module, spec.get("imports", {}))
    except BaseException as exc:  # report the import failure itself as the outcome
        results.append({"args": None, "error": type(exc).__name__, "message": str(exc)[:300],
                        "frame": _raising_frame(exc, spec["fault_path"])})
        target = None
    signal.signal(signal.SIGALRM, _alarm)
    for args_src in spec.get("inputs", []) if target is not None else []:
        entry = {"args": args_src}
        try:
            args = [_value(a, namespace) for a in args_src]
        except Exception as exc:  # an input we could not build is skipped, not fatal
            entry["skipped"] = f"cannot build input: {type(exc).__name__}: {exc}"
            results.append(entry)
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
            entry["error"] = type(exc).__name__
            entry["message"] = str(exc)[:300]
            entry["frame"] = _raising_frame(exc, spec["fault_path"])
        finally:
            signal.alarm(0)
        results.append(entry)
    sys.stdout.write(f"\n{BEGIN}\n{json.dumps(results)}\n{END}\n")


if __name__ == "__main__":
    main(sys.argv[1])
