"""One request to the model through CrewAI's LLM class, timed, counted and priced.

CrewAI picks the provider from the model string: ``anthropic/<model>`` is its native Anthropic
provider on the ``anthropic`` SDK (which honours ``base_url`` and retries 429 after its
``retry-after``, 5xx, 529 and timeouts ``max_retries`` times); ``openai/<model>`` with a base URL
is its OpenAI-compatible provider. Messages are in CrewAI's (OpenAI-style) form; tool calls come
back unexecuted, so the role's own loop runs the read-only tools and keeps the transcript.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from crew.brain.accounting import BudgetSpent, Ledger, cost
from crew.brain.choice import LLMSettings
from crew.handoffs import LLMCall


class ModelError(Exception):
    """The model gave no answer: an API error after the SDK's retries, a timeout, a spent budget."""


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)


def _tool_calls(raw: list[Any]) -> list[ToolCall]:
    calls = []
    for item in raw:
        if hasattr(item, "input"):  # an Anthropic tool_use block
            calls.append(ToolCall(str(item.id), str(item.name), dict(item.input or {})))
            continue
        function = getattr(item, "function", None) or (item.get("function") if isinstance(item, dict) else None)
        if function is None:
            continue
        name = getattr(function, "name", None) or function.get("name", "")
        args = getattr(function, "arguments", None) if not isinstance(function, dict) else function.get("arguments")
        try:
            parsed = json.loads(args) if isinstance(args, str) else dict(args or {})
        except ValueError:
            parsed = {}
        ident = getattr(item, "id", None) or (item.get("id") if isinstance(item, dict) else "")
        calls.append(ToolCall(str(ident), str(name), parsed))
    return calls


class Chat:
    """The run's connection to the model; one CrewAI LLM shared by the roles."""

    def __init__(self, settings: LLMSettings, ledger: Ledger) -> None:
        self.settings, self.ledger = settings, ledger
        self._llm: Any = None

    def _model(self) -> Any:
        if self._llm is None:
            from crew.telemetry import disable_crewai_telemetry

            disable_crewai_telemetry()
            from crewai import LLM
            from crewai.events.event_listener import event_listener

            event_listener.formatter.verbose = False  # its panels go to stdout, which --json owns

            s = self.settings
            common: dict[str, Any] = {"api_key": os.environ.get(s.api_key_env, ""), "timeout": s.timeout,
                                      "max_tokens": s.max_tokens}
            if s.provider == "anthropic":
                self._llm = LLM(model=f"anthropic/{s.model}", base_url=s.base_url, max_retries=s.max_retries,
                                **common)
            else:
                self._llm = LLM(model=f"openai/{s.model}", base_url=s.base_url, max_retries=s.max_retries,
                                **common)
        return self._llm

    def send(self, stage: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Reply:
        """One call; its tokens, cost and latency go into the ledger whatever happens."""
        try:
            self.ledger.check()
        except BudgetSpent as exc:
            raise ModelError(str(exc)) from None
        llm = self._model()
        before = dict(llm._token_usage)
        started = time.perf_counter()
        outcome = "ok"
        try:
            raw = llm.call(messages, tools=tools or None)
        except Exception as exc:  # the SDK's errors, after its retries: the stage falls back to offline
            outcome = _error_line(exc)
            raise ModelError(outcome) from None
        finally:
            self._record(stage, before, llm._token_usage, time.perf_counter() - started, outcome)
        if isinstance(raw, list):
            return Reply(tool_calls=_tool_calls(raw))
        return Reply(text=raw if isinstance(raw, str) else str(raw))

    def _record(self, stage: str, before: dict[str, int], after: dict[str, int], seconds: float,
                outcome: str) -> None:
        def delta(key: str) -> int:
            return int(after.get(key, 0)) - int(before.get(key, 0))

        prompt, out = delta("prompt_tokens"), delta("completion_tokens")
        read, write = delta("cached_prompt_tokens"), delta("cache_creation_tokens")
        uncached = max(0, prompt - read - write) if self.settings.provider == "anthropic" else prompt
        self.ledger.add(LLMCall(
            stage=stage, model=self.settings.model, input_tokens=uncached, output_tokens=out,
            cache_read_tokens=read, cache_creation_tokens=write,
            cost_usd=cost(self.settings.model, self.settings.provider, uncached, out, write, read),
            seconds=round(seconds, 3), outcome=outcome))


def _error_line(exc: BaseException) -> str:
    """The API error in one line: its class, HTTP status and the server's message."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else name
    return (f"{name} (HTTP {status}): {text}" if status else f"{name}: {text}")[:300]
