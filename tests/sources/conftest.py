"""Fixtures of the source contract tests: the loopback replay server, no proxies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.replay_server import ReplayServer, serving


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback traffic must not be sent to a proxy named in the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def replay_server() -> Iterator[ReplayServer]:
    """A running ReplayServer; set ``.handler``; it stops when the test ends."""
    with serving() as server:
        yield server
