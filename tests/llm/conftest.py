"""Fixtures of the llm brain's tests: a Messages API replay server per cassette, the environment
that points the SDK at it, and an incident's offline diagnosis to ask the repairer about."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from crew.brain.choice import LLMSettings, settings_from_env
from crew.repair.candidates import TemplateContext
from tests.llm.replay_server import API_KEY, CASSETTES, MessagesReplay, load_cassette, serving

ROOT = Path(__file__).resolve().parents[2]
INCIDENTS = ROOT / "examples" / "incidents"


@pytest.fixture(scope="session")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(os.environ.get("HEALCREW_CACHE") or tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's own day-spend file, the run's cache, and none of the operator's llm settings."""
    monkeypatch.setenv("HEALCREW_LLM_SPEND_DIR", str(tmp_path / "spend"))
    monkeypatch.setenv("HEALCREW_CACHE", str(cache))
    for name in ("HEALCREW_LLM_PROVIDER", "HEALCREW_LLM_MODEL", "HEALCREW_LLM_TIMEOUT", "HEALCREW_LLM_MAX_RETRIES",
                 "HEALCREW_LLM_SAMPLES", "HEALCREW_LLM_RUN_BUDGET", "HEALCREW_LLM_DAY_BUDGET"):
        monkeypatch.delenv(name, raising=False)


Replay = Callable[[str], AbstractContextManager[MessagesReplay]]


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Replay:
    """``with replay("cassette") as server:`` — the SDK reaches it through ANTHROPIC_BASE_URL."""

    @contextmanager
    def start(name: str) -> Iterator[MessagesReplay]:
        with serving(load_cassette(CASSETTES / f"{name}.yaml")) as server:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
            monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
            yield server

    return start


def settings(**changes: object) -> LLMSettings:
    return settings_from_env().model_copy(update=changes)


def offline_context(incident: str, log: Path | None = None) -> TemplateContext:
    """The offline brain's monitoring and diagnosis of a bundled incident (no sandbox needed)."""
    from crew.agents.diagnostic import diagnose
    from crew.agents.monitoring import monitor
    from crew.bundle import load_bundle
    from crew.cli import cache_dir
    from crew.repo import GitRepo

    found = load_bundle(INCIDENTS / incident, cache_dir(), log=log)
    evidence = monitor(found)
    repo = GitRepo(found.repo, found.commit)
    return TemplateContext(diagnosis=diagnose(evidence, repo), repo=repo, evidence=evidence)
