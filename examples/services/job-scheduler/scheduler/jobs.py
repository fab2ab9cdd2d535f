"""Maintenance jobs and the day each one is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Job:
    name: str
    run_on: date
    command: list[str]


def parse_run_date(value: str) -> date:
    """The day a job is due, from the jobs API."""
    return datetime.strptime(value, "%Y-%m-%d").date()


def job_from_api(raw: dict[str, Any]) -> Job:
    return Job(name=str(raw["name"]), run_on=parse_run_date(raw["run_at"]),
               command=[str(part) for part in raw["command"]])


def due(jobs: list[Job], today: date) -> list[Job]:
    return [job for job in jobs if job.run_on <= today]
