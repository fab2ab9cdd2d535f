"""The one live test: the flagship's repairer against the real API, only where ANTHROPIC_API_KEY is set."""

from __future__ import annotations

import os

import pytest

from crew.llm.brain import LLMBrain, log_text
from tests.llm.conftest import offline_context, settings


@pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY") or bool(os.environ.get("ANTHROPIC_BASE_URL")),
                    reason="live test: needs ANTHROPIC_API_KEY (and no ANTHROPIC_BASE_URL)")
def test_claude_proposes_an_applicable_fix_for_the_flagship() -> None:
    ctx = offline_context("pricing-zero-division")
    brain = LLMBrain(settings(samples=1, run_budget_usd=0.5))
    brain.log_text = log_text(ctx.evidence)
    found = brain.propose(ctx, None)
    assert brain.ledger.usage.fallbacks == []
    assert len(found) == 1 and found[0].edits[0].path == "app/pricing.py"
    assert brain.ledger.usage.input_tokens > 0 and brain.ledger.usage.cost_usd > 0
