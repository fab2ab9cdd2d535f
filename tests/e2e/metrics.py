"""Read Prometheus text exposition from a local /metrics endpoint, with the maintained parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(sample name, labels) -> value of every sample at ``url``."""
    text = httpx.get(url, timeout=5).text
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    for (sample, have), v in samples.items():
        if sample == name and want <= have:
            return v
    return None
