"""The real Prometheus and Alertmanager binaries from Debian; they skip locally, fail in CI when missing."""

from __future__ import annotations

import os
import shutil

import pytest


def need_binary(name: str) -> str:
    """The path of ``name``; skip when it is missing, fail when CI requires the real components."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed (scripts/bootstrap.sh installs it)"
        if os.environ.get("HEALCREW_REQUIRE_DOCKER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
