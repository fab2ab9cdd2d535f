"""The local canary: a Rollout's canary steps run on this machine, on the same manifests.

In: a service's git repository (or a folder in one), the stable and candidate refs, its
``deploy/rollout.yaml`` and ``deploy/analysis-template.yaml``. Out: a ``CanaryResult``.
Both builds run in locked-down containers (``--network none``), a weighted router on loopback
splits replayed traffic between them and exports Istio's metrics, a real Prometheus scrapes
it, the AnalysisTemplate's own queries and conditions decide each analysis step, and a
Kayenta-style judge compares canary with stable after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from crew.canary.local.traffic import RecordedRequest, TrafficPlan, recorded_requests
from crew.handoffs import CanaryResult

__all__ = ["RecordedRequest", "TrafficPlan", "recorded_requests", "run_local_canary"]


def run_local_canary(service_dir: Path, stable_ref: str, candidate_ref: str, *,
                     rollout: Path | None = None, analysis_template: Path | None = None,
                     time_scale: float | None = None, traffic: TrafficPlan | None = None,
                     progress: Callable[[str], None] | None = None) -> CanaryResult:
    """Run the canary of ``candidate_ref`` against ``stable_ref``; promoted, aborted or timed out.

    Bad input (no rollout file, an unknown ref, a Rollout without canary steps) raises a
    ``HealcrewError`` with a one-line message before anything is started.
    """
    from crew.canary.local.engine import prepare

    return prepare(Path(service_dir), stable_ref, candidate_ref, rollout, analysis_template, time_scale, traffic,
                   progress).run()
