"""Prometheus metrics of the service, in a registry of its own so apps in tests do not collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The counters, gauges and histograms ``/metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.alerts_received = Counter("healcrew_alerts_received", "Alerts received", registry=self.registry)
        self.alerts_deduplicated = Counter(
            "healcrew_alerts_deduplicated", "Alerts folded into an existing incident", registry=self.registry)
        self.runs = Counter("healcrew_runs", "Finished runs by outcome", ["outcome"], registry=self.registry)
        self.stage_seconds = Histogram(
            "healcrew_stage_duration_seconds", "Stage durations", ["stage"], registry=self.registry,
            buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900))
        self.queue_depth = Gauge("healcrew_queue_depth", "Incidents waiting for a worker", registry=self.registry)
        self.canaries = Counter("healcrew_canaries", "Canaries of delivered fixes by decision", ["decision"],
                                registry=self.registry)
        self.sandbox_runs = Counter("healcrew_sandbox_runs", "Sandbox runs by the workers", registry=self.registry)
        self.intake_seconds = Histogram(
            "healcrew_intake_seconds", "Time to accept one webhook", registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
