"""One stage of ``crew.flow`` on handoff records in files: what each Workflow step runs.

The records cross between steps as ``FlowState`` JSON, the form the CrewAI Flow and the
service's stage processes already carry them in, so a step is the same code as a local run,
not a fork of it. A stage that fails on its input records why in the state and the step still
succeeds: the later steps skip, as in a local run, and the report says where it stopped. Only
a broken step (unreadable input, a crash) exits non-zero, which is what Argo retries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crew.errors import BadInputError

STAGES = ("monitor", "diagnose", "repair", "reflect", "deliver", "canary")
"""The steps of the DAG, in order (reflection's critique is made inside the repair loop, see ``reflect``)."""


def _state(path: Path) -> Any:
    from pydantic import ValidationError

    from crew.flow import FlowState

    try:
        return FlowState.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        raise BadInputError(f"{path} is not a flow state: {exc.errors()[0]['msg']}") from None


def monitor(src: Path, out_dir: str | None = None, repo: str | None = None) -> Any:
    """Monitoring for the ``Incident`` JSON in ``src``: a new ``FlowState`` (repair on, as the service runs)."""
    from pydantic import ValidationError

    from crew.flow import FlowState, Stages
    from crew.handoffs import Incident

    try:
        incident = Incident.model_validate_json(src.read_bytes())
    except OSError as exc:
        raise BadInputError(f"cannot read {src}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        raise BadInputError(f"{src} is not an incident: {exc.errors()[0]['msg']}") from None
    if repo is not None:
        incident.repo = repo
    state = FlowState(id=incident.correlation_id or incident.id, incident=incident, repair_enabled=True,
                      out_dir=out_dir)
    Stages(state).monitoring()
    return state


SANDBOXES = ("docker", "process", "kubernetes", "auto")
"""What ``--sandbox`` of a step may name; the Workflow's repair step names ``kubernetes``."""


def run_stage(name: str, src: Path, delivery: dict[str, Any] | None = None, out_dir: str | None = None,
              repo: str | None = None, sandbox: str | None = None, canary: dict[str, Any] | None = None) -> Any:
    """Run stage ``name`` on the record in ``src``; the resulting ``FlowState``.

    ``repo`` replaces the incident's repository path: a step clones it into its own scratch folder.
    ``sandbox`` replaces the backend the state carries (a step in a cluster has no Docker engine).
    """
    from crew.flow import Stages

    if sandbox is not None and sandbox not in SANDBOXES:
        raise BadInputError(f"--sandbox must be {', '.join(SANDBOXES[:-1])} or auto, not {sandbox!r}")
    if name == "monitor":
        state = monitor(src, out_dir, repo)
        if sandbox is not None:
            state.sandbox = sandbox
        return state
    if name not in STAGES:
        raise BadInputError(f"unknown stage {name!r}; one of {', '.join(STAGES)}")
    state = _state(src)
    if repo is not None and state.incident is not None:
        state.incident.repo = repo
    if sandbox is not None:
        state.sandbox = sandbox
    stages = Stages(state)
    if name == "diagnose":
        stages.diagnostic()
    elif name == "repair":
        stages.repair()  # Repair → Sandbox → Reflection, the bounded revise loop of crew.flow
    elif name == "reflect":
        pass  # the critique is already in the attempts; this step publishes the report and its verdict
    elif name == "deliver":
        if delivery is None:
            raise BadInputError("the deliver stage needs the delivery settings (--delivery)")
        config = dict(delivery)
        state.deliver = str(config.pop("forge", "local"))
        state.delivery_config = config
        if out_dir is not None:
            state.out_dir = out_dir
        stages.delivery()
    elif name == "canary":
        _canary(state, canary)
        stages.canary()
    return state


def _canary(state: Any, canary: dict[str, Any] | None) -> None:
    """Set the canary the service planned (it asked the policy) on the delivered state."""
    from crew.canary.after_delivery import planned_canary

    if canary is None:
        raise BadInputError("the canary stage needs the canary settings (--canary)")
    backend = canary.get("backend")
    if backend not in ("local", "argo"):
        raise BadInputError(f"--canary backend must be local or argo, not {backend!r}")
    planned_canary(state, backend, canary.get("time_scale"), canary.get("argo"))


def outputs(state: Any) -> dict[str, str]:
    """The small facts a step exposes as output parameters (for ``when`` conditions and the service)."""
    from crew.flow import to_report

    groups = state.evidence.groups if state.evidence is not None else []
    found: dict[str, str] = {
        "signature": groups[0].signature if groups else "",
        "stopped_at": state.stopped_at or "",
    }
    if state.incident is not None:
        report = to_report(state)
        found["outcome"] = report.outcome
        critique = state.accepted.critique if state.accepted is not None else None
        found["verdict"] = critique.verdict if critique is not None else ""
    return found


def write(state: Any, out: Path, params_dir: Path | None = None) -> None:
    """Write ``state`` to ``out`` and, when asked, each output parameter to a file of its own."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(state.model_dump_json(), encoding="utf-8")
    if params_dir is not None:
        params_dir.mkdir(parents=True, exist_ok=True)
        for key, value in outputs(state).items():
            (params_dir / key).write_text(value, encoding="utf-8")


def report_json(state: Any) -> str:
    """The public (secrets masked) ``RunReport`` of ``state``, as the local service writes it."""
    from crew.flow import to_report
    from crew.report import public

    return str(public(to_report(state)).model_dump_json(indent=2))


def json_object_arg(text: str | None, option: str) -> dict[str, Any] | None:
    """``--delivery`` (forge plus DeliveryConfig fields) or ``--canary`` JSON, checked to be an object."""
    if text is None or text == "":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{option} is not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise BadInputError(f"{option} must be a JSON object")
    return value
