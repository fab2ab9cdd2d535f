"""The bridge from validation to ``sandbox/``: every repo command healcrew runs goes through here.

``sandbox/`` knows nothing of agents; this adapter turns its ``RunResult`` into what the
validation protocol reads, a patch that does not apply into an outcome (not a crash), and the
repo's dependency lines the sandbox refused to fetch (and the links it left out of its copy)
into policy decisions for the run report.
"""

from __future__ import annotations

from pathlib import Path

from crew.errors import SandboxError
from crew.handoffs import SandboxPython
from crew.repo import GitRepo
from crew.validate import JUNIT_PATH, CaseOutcome, SandboxOutcome

_NOTES = {
    "docker": "Docker container: no network, read-only root, non-root user, all capabilities dropped, "
              "memory/pids/CPU limits.",
    "process": "process backend: weaker isolation than a container (bubblewrap namespaces with resource "
               "limits).",
    "kubernetes": "Kubernetes pod: non-root, read-only root, all capabilities dropped, no service-account token, "
                  "egress denied by NetworkPolicy, CPU/memory limits.",
}


class SandboxRunner:
    """Runs commands on one repo at one commit, each in a fresh sandbox."""

    def __init__(self, repo: GitRepo, backend: str = "auto", memory_mb: int = 1024, python: str | None = None) -> None:
        from sandbox import SandboxConfig, choose_backend
        from sandbox import SandboxError as RawSandboxError

        try:
            choice, client = choose_backend(backend)  # type: ignore[arg-type]
        except RawSandboxError as exc:
            raise SandboxError(f"sandbox unavailable: {exc}") from None
        if client is not None:
            client.close()
        self.repo = repo
        self.backend = choice.name
        self.reason = choice.reason
        self.isolation_note = _NOTES.get(choice.name, "")
        try:
            self.config = SandboxConfig(backend=choice.name, memory_mb=memory_mb, python=python)  # type: ignore[arg-type]
        except ValueError as exc:  # pydantic's ValidationError: a malformed --python
            raise SandboxError(f"invalid sandbox python {python!r}: expected X.Y such as 3.11") from exc
        self.python: SandboxPython | None = None
        """The Python the repo ran on and why, once a container has been prepared."""
        self.policy_decisions: list[str] = []
        """What the sandbox refused or left out of the repo (dependency lines, spec files, links), once each."""

    def run(self, command: list[str], diff: str | None, files: dict[str, str], timeout: float,
            output_cap: int | None = None) -> SandboxOutcome:
        """``output_cap`` raises the bytes of output kept (a batch's tagged blocks must all survive)."""
        from sandbox import PatchError, prepare
        from sandbox import SandboxError as RawSandboxError

        config = self.config
        if output_cap is not None and output_cap > config.output_cap_bytes:
            config = config.model_copy(update={"output_cap_bytes": output_cap})
        try:
            with prepare(self.repo.path, self.repo.commit, diff or None, files, config) as box:
                junit = JUNIT_PATH if any("--junitxml" in arg for arg in command) else None
                left_out = [f"sandbox copy: {note}" for note in box.workspace.notes]
                self._note_refusals([r.note() for r in box.refused] + left_out)
                if box.python is not None and self.python is None:
                    self.python = SandboxPython(version=box.python.version, reason=box.python.reason)
                result = box.run(command, timeout=timeout, junit_path=junit)
        except PatchError as exc:
            return SandboxOutcome(exit_code=None, stdout="", stderr=str(exc), seconds=0.0, patch_error=str(exc))
        except RawSandboxError as exc:
            raise SandboxError(f"sandbox failed: {exc}") from None
        if result.isolation_note:
            self.isolation_note = result.isolation_note
        cases = [
            CaseOutcome(test_id=t.test_id, outcome=t.outcome, exc_type=t.exc_type, message=t.message, frame=t.frame)
            for t in result.tests
        ]
        return SandboxOutcome(
            exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr, seconds=result.duration,
            timed_out=result.timed_out, oom_killed=result.oom_killed, cases=cases,
        )

    def _note_refusals(self, notes: list[str]) -> None:
        self.policy_decisions += [n for n in notes if n not in self.policy_decisions]

    def close(self) -> None:
        """Nothing is kept between runs; present so callers can always close."""


def open_runner(repo: GitRepo | Path, backend: str = "auto", python: str | None = None) -> SandboxRunner:
    """A runner for ``repo`` on the requested backend (``docker``, ``process``, ``kubernetes`` or ``auto``); ``python``
    (``X.Y``) overrides the Python chosen from the repository."""
    return SandboxRunner(repo if isinstance(repo, GitRepo) else GitRepo(repo), backend, python=python)
