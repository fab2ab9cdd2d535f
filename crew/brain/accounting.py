"""Tokens, dollars and seconds of every model call, and the budgets that stop the llm brain.

Prices are the published list prices per million tokens (input, output, cache write, cache read);
a model not in the table is priced as the dearest listed family it names, else as Sonnet, so a
budget never under-counts. A self-hosted OpenAI-compatible server costs nothing here. The day's
spend is kept in one small JSON file per UTC day (in ``$HEALCREW_LLM_SPEND_DIR``, else the cache), so
several runs share the day budget.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from crew.handoffs import LLMCall, LLMStage, LLMUsage

#: dollars per million tokens: input, output, cache write (5 min), cache read
PRICES: dict[str, tuple[float, float, float, float]] = {
    "opus-4-5": (5.0, 25.0, 6.25, 0.50),
    "opus": (15.0, 75.0, 18.75, 1.50),
    "sonnet": (3.0, 15.0, 3.75, 0.30),
    "haiku-4-5": (1.0, 5.0, 1.25, 0.10),
    "haiku": (0.80, 4.0, 1.0, 0.08),
}


def price(model: str) -> tuple[float, float, float, float]:
    name = model.lower()
    for family, rates in PRICES.items():  # most specific first
        if family in name:
            return rates
    return PRICES["sonnet"]


def cost(model: str, provider: str, uncached_in: int, out: int, cache_write: int, cache_read: int) -> float:
    if provider != "anthropic":
        return 0.0
    rate_in, rate_out, rate_write, rate_read = price(model)
    return round((uncached_in * rate_in + out * rate_out + cache_write * rate_write + cache_read * rate_read) / 1e6, 6)


def _cache_dir() -> Path:
    return Path(os.environ.get("HEALCREW_CACHE") or Path.home() / ".cache" / "healcrew")


class BudgetSpent(Exception):
    """The run's or the day's llm budget is spent: the caller falls back to offline."""


class Ledger:
    """Every call of one run, with the run's and the day's budget."""

    def __init__(self, provider: str, model: str, run_budget: float, day_budget: float,
                 day_file: Path | None = None) -> None:
        self.usage = LLMUsage(provider=provider, model=model)
        self.run_budget, self.day_budget = run_budget, day_budget
        folder = Path(os.environ.get("HEALCREW_LLM_SPEND_DIR") or _cache_dir() / "llm-spend")
        self.day_file = day_file or folder / f"{datetime.now(UTC):%Y-%m-%d}.json"
        self._lock = threading.Lock()

    def day_spent(self) -> float:
        try:
            return float(json.loads(self.day_file.read_text(encoding="utf-8")).get("usd", 0.0))
        except (OSError, ValueError, AttributeError):
            return 0.0

    def check(self) -> None:
        """Raise BudgetSpent before a call the budgets cannot pay for."""
        if self.usage.cost_usd >= self.run_budget:
            raise BudgetSpent(f"the run's llm budget of ${self.run_budget:g} is spent "
                              f"(${self.usage.cost_usd:.4f})")
        if self.day_spent() >= self.day_budget:
            raise BudgetSpent(f"today's llm budget of ${self.day_budget:g} is spent")

    def add(self, call: LLMCall) -> None:
        with self._lock:
            self.usage.calls.append(call)
            u = self.usage
            u.input_tokens += call.input_tokens + call.cache_read_tokens + call.cache_creation_tokens
            u.output_tokens += call.output_tokens
            u.cost_usd = round(u.cost_usd + call.cost_usd, 6)
            stage = next((s for s in u.stages if s.stage == call.stage), None)
            if stage is None:
                stage = LLMStage(stage=call.stage)
                u.stages.append(stage)
            stage.calls += 1
            stage.input_tokens += call.input_tokens + call.cache_read_tokens + call.cache_creation_tokens
            stage.output_tokens += call.output_tokens
            stage.cost_usd = round(stage.cost_usd + call.cost_usd, 6)
            stage.seconds = round(stage.seconds + call.seconds, 3)
            if call.cost_usd:
                self._add_to_day(call.cost_usd)

    def _add_to_day(self, usd: float) -> None:
        self.day_file.parent.mkdir(parents=True, exist_ok=True)
        total = self.day_spent() + usd
        tmp = self.day_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"usd": round(total, 6)}), encoding="utf-8")
        tmp.replace(self.day_file)

    def fallback(self, why: str) -> None:
        with self._lock:
            if why not in self.usage.fallbacks:
                self.usage.fallbacks.append(why)

    def injection(self, what: str) -> None:
        with self._lock:
            if what not in self.usage.injections:
                self.usage.injections.append(what)
