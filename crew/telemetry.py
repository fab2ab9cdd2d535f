"""Switch off CrewAI's telemetry and tracing before crewai is imported.

With no network its exporter stalls a process about 10 s at exit (measured), and an incident
tool must not phone home with a customer's code anyway.
"""

from __future__ import annotations

import os

_OFF = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
}


def disable_crewai_telemetry() -> None:
    """Set the opt-out variables unless the user set them explicitly."""
    for key, value in _OFF.items():
        os.environ.setdefault(key, value)
