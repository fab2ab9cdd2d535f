"""Settings read from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    queue_path: Path
    points_per_euro: int
    log_level: str


def load_settings(env: Mapping[str, str] = os.environ) -> Settings:
    """Settings with defaults that match the Deployment."""
    return Settings(
        queue_path=Path(env.get("ORDERS_QUEUE", "/var/run/orders/events.jsonl")),
        points_per_euro=int(env.get("POINTS_PER_EURO", "10")),
        log_level=env.get("LOG_LEVEL", "INFO"),
    )
