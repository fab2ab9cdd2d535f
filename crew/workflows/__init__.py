"""Incidents as Argo Workflows: the stage subcommand, the Workflow built with Hera, the executor.

In: an ``Incident`` (from the service's queue). Out: the same ``FlowState``/``RunReport`` records
the local executor produces, computed by the workflow's steps, each running one stage of
``crew.flow`` in the healcrew image; progress goes back to the incident store.
"""
