"""The llm brain: the four roles (monitoring analyst, diagnostician, repairer, critic) asking Claude,
or an OpenAI-compatible server, through CrewAI's LLM classes. In: the same records the offline brain
reads, quoted as untrusted data. Out: answers validated into pydantic models and turned into the
offline brain's own records and candidates, which the same sandbox, reflection and policy judge."""
