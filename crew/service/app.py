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

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select

from crew.errors import BadInputError, describe_validation_error
from crew.service.auditq import QueuedAudit
from crew.service.auth import Secrets, authorized
from crew.service.config import ServiceConfig
from crew.service.intake import Folded
from crew.service.intake_writer import IntakeWriter
from crew.service.metrics import Metrics
from crew.service.store import IncidentRow, Store, aware
from crew.service.worker import Auditor, Decider, Pipeline, Workers, policy_decide
from crew.sources.alertmanager import MAX_PAYLOAD_BYTES, WebhookPayload, parse_webhook


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
    workflow: dict[str, Any] | None = Field(default=None, description="The Argo Workflow's phase and nodes "
                                            "(``--executor argo``).")
    canary: dict[str, Any] | None = Field(default=None, description="The delivered fix's canary: backend, "
                                          "decision (promoted, aborted, timed_out, not_run), reason, steps.")


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
        updated_at=aware(row.updated_at), alerts=alerts, workflow=row.workflow, canary=row.canary,
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


ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": Problem}, 422: {"model": Problem}}
"""What every authenticated route can answer besides its own codes: no credentials, or a bad parameter."""

MAX_OFFSET = 1 << 31
"""Beyond any real table; a bigger offset would overflow the database's integer."""

MAX_APPROVAL_BYTES = 8192
"""An approval is a name and a note; anything bigger is not one."""

# Declared as security schemes so the spec says how to authenticate; either one is enough.
# ``require`` reads the raw headers itself, because the signature is checked over the body.
BEARER = HTTPBearer(auto_error=False, description="The HEALCREW_WEBHOOK_TOKEN as a bearer token.")
SIGNATURE = APIKeyHeader(name="X-Healcrew-Signature", auto_error=False,
                         description="sha256=<hex HMAC-SHA256 of the body with HEALCREW_WEBHOOK_HMAC_KEY>.")
SCHEMES = [Security(BEARER), Security(SIGNATURE)]


def _one_line(text: str, limit: int = 300) -> str:
    """Untrusted text (a path id, a parser's message) as one bounded line for ``Problem.detail``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is over ``limit`` bytes (declared or read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON body the route reads itself (after the size and credentials checks)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _webhook_schema() -> dict[str, Any]:
    """The webhook body's JSON schema, inlined (the route reads the raw body, so FastAPI cannot list it)."""
    schema = WebhookPayload.model_json_schema()
    alert = schema.pop("$defs")["_WireAlert"]
    labels = alert["properties"]["labels"]  # parse_webhook insists on a non-empty alertname
    labels["required"], labels["properties"] = ["alertname"], {"alertname": {"type": "string", "minLength": 1}}
    schema["properties"]["alerts"]["items"] = alert
    return schema


def _invalid(exc: RequestValidationError) -> str:
    """FastAPI's list of problems as ``where: what`` of the first one."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return _one_line(f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid")))


def create_app(store: Store, config: ServiceConfig, secrets: Secrets, pipeline: Pipeline, *,
               workers: int = 1, audit: Auditor | None = None, check_docker: bool = True,
               start_workers: bool = True, decider: Decider = policy_decide) -> FastAPI:
    """The app; workers start (after restart recovery) when it starts and stop when it stops."""
    metrics = Metrics()
    queued = QueuedAudit(audit) if audit is not None else None
    audit = queued
    pool = Workers(store, config, pipeline, metrics, audit=audit, count=workers, decider=decider)
    docker_ready = CachedCheck(_docker_ok)

    def record_intake(results: list[Folded]) -> None:
        """Audited before the commit, so no worker's record of the incident can come first."""
        for r in results:
            if audit is not None and r.incident_id and (action := AUDIT_ACTION.get(r.action)):
                audit.append(action, correlation_id=r.incident_id, actor="alertmanager",
                             detail={"fingerprint": r.fingerprint, "result": r.action})

    intake = IntakeWriter(store, config, record_intake)

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
        intake.close()
        if queued is not None:
            queued.close()

    app = FastAPI(title="healcrew", lifespan=lifespan)
    app.state.store, app.state.workers, app.state.metrics = store, pool, metrics

    def require(request: Request, body: bytes) -> None:
        headers = request.headers
        if not authorized(secrets, headers.get("authorization"), headers.get("x-healcrew-signature"), body):
            raise HTTPException(status_code=401, detail="missing or invalid credentials",
                                headers={"WWW-Authenticate": "Bearer"})

    async def authenticated(request: Request) -> None:
        """Credentials first: a route's parameters are validated only for a caller who has them."""
        require(request, b"")

    guarded = [*SCHEMES, Depends(authenticated)]  # routes without a body; the others call ``require`` themselves

    @app.exception_handler(HTTPException)
    async def _problem(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": _one_line(str(exc.detail))}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's default 422 body is a list; every error here is one ``Problem`` line."""
        return JSONResponse({"detail": _invalid(exc)}, status_code=422)

    @app.post("/alerts", status_code=202, response_model=Accepted, dependencies=SCHEMES,
              responses={**ERRORS, 400: {"model": Problem}, 413: {"model": Problem}, 503: {"model": Problem}},
              openapi_extra=_json_body(_webhook_schema()))
    async def alerts(request: Request) -> Accepted:
        """Alertmanager webhook (version 4)."""
        start = time.perf_counter()
        body = await _body(request, MAX_PAYLOAD_BYTES)
        require(request, body)
        try:
            parsed = parse_webhook(body)
        except BadInputError as exc:
            code = 400 if "not JSON" in str(exc) or "JSON object" in str(exc) else 422
            raise HTTPException(code, str(exc)) from None
        ids: list[str] = []
        actions: list[str] = []
        try:
            results = await intake.fold(parsed)
        except RuntimeError as exc:  # the store refused it; Alertmanager retries a 5xx
            raise HTTPException(503, f"{exc}; retry later") from None
        for r in results:
            ids.append(r.incident_id or "")
            actions.append(r.action)
            metrics.alerts_received.inc()
            if r.action in ("deduplicated", "requeued"):
                metrics.alerts_deduplicated.inc()
        metrics.intake_seconds.observe(time.perf_counter() - start)
        return Accepted(incidents=ids, actions=actions)

    @app.get("/incidents", response_model=IncidentPage, responses=ERRORS, dependencies=guarded)
    def incidents(
        status: Annotated[str | None, Query(max_length=32)] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> IncidentPage:
        """Incidents, newest first, optionally of one status."""
        with store.session() as s:
            q = select(IncidentRow)
            count = select(func.count()).select_from(IncidentRow)
            if status:
                q, count = q.where(IncidentRow.status == status), count.where(IncidentRow.status == status)
            rows = s.scalars(q.order_by(IncidentRow.created_at.desc()).offset(offset).limit(limit)).all()
            return IncidentPage(total=int(s.scalar(count) or 0), offset=offset, limit=limit,
                                items=[_out(r, with_alerts=False) for r in rows])

    @app.get("/incidents/{incident_id}", response_model=IncidentOut, dependencies=guarded,
             responses={**ERRORS, 404: {"model": Problem}})
    def incident(incident_id: str) -> IncidentOut:
        """One incident with the alerts folded into it."""
        with store.session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is None:
                raise HTTPException(404, f"no incident {incident_id[:64]}")
            return _out(row, with_alerts=True)

    @app.post("/incidents/{incident_id}/approve", response_model=IncidentOut, dependencies=SCHEMES,
              responses={**ERRORS, 404: {"model": Problem}, 409: {"model": Problem}, 413: {"model": Problem}},
              openapi_extra=_json_body(Approval.model_json_schema()))
    async def approve(request: Request, incident_id: str) -> IncidentOut:
        """Let an incident that waits for a human run (again) and deliver."""
        body = await _body(request, MAX_APPROVAL_BYTES)
        require(request, body)
        try:
            approval = Approval.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(422, f"approval {describe_validation_error(exc, 'body')}") from None
        with store.session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is None:
                raise HTTPException(404, f"no incident {incident_id[:64]}")
            if row.status != "awaiting_approval":
                raise HTTPException(409, f"incident {row.id} is {row.status}, not awaiting_approval")
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
