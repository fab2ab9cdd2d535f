"""Shared fixtures. Docker tests skip without an engine, except in CI where they must run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


def _require_docker() -> bool:
    return os.environ.get("HEALCREW_REQUIRE_DOCKER") == "1"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A connected docker SDK client; fails (not skips) when HEALCREW_REQUIRE_DOCKER=1."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # the docker SDK raises several unrelated types here
        if _require_docker():
            pytest.fail(f"Docker engine required (HEALCREW_REQUIRE_DOCKER=1) but unreachable: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    yield client
    client.close()
