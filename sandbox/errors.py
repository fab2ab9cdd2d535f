"""The sandbox's own errors; ``sandbox/`` imports nothing from ``crew``.

Every message is one line a user can act on. Callers at the edge (the CLI, the validation
adapter) turn these into their own error types and exit codes.
"""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox could not prepare or run a command."""


class EngineUnavailableError(SandboxError):
    """No Docker engine answered when one was required."""


class ImageError(SandboxError):
    """An image is unknown, could not be pulled, or could not be built."""


class WorkspaceError(SandboxError):
    """The repository, commit, patch or extra files cannot be turned into a workspace."""


class PatchError(WorkspaceError):
    """The patch does not apply to the repository at the requested commit."""
