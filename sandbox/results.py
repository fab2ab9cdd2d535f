"""Typed results of a sandbox run: the command's outcome and the tests pytest reported."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["passed", "failed", "error", "skipped"]


class TestOutcome(BaseModel):
    """One test case as reported in pytest's JUnit XML."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(extra="forbid")

    test_id: str = Field(description="pytest-style node id, e.g. tests/test_app.py::TestX::test_y.")
    outcome: Outcome
    exc_type: str | None = Field(default=None, description="Exception class name, for failed or erroring tests.")
    message: str | None = Field(default=None, description="The exception's message.")
    frame: str | None = Field(default=None, description="file:line of the frame that raised, repo-relative.")
    seconds: float = 0.0


class RunResult(BaseModel):
    """What one command in the sandbox did. Output is capped (head and tail kept)."""

    model_config = ConfigDict(extra="forbid")

    command: list[str]
    backend: Literal["docker", "process", "kubernetes"]
    isolation_note: str = Field(description="What the backend isolates, and what it does not.")
    image: str | None = Field(default=None, description="Image the command ran in (docker backend).")
    workdir: str = Field(default="/work", description="The command's working directory (the repo copy).")
    exit_code: int | None = Field(description="The command's exit code; None when it never started.")
    stdout: str
    stderr: str
    stdout_bytes: int = Field(description="Total bytes written to stdout, before capping.")
    stderr_bytes: int = Field(description="Total bytes written to stderr, before capping.")
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration: float = Field(description="Wall-clock seconds of the command (not of preparing the sandbox).")
    timed_out: bool = False
    oom_killed: bool = False
    tests: list[TestOutcome] = Field(default_factory=list, description="Parsed from --junitxml, if any.")
    junit_path: str | None = Field(default=None, description="The JUnit XML file read inside the sandbox.")
    junit_error: str | None = Field(default=None, description="Why the JUnit XML could not be read, if it could not.")

    @property
    def ok(self) -> bool:
        """The command finished on its own with exit code 0."""
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed

    def count(self, outcome: Outcome) -> int:
        """How many tests ended with ``outcome``."""
        return sum(t.outcome == outcome for t in self.tests)
