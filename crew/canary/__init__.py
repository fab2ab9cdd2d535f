"""Canary: judge a delivered fix under traffic, canary against stable, and promote or abort.

In: the stable and candidate builds of a service, the Rollout's steps and its AnalysisTemplate.
Out: a ``CanaryResult`` with per-step metrics and the judge's verdicts.
"""
