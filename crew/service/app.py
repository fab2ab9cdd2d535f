"""The FastAPI app: the webhook, the incident API, health and metrics.

Only a database insert happens on the request path; workers do everything slow. Every route
that shows incident data wants the same credentials as the webhook.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from crew.errors import BadInputError
from crew.service.auditq import QueuedAudit
from crew.service.auth import Secrets, authorized
from crew.service.config import ServiceConfig
from crew.service.intake import fold
from crew.service.metrics import Metrics
from crew.service.store import IncidentRow, Store, aware
from crew.service.worker import Auditor, Decider, Pipeline, Workers, policy_decide
from crew.sources.alertmanager import MAX_PAYLOAD_BYTES, parse_webhook


class Problem(BaseModel):
    """A 4xx/5xx answer: one line saying why."""

    model_config = ConfigDict(extra="forbid")

    detail: str


class Accepted(BaseModel):
    """What the webhook did with each alert of the payload."""

    model_config = ConfigDict(extra="forbid")

    incidents: list[str] = Field(description="Incident ids the alerts landed in, in payload order.")
    actions: list[str] = Field(
        description="created, deduplicated, requeued, cancelled, rejected or ignored, per alert.")


class AlertOut(BaseModel):
    """One alert folded into an incident."""

    model_config = ConfigDict(extra="forbid")

    fingerprint: str
    alertname: str
    status: str
    received: int
    labels: dict[str, str]
    first_seen: datetime | None
    last_seen: datetime | None


class IncidentOut(BaseModel):
    """An incident as the API shows it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    service: str
    status: str
    stage: str | None
    outcome: str | None
    reason: str | None
    signature: str | None
    folded_into: str | None
    report_path: str | None
    summary: str | None
    pr_url: str | None
    approved_by: str | None
    created_at: datetime | None
    updated_at: datetime | None
    alerts: list[AlertOut] = Field(default_factory=list)


class IncidentPage(BaseModel):
    """One page of incidents, newest first."""

    model_config = ConfigDict(extra="forbid")

    total: int
    offset: int
    limit: int
    items: list[IncidentOut]


class Approval(BaseModel):
    """Who approves an incident waiting for a human."""

    model_config = ConfigDict(extra="forbid")

    approver: str = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)


class Health(BaseModel):
    """Liveness or readiness, with each check's result."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] = Field(default_factory=dict)


def _public(text: str | None) -> str | None:
    """Run text (log and sandbox output can reach it) with secrets masked before it leaves."""
    from crew.report import public_text

    return None if text is None else public_text(text)


def _out(row: IncidentRow, with_alerts: bool) -> IncidentOut:
    alerts = [AlertOut(fingerprint=a.fingerprint, alertname=a.alertname, status=a.status, received=a.received,
                       labels=dict(a.labels or {}), first_seen=aware(a.first_seen), last_seen=aware(a.last_seen))
              for a in row.alerts] if with_alerts else []
    return IncidentOut(
        id=row.id, service=row.service, status=row.status, stage=row.stage, outcome=row.outcome,
        reason=_public(row.reason), signature=row.signature, folded_into=row.folded_into,
        report_path=row.report_path, summary=_public(row.summary),
        pr_url=row.pr_url, approved_by=row.approved_by, created_at=aware(row.created_at),
        updated_at=aware(row.updated_at), alerts=alerts,
    )


def _docker_ok() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure to reach the engine means not ready
        return False


class CachedCheck:
    """A slow readiness check run at most once per ``ttl`` seconds, so probes every second stay cheap."""

    def __init__(self, check: Callable[[], bool], ttl: float = 10.0) -> None:
        self.check, self.ttl = check, ttl
        self.lock = threading.Lock()
        self.value, self.at = False, float("-inf")

    def __call__(self) -> bool:
        with self.lock:
            if time.monotonic() - self.at >= self.ttl:
                self.value, self.at = self.check(), time.monotonic()
            return self.value


AUDIT_ACTION = {"created": "alert_received", "rejected": "alert_received", "requeued": "incident_requeued",
                "cancelled": "incident_cancelled"}
"""The audit action of what an alert did at intake. A plain repeat changes nothing, so it is not an
action: the store counts it (``received``, ``last_seen``) and so do the metrics. Writing one chained,
fsynced record per repeat made an alert storm four times slower to take in."""

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"model": Problem}}


def create_app(store: Store, config: ServiceConfig, secrets: Secrets, pipeline: Pipeline, *,
               workers: int = 1, audit: Auditor | None = None, check_docker: bool = True,
               start_workers: bool = True, decider: Decider = policy_decide) -> FastAPI:
    """The app; workers start (after restart recovery) when it starts and stop when it stops."""
    metrics = Metrics()
    queued = QueuedAudit(audit) if audit is not None else None
    audit = queued
    pool = Workers(store, config, pipeline, metrics, audit=audit, count=workers, decider=decider)
    docker_ready = CachedCheck(_docker_ok)
    intake_lock = threading.Lock()  # one writer folds at a time, so two repeats never make two incidents

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for incident_id, status in store.recover():
            if audit is not None:
                audit.append("run_finished" if status == "failed" else "run_started", correlation_id=incident_id,
                             actor="healcrew", detail={"recovery": status})
        if start_workers:
            pool.start()
        yield
        pool.stop()
        if queued is not None:
            queued.close()

    app = FastAPI(title="healcrew", lifespan=lifespan)
    app.state.store, app.state.workers, app.state.metrics = store, pool, metrics

    def require(request: Request, body: bytes, authorization: str | None, signature: str | None) -> None:
        if not authorized(secrets, authorization, signature, body):
            raise HTTPException(status_code=401, detail="missing or invalid credentials",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(HTTPException)
    async def _problem(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.post("/alerts", status_code=202, response_model=Accepted,
              responses={400: {"model": Problem}, 401: {"model": Problem}, 413: {"model": Problem},
                         422: {"model": Problem}})
    async def alerts(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_healcrew_signature: Annotated[str | None, Header()] = None,
        content_length: Annotated[int | None, Header()] = None,
    ) -> Accepted:
        """Alertmanager webhook (version 4)."""
        start = time.perf_counter()
        if content_length is not None and content_length > MAX_PAYLOAD_BYTES:
            raise HTTPException(413, f"body of {content_length} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_PAYLOAD_BYTES:
                raise HTTPException(413, f"body is over the {MAX_PAYLOAD_BYTES}-byte limit")
            chunks.append(chunk)
        body = b"".join(chunks)
        require(request, body, authorization, x_healcrew_signature)
        try:
            parsed = parse_webhook(body)
        except BadInputError as exc:
            code = 400 if "not JSON" in str(exc) or "JSON object" in str(exc) else 422
            raise HTTPException(code, str(exc)) from None
        ids: list[str] = []
        actions: list[str] = []
        with intake_lock, store.session() as s:
            results = [fold(s, config, alert) for alert in parsed]
            for r in results:  # audited before the commit, so no worker's record can come first
                if audit is not None and r.incident_id and (action := AUDIT_ACTION.get(r.action)):
                    audit.append(action, correlation_id=r.incident_id, actor="alertmanager",
                                 detail={"fingerprint": r.fingerprint, "result": r.action})
            s.commit()
        for r in results:
            ids.append(r.incident_id or "")
            actions.append(r.action)
            metrics.alerts_received.inc()
            if r.action in ("deduplicated", "requeued"):
                metrics.alerts_deduplicated.inc()
        metrics.intake_seconds.observe(time.perf_counter() - start)
        return Accepted(incidents=ids, actions=actions)

    @app.get("/incidents", response_model=IncidentPage, responses=UNAUTHORIZED)
    def incidents(
        request: Request,
        status: Annotated[str | None, Query(max_length=32)] = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        authorization: Annotated[str | None, Header()] = None,
        x_healcrew_signature: Annotated[str | None, Header()] = None,
    ) -> IncidentPage:
        """Incidents, newest first, optionally of one status."""
        require(request, b"", authorization, x_healcrew_signature)
        with store.session() as s:
            q = select(IncidentRow)
            count = select(func.count()).select_from(IncidentRow)
            if status:
                q, count = q.where(IncidentRow.status == status), count.where(IncidentRow.status == status)
            rows = s.scalars(q.order_by(IncidentRow.created_at.desc()).offset(offset).limit(limit)).all()
            return IncidentPage(total=int(s.scalar(count) or 0), offset=offset, limit=limit,
                                items=[_out(r, with_alerts=False) for r in rows])

    @app.get("/incidents/{incident_id}", response_model=IncidentOut,
             responses={**UNAUTHORIZED, 404: {"model": Problem}})
    def incident(
        request: Request, incident_id: str,
        authorization: Annotated[str | None, Header()] = None,
        x_healcrew_signature: Annotated[str | None, Header()] = None,
    ) -> IncidentOut:
        """One incident with the alerts folded into it."""
        require(request, b"", authorization, x_healcrew_signature)
        with store.session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is None:
                raise HTTPException(404, f"no incident {incident_id}")
            return _out(row, with_alerts=True)

    @app.post("/incidents/{incident_id}/approve", response_model=IncidentOut,
              responses={**UNAUTHORIZED, 404: {"model": Problem}, 409: {"model": Problem}})
    async def approve(
        request: Request, incident_id: str, approval: Approval,
        authorization: Annotated[str | None, Header()] = None,
        x_healcrew_signature: Annotated[str | None, Header()] = None,
    ) -> IncidentOut:
        """Let an incident that waits for a human run (again) and deliver."""
        require(request, await request.body(), authorization, x_healcrew_signature)
        with store.session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is None:
                raise HTTPException(404, f"no incident {incident_id}")
            if row.status != "awaiting_approval":
                raise HTTPException(409, f"incident {incident_id} is {row.status}, not awaiting_approval")
            row.status, row.approved_by, row.reason = "queued", approval.approver, f"approved by {approval.approver}"
            s.commit()
            out = _out(row, with_alerts=True)
        if audit is not None:
            audit.append("approval", correlation_id=incident_id, actor=approval.approver,
                         detail={"note": approval.note})
        return out

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        """The process answers."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    def readyz() -> Any:
        """Database reachable, workers alive, Docker reachable."""
        checks = {"database": store.ping(), "workers": pool.alive() or not start_workers}
        if check_docker:
            checks["docker"] = docker_ready()
        ok = all(checks.values())
        body = Health(status="ok" if ok else "unavailable", checks=checks)
        return body if ok else JSONResponse(body.model_dump(), status_code=503)

    @app.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    def metrics_route() -> Response:
        """Prometheus text format."""
        metrics.queue_depth.set(store.queue_depth())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
