"""Incident and alert state in SQL (SQLite with WAL by default, any SQLAlchemy 2 URL works)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

ACTIVE = ("queued", "running", "awaiting_approval", "waiting")
"""Statuses of an incident that still absorbs identical alerts (``waiting``: below the failure threshold)."""


def now() -> datetime:
    """Aware UTC now (SQLite drops the zone; ``aware`` puts it back)."""
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """``value`` with UTC attached when the database returned it naive."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of the service tables."""


class IncidentRow(Base):
    """One incident: what the worker runs once, however many alerts fold into it."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex[:16])
    service: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(32), index=True, default="queued")
    stage: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    signature: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    folded_into: Mapped[str | None] = mapped_column(String(32), default=None)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    report_path: Mapped[str | None] = mapped_column(Text, default=None)
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    pr_url: Mapped[str | None] = mapped_column(Text, default=None)
    approved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    delivery_intent: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    worker: Mapped[str | None] = mapped_column(String(64), default=None)
    workflow: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """With ``--executor argo``: the Workflow's name, phase and node statuses, as last read."""
    canary: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """The delivered fix's canary: backend, decision, reason, steps, final weight (service mode)."""
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=now, onupdate=now)
    alerts: Mapped[list[AlertRow]] = relationship(back_populates="incident", order_by="AlertRow.id")


class AlertRow(Base):
    """One distinct alert (by fingerprint) and how often Alertmanager repeated it."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(128), index=True)
    alertname: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(DateTime, default=now)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=now)
    incident: Mapped[IncidentRow] = relationship(back_populates="alerts")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _add_missing_columns(engine: Engine) -> None:
    """Add the nullable columns a newer healcrew added to a database made by an older one."""
    from sqlalchemy import inspect

    have = {c["name"] for c in inspect(engine).get_columns("incidents")}
    with engine.begin() as conn:
        for column in IncidentRow.__table__.columns:
            if column.name not in have and column.nullable:
                conn.exec_driver_sql(f"ALTER TABLE incidents ADD COLUMN {column.name} "
                                     f"{column.type.compile(engine.dialect)}")


class Store:
    """The engine and a session factory; tables are created on open."""

    def __init__(self, url: str) -> None:
        sqlite = url.startswith("sqlite")
        self.engine: Engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 5} if sqlite else {}, pool_pre_ping=True,
        )
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        """A new session (use as a context manager)."""
        return self.sessions()

    def claim(self, worker: str) -> str | None:
        """Atomically take the oldest queued incident: only one worker's UPDATE matches the row."""
        with self.session() as s:
            candidates = s.scalars(
                select(IncidentRow.id).where(IncidentRow.status == "queued").order_by(IncidentRow.created_at).limit(5)
            ).all()
            for incident_id in candidates:
                won = s.execute(  # type: ignore[attr-defined]
                    update(IncidentRow)
                    .where(IncidentRow.id == incident_id, IncidentRow.status == "queued")
                    .values(status="running", worker=worker, stage="monitoring", updated_at=now())
                ).rowcount
                s.commit()
                if won == 1:
                    return incident_id
        return None

    def queue_depth(self) -> int:
        """Incidents waiting for a worker."""
        with self.session() as s:
            return len(s.scalars(select(IncidentRow.id).where(IncidentRow.status == "queued")).all())

    def recover(self) -> list[tuple[str, str]]:
        """After a crash: requeue running incidents that delivered nothing, fail those that may have.

        An incident whose delivery intent was recorded may have pushed a branch or opened a PR, so
        it is never run again automatically; a human looks at it.
        """
        changed: list[tuple[str, str]] = []
        with self.session() as s:
            for row in s.scalars(select(IncidentRow).where(IncidentRow.status == "running")).all():
                if row.delivery_intent is None:
                    row.status, row.stage, row.worker = "queued", None, None
                    row.reason = "resumed after the service restarted mid-run"
                    changed.append((row.id, "queued"))
                else:
                    row.status, row.outcome = "failed", "interrupted"
                    row.reason = ("the service stopped after delivery began; not delivered again "
                                  "(check the branch/PR by hand)")
                    changed.append((row.id, "failed"))
            s.commit()
        return changed

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # any driver error means not ready
            return False
