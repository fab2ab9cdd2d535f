"""Choosing the brain and keeping its books: which brain a run uses, what the llm brain may spend,
and what each call cost. In: the operator's flags and environment. Out: ``LLMSettings`` and a
``Ledger`` whose records go into the ``RunReport``."""
