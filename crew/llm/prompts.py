"""The role prompts in ``prompts/``: one Markdown file per role, with a front matter naming its
version and its answer model, and the answer's JSON schema at the end (checked against the model
by a test, so the two cannot drift)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from crew.errors import HealcrewError
from crew.llm.answers import ROLE_ANSWERS, Answer

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
"""``crew/prompts``: a link to the repo's ``prompts/`` in a checkout, the files themselves in a wheel."""
SCHEMA_HEADING = "## Output schema"


@dataclass(frozen=True)
class Prompt:
    role: str
    version: int
    answer: type[Answer]
    text: str

    @property
    def schema(self) -> dict[str, object]:
        start = self.text.index(SCHEMA_HEADING)
        block = self.text[start:].split("```json", 1)[1].split("```", 1)[0]
        return dict(json.loads(block))


def schema_block(answer: type[Answer]) -> str:
    return f"{SCHEMA_HEADING}\n\n```json\n{json.dumps(answer.model_json_schema(), indent=2)}\n```\n"


@cache
def load(role: str) -> Prompt:
    path = PROMPTS / f"{role}.md"
    try:
        raw = path.read_text(encoding="utf-8")
        _, front, body = raw.split("---\n", 2)
        meta = yaml.safe_load(front)
        answer = ROLE_ANSWERS[meta["role"]]
        return Prompt(role=meta["role"], version=int(meta["version"]), answer=answer, text=body.strip() + "\n")
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise HealcrewError(f"prompt {path.name} is unreadable: {exc}") from None
