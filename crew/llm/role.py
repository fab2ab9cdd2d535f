"""One role's conversation: its prompt, the read-only tools it may call, and a validated answer.

The role's prompt is the system message, marked for prompt caching (CrewAI stamps Anthropic's
``cache_control`` on it), so the samples and retries of a run pay for it once. An answer that is
not the JSON the schema asks for, or that ``check`` refuses (a patch that does not apply), is sent
back once with the reason; a second failure ends the role with a ModelError, and the stage falls
back to the offline brain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from crew.llm.answers import Answer
from crew.llm.client import Chat, ModelError
from crew.llm.prompts import load

A = TypeVar("A", bound=Answer)
MAX_TOOL_TURNS = 4


class AnswerRejected(Exception):
    """The answer validated but cannot be used; the message is sent back to the model."""


def _json_object(text: str) -> str:
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.DOTALL)
    if fenced:
        return fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if 0 <= start < end else text


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "answer"
    return f"{where}: {err.get('msg', 'invalid')}"


def ask(chat: Chat, role: str, stage: str, user: str, answer: type[A],
        tools: Any = None, check: Callable[[A], Any] | None = None) -> tuple[A, Any]:
    """Ask ``role``; returns the answer and what ``check`` made of it."""
    from crewai.llms.cache import CACHE_BREAKPOINT_KEY

    prompt = load(role)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": prompt.text, CACHE_BREAKPOINT_KEY: True},
        {"role": "user", "content": user},
    ]
    retried = False
    turns = 0
    while True:
        offer = tools.specs() if tools is not None and turns < MAX_TOOL_TURNS else None
        reply = chat.send(stage, messages, offer)
        if reply.tool_calls:
            turns += 1
            messages.append({"role": "assistant", "content": "", "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in reply.tool_calls]})
            for call in reply.tool_calls:
                result = tools.run(call.name, call.arguments) if tools is not None else "no tools are available"
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            continue
        try:
            parsed = answer.model_validate_json(_json_object(reply.text))
            made = check(parsed) if check is not None else None
            return parsed, made
        except (ValidationError, AnswerRejected) as exc:
            why = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
            if retried:
                raise ModelError(f"{role}: the answer was rejected twice ({why})") from None
            retried = True
            chat.ledger.usage.calls[-1].outcome = f"answer rejected: {why}"[:300]
            messages.append({"role": "assistant", "content": reply.text or "(empty)"})
            messages.append({"role": "user", "content": (
                f"Your answer was rejected: {why}. Answer again with only the JSON object the schema asks for.")})
