"""A recording pipeline and app factory for the service tests (the real stages are tested elsewhere)."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

from crew.handoffs import Incident
from crew.policy.repair_policy import PolicyDecision
from crew.service.app import create_app
from crew.service.auth import Secrets
from crew.service.config import ServiceConfig
from crew.service.store import Store
from crew.service.worker import Outcome

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP_ALERT = ROOT / "examples" / "incidents" / "pricing-zero-division" / "alert.json"


class RecordingPipeline:
    """Counts runs and deliveries; ``signature`` is what monitoring reports."""

    def __init__(self, signature: str | None = "sig-1", outcome: str = "fixed", gate: threading.Event | None = None):
        self.signature, self.outcome, self.gate = signature, outcome, gate
        self.monitored: list[str] = []
        self.delivered: list[str] = []
        self.delivery_configs: list[dict[str, Any]] = []

    def monitor(self, incident: Incident) -> tuple[Any, str | None]:
        if self.gate is not None:
            self.gate.wait(10)
        self.monitored.append(incident.correlation_id)
        return incident, self.signature

    def finish(self, handle: Any) -> Outcome:
        return Outcome(outcome=self.outcome, summary=f"run {self.outcome}", report=handle)

    def deliver(self, handle: Any, forge: str, config: dict[str, Any]) -> tuple[str | None, str, bool]:
        self.delivered.append(handle.correlation_id)
        self.delivery_configs.append(dict(config))
        return f"bundle://{handle.id}", "delivered", False


class Decisions:
    """Answers ``action`` and records the attempts count it was given."""

    def __init__(self, action: str = "deliver") -> None:
        self.action = action
        self.seen: list[int] = []

    def __call__(self, policy: Any, report: Any, *, attempts_last_hour: int) -> PolicyDecision:
        self.seen.append(attempts_last_hour)
        return PolicyDecision(action=self.action, reasons=[f"test says {self.action}"])  # type: ignore[arg-type]


def config(tmp_path: Path, **top: Any) -> ServiceConfig:
    return ServiceConfig.model_validate({"services": [{
        "name": "pricing-service", "repo": {"path": str(tmp_path)}, "logs": {"file": str(tmp_path / "x.log")},
    }], **top})


def make(tmp_path: Path, pipeline: Any, *, public_url: str | None = None, **kw: Any) -> Any:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    kw.setdefault("check_docker", False)
    kw.setdefault("decider", Decisions())
    top = {"public_url": public_url} if public_url else {}
    return create_app(store, config(tmp_path, **top), Secrets(token=TOKEN, hmac_key="k3y"), pipeline, **kw)


def alert_payload(fingerprint: str = "fp1", status: str = "firing", **labels: str) -> dict[str, Any]:
    body = json.loads(FLAGSHIP_ALERT.read_text())
    body = copy.deepcopy(body)
    body["status"] = status
    for a in body["alerts"]:
        a["fingerprint"], a["status"] = fingerprint, status
        a["labels"].update(labels)
    return body
