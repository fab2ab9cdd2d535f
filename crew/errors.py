"""One exception hierarchy for every boundary of healcrew.

The CLI turns a ``HealcrewError`` into one line and an exit code; anything else is a bug.
"""

from __future__ import annotations

from pydantic import ValidationError


class HealcrewError(Exception):
    """Base of every error healcrew reports to a user."""

    exit_code = 2


class BadInputError(HealcrewError):
    """The user's input (log, repo, bundle, alert, patch) cannot be used."""

    exit_code = 2


class NoCrashEvidenceError(HealcrewError):
    """The input was readable but holds no crash we can act on."""

    exit_code = 1


class SourceError(HealcrewError):
    """A log or alert source (Loki, Kubernetes, a file) failed."""

    exit_code = 2


class SandboxError(HealcrewError):
    """The sandbox could not prepare or run a command."""

    exit_code = 2


class DeliveryError(HealcrewError):
    """Pushing a branch or opening a pull request failed."""

    exit_code = 2


def describe_validation_error(exc: ValidationError, whole: str) -> str:
    """``where: what`` of a pydantic error's first problem, for a one-line message.

    ``whole`` names the location when the problem is with the document itself.
    """
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or whole
    return f"{where}: {err['msg']}"
