"""``healcrew serve``, unchanged but for one pause inside delivery: the ``kill -9`` tests' hook.

``python -m tests.service.serve_paused serve ...`` runs the real CLI. With ``HEALCREW_TEST_PAUSE``:

- ``intent``: the worker has committed the incident's delivery intent and is about to deliver;
- ``pushed``: the fix branch is on the remote, the PR record not yet written;

the worker writes ``where`` to the file ``HEALCREW_TEST_PAUSE_FLAG`` and waits there to be killed.
The pause lives in the test, not in production code: only these two functions are wrapped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def _pause(where: str) -> None:
    Path(os.environ["HEALCREW_TEST_PAUSE_FLAG"]).write_text(where, encoding="utf-8")
    while True:  # until SIGKILL
        time.sleep(60)


def _install(where: str) -> None:
    if where == "intent":
        from crew.service import worker

        def deliver_paused(self: Any, handle: Any, forge: str, config: dict[str, Any]) -> Any:
            _pause(where)

        worker.FlowPipeline.deliver = deliver_paused  # type: ignore[method-assign]
    elif where == "pushed":
        from crew.delivery import gitops

        real = gitops.push_fix

        def push_then_pause(*args: Any, **kwargs: Any) -> Any:
            real(*args, **kwargs)
            _pause(where)

        gitops.push_fix = push_then_pause
    else:
        raise SystemExit(f"HEALCREW_TEST_PAUSE must be intent or pushed, not {where!r}")


def main() -> None:
    where = os.environ.get("HEALCREW_TEST_PAUSE")
    if where:
        _install(where)
    from crew.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
