"""The Diagnostic room: from a crash's traceback and the repo to a located, explained cause.

In: a ``Traceback`` (frames with their logged code and PEP 657 caret columns) and the repository
at the deployed commit. Out: the parts of a ``Diagnosis``: the root-cause class and the failing
sub-expression (``classify``), and the fault locations the bad value passed through, ranked
(``locations``). ``crew.agents.diagnostic`` assembles them into the record. Nothing here runs
repo code or imports another stage.
"""
