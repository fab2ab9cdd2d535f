"""Fixtures of the Argo Workflows tests: the flagship incident and a loopback fake Argo Server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.replay_server import ReplayServer, serving
from tests.workflows.argo_replay import FakeArgo

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "examples" / "incidents" / "pricing-zero-division"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback traffic must not be sent to a proxy named in the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The flagship bundle's Incident (its example repo materialized once)."""
    from crew.bundle import load_bundle

    return load_bundle(BUNDLE, tmp_path_factory.mktemp("cache"))


@pytest.fixture
def argo() -> Iterator[tuple[FakeArgo, ReplayServer]]:
    """A fake Argo Server on 127.0.0.1; set faults on the FakeArgo before submitting."""
    fake = FakeArgo()
    with serving(fake) as server:
        yield fake, server
