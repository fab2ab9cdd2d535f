"""A loopback Argo Server for the executor's contract tests: the API healcrew calls, and a tiny controller.

The Argo Server endpoints healcrew uses answer as Argo documents them (create, get, set,
stop, artifacts; 409 for a name that exists; the objects validate as Hera's models). The
controller walks the DAG's ``depends`` in order and runs each Pod step's real command,
``healcrew stage ...``, as a subprocess of this interpreter (``python -m crew.cli``), with
the step's scratch folder mapped to a temp folder and its artifacts and parameters passed as
Argo would. So the records it produces are made by the same code a cluster's pods would run.
Faults are injected per step: ``evict`` makes attempts end in ``Error`` (a lost pod; retried),
``corrupt`` hands a step a broken input (it fails for real; not retried). A step that asks for
the pod sandbox (``--sandbox kubernetes``) gets the Docker one here: this controller makes no
pods, and the pod sandbox has tests of its own (``tests/deploy/test_pod_sandbox.py``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from crew.workflows.build import SCRATCH
from tests.replay_server import Reply, Request

ROOT = Path(__file__).resolve().parents[2]
FINISHED = ("Succeeded", "Failed", "Error")


def _json(status: int, body: Any) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class FakeArgo:
    """Holds Workflows by namespace/name and runs each one in a thread."""

    def __init__(self, evict: dict[str, int] | None = None, corrupt: set[str] | None = None,
                 step_timeout: float = 120.0) -> None:
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.files: dict[tuple[str, str, str], Path] = {}
        self.evict, self.corrupt = dict(evict or {}), set(corrupt or ())
        self.lock = threading.RLock()
        self.resumed: dict[str, threading.Event] = {}
        self.created = 0
        self.step_timeout = step_timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="fake-argo-"))
        self.commands: list[list[str]] = []

    # ------------------------------------------------------------------ the API
    def __call__(self, req: Request) -> Reply:
        m = re.fullmatch(r"/api/v1/workflows/([^/]+)(?:/([^/]+))?(?:/(set|stop|resume))?", req.path)
        if m:
            ns, name, action = m.groups()
            if req.method == "POST" and name is None:
                return self._create(ns, json.loads(req.body))
            with self.lock:
                wf = self.workflows.get((ns, name or ""))
            if wf is None:
                return _json(404, {"code": 5, "message": f'workflows.argoproj.io "{name}" not found'})
            if req.method == "GET" and action is None:
                with self.lock:
                    return _json(200, wf)
            if req.method == "PUT" and action == "set":
                return self._set(wf, json.loads(req.body))
            if req.method == "PUT" and action == "stop":
                return self._stop(wf, json.loads(req.body or b"{}"))
        m = re.fullmatch(r"/artifacts/([^/]+)/([^/]+)/([^/]+)/([^/]+)", req.path)
        if m and req.method == "GET":
            path = self.files.get((m.group(2), m.group(3), m.group(4)))
            if path is None or not path.is_file():
                return _json(404, {"code": 5, "message": "artifact not found"})
            return 200, {"Content-Type": "application/octet-stream"}, path.read_bytes()
        return _json(404, {"code": 5, "message": f"no route {req.method} {req.path}"})

    def _create(self, ns: str, body: dict[str, Any]) -> Reply:
        from hera.workflows.models import Workflow

        wf = body["workflow"]
        try:
            Workflow.model_validate(wf)  # what the Argo Server's schema would refuse, this refuses
        except Exception as exc:
            return _json(400, {"code": 3, "message": str(exc).splitlines()[0]})
        name = wf["metadata"]["name"]
        with self.lock:
            if (ns, name) in self.workflows:
                return _json(409, {"code": 6, "message": f'workflows.argoproj.io "{name}" already exists'})
            wf["metadata"].update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now())
            wf["status"] = {"phase": "Running", "startedAt": _now(), "nodes": {}}
            self.workflows[(ns, name)] = wf
            self.resumed[name] = threading.Event()
            self.created += 1
        threading.Thread(target=self._run, args=(wf,), daemon=True).start()
        return _json(200, wf)

    def _set(self, wf: dict[str, Any], body: dict[str, Any]) -> Reply:
        selector = body.get("nodeFieldSelector", "")
        want = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        with self.lock:
            for node in wf["status"]["nodes"].values():
                if node.get("type") == "Suspend" and node.get("displayName") == want.get("displayName"):
                    params = json.loads(body.get("outputParameters") or "{}")
                    node["outputs"] = {"parameters": [{"name": k, "value": v} for k, v in params.items()]}
                    node["phase"], node["message"] = body.get("phase", "Succeeded"), body.get("message", "")
                    node["finishedAt"] = _now()
                    self.resumed[wf["metadata"]["name"]].set()
            return _json(200, wf)

    def _stop(self, wf: dict[str, Any], body: dict[str, Any]) -> Reply:
        with self.lock:
            status = wf["status"]
            if status["phase"] not in FINISHED:
                status["phase"], status["finishedAt"] = "Failed", _now()
                status["message"] = "Stopped with strategy 'Stop'" + (f": {body['message']}" if body.get("message")
                                                                         else "")
                for node in status["nodes"].values():
                    if node["phase"] == "Running":
                        node["phase"], node["message"] = "Failed", "workflow shutdown with strategy: Stop"
            self.resumed[wf["metadata"]["name"]].set()
            return _json(200, wf)

    # ------------------------------------------------------------------ the controller
    def _node(self, wf: dict[str, Any], display: str, type_: str, template: str, phase: str = "Running",
              **extra: Any) -> dict[str, Any]:
        name = wf["metadata"]["name"]
        node_id = f"{name}-{abs(hash((display, time.monotonic_ns()))) % 10**10}"
        node = {"id": node_id, "name": f"{name}.{display}", "displayName": display, "type": type_,
                "templateName": template, "phase": phase, "startedAt": _now(), **extra}
        with self.lock:
            wf["status"]["nodes"][node_id] = node
        return node

    def _finish(self, node: dict[str, Any], phase: str, message: str = "") -> None:
        with self.lock:
            node["phase"], node["finishedAt"] = phase, _now()
            if message:
                node["message"] = message

    def _run(self, wf: dict[str, Any]) -> None:
        spec, name = wf["spec"], wf["metadata"]["name"]
        templates = {t["name"]: t for t in spec["templates"]}
        dag = templates[spec["entrypoint"]]["dag"]["tasks"]
        root = self._node(wf, name, "DAG", spec["entrypoint"])
        done: dict[str, dict[str, Any]] = {}
        params = {p["name"]: p.get("value", "") for p in spec.get("arguments", {}).get("parameters", [])}
        pending = list(dag)
        while pending:
            with self.lock:
                if wf["status"]["phase"] in FINISHED:
                    return
            ready = next(t for t in pending if all(
                d.strip() in done for d in (t.get("depends") or "").split("&&") if d.strip()))
            pending.remove(ready)
            if "when" in ready and not _when(_subst(ready["when"], done, params)):
                done[ready["name"]] = self._node(wf, ready["name"], "Skipped", ready["template"], phase="Skipped",
                                                 message=f"when '{ready['when']}' evaluated false")
                continue
            node = self._task(wf, ready, templates[ready["template"]], done, params)
            if node["phase"] != "Succeeded":
                with self.lock:
                    if wf["status"]["phase"] not in FINISHED:
                        wf["status"]["phase"], wf["status"]["finishedAt"] = "Failed", _now()
                        wf["status"]["message"] = f"child '{node['id']}' failed"
                    self._finish(root, "Failed")
                return
            done[ready["name"]] = node
        with self.lock:
            self._finish(root, "Succeeded")
            wf["status"]["phase"], wf["status"]["finishedAt"] = "Succeeded", _now()

    def _task(self, wf: dict[str, Any], task: dict[str, Any], template: dict[str, Any],
              done: dict[str, dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
        name = wf["metadata"]["name"]
        if "suspend" in template:
            node = self._node(wf, task["name"], "Suspend", template["name"])
            self.resumed[name].wait(self.step_timeout)
            return node
        args = {a["name"]: a for a in (task.get("arguments") or {}).get("artifacts", [])}
        values = {p["name"]: _subst(p.get("value", ""), done, params)
                  for p in (task.get("arguments") or {}).get("parameters", [])}
        limit = int((template.get("retryStrategy") or {}).get("limit") or 0)
        retry = self._node(wf, task["name"], "Retry", template["name"], children=[]) if limit else None
        for attempt in range(limit + 1):
            display = f"{task['name']}({attempt})" if retry is not None else task["name"]
            pod = self._node(wf, display, "Pod", template["name"])
            if retry is not None:
                retry["children"].append(pod["id"])
            if self.evict.get(task["name"], 0) > 0:
                self.evict[task["name"]] -= 1
                self._finish(pod, "Error", "pod deleted")  # what a lost node or an eviction looks like
                if retry is not None and attempt < limit:
                    continue
                break
            self._pod(wf, pod, template, args, values, done, params)
            if pod["phase"] == "Succeeded" or pod["phase"] == "Failed":
                break  # OnError: a step that failed on its own is not retried
        if retry is not None:
            self._finish(retry, pod["phase"], pod.get("message", ""))
            retry["outputs"] = pod.get("outputs", {})
            for (wf_name, node_id, artifact), path in list(self.files.items()):
                if node_id == pod["id"]:
                    self.files[(wf_name, retry["id"], artifact)] = path
            return retry
        return pod

    def _pod(self, wf: dict[str, Any], pod: dict[str, Any], template: dict[str, Any], args: dict[str, Any],
             values: dict[str, str], done: dict[str, dict[str, Any]], params: dict[str, str]) -> None:
        name = wf["metadata"]["name"]
        scratch = self.tmp / pod["id"]
        scratch.mkdir(parents=True)
        local = lambda p: str(scratch / Path(p).relative_to(SCRATCH))  # noqa: E731
        for art in (template.get("inputs") or {}).get("artifacts", []):
            target = Path(local(art["path"]))
            if "raw" in art:
                target.write_text(_subst(art["raw"]["data"], done, params), encoding="utf-8")
            elif "git" in art:
                raise AssertionError("the replay runs repos from paths, not git artifacts")
            else:
                source = args[art["name"]]["from"]
                m = re.fullmatch(r"\{\{tasks\.([^.]+)\.outputs\.artifacts\.([^}]+)\}\}", source)
                assert m, source
                producer = done[m.group(1)]
                target.write_bytes(self.files[(name, producer["id"], m.group(2))].read_bytes())
            if template["name"] in self.corrupt:
                target.write_text("{not json", encoding="utf-8")
        container = template["container"]
        inputs = dict(values)
        argv = [re.sub(r"\{\{inputs\.parameters\.([^}]+)\}\}", lambda m: inputs[m.group(1)], a)
                for a in container.get("args", [])]
        argv = [local(a) if a.startswith(SCRATCH) else a for a in argv]
        argv = ["docker" if a == "kubernetes" and argv[i - 1] == "--sandbox" else a for i, a in enumerate(argv)]
        assert container["command"] == ["healcrew"], container["command"]
        command = [sys.executable, "-m", "crew.cli", *argv]
        self.commands.append(argv)
        env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
        import os

        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=self.step_timeout,
                              env={**os.environ, **env})
        outputs: dict[str, Any] = {"parameters": [], "artifacts": []}
        for p in (template.get("outputs") or {}).get("parameters", []):
            source = Path(local(p["valueFrom"]["path"]))
            value = source.read_text(encoding="utf-8") if source.is_file() else p["valueFrom"].get("default", "")
            outputs["parameters"].append({"name": p["name"], "value": value})
        for a in (template.get("outputs") or {}).get("artifacts", []):
            source = Path(local(a["path"]))
            if source.is_file():
                self.files[(name, pod["id"], a["name"])] = source
                outputs["artifacts"].append({"name": a["name"], "path": a["path"]})
        with self.lock:
            pod["outputs"] = outputs
        if proc.returncode == 0:
            self._finish(pod, "Succeeded")
        else:
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            self._finish(pod, "Failed", f"Error (exit code {proc.returncode}): {last}")


def _when(expression: str) -> bool:
    """Argo's ``when`` for the one form the Workflow uses: ``word == word`` or ``word != word``."""
    m = re.fullmatch(r"\s*(\S+)\s*(==|!=)\s*(\S+)\s*", expression)
    assert m, f"the replay evaluates only a == b and a != b, not {expression!r}"
    return (m.group(1) == m.group(3)) == (m.group(2) == "==")


def _subst(text: str, done: dict[str, dict[str, Any]], params: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref.startswith("workflow.parameters."):
            return params[ref.removeprefix("workflow.parameters.")]
        t = re.fullmatch(r"tasks\.([^.]+)\.outputs\.parameters\.(.+)", ref)
        if t:
            node = done[t.group(1)]
            return next(p["value"] for p in node.get("outputs", {}).get("parameters", []) if p["name"] == t.group(2))
        raise AssertionError(f"unknown reference {ref}")
    return re.sub(r"\{\{([^}]+)\}\}", one, text)
