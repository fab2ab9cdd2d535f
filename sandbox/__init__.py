"""Running code we do not trust: images, containers, limits, results. Knows nothing of agents.

See ``sandbox/README.md`` for the API and an example.
"""

from sandbox.api import (
    BackendChoice,
    DoctorReport,
    Sandbox,
    build_base_image,
    build_env_image,
    choose_backend,
    doctor,
    prepare,
    run,
)
from sandbox.config import SandboxConfig
from sandbox.errors import EngineUnavailableError, ImageError, PatchError, SandboxError, WorkspaceError
from sandbox.images import ImageInfo
from sandbox.junit import parse_junit
from sandbox.results import RunResult, TestOutcome

__all__ = [
    "BackendChoice",
    "DoctorReport",
    "EngineUnavailableError",
    "ImageError",
    "ImageInfo",
    "PatchError",
    "RunResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "TestOutcome",
    "WorkspaceError",
    "build_base_image",
    "build_env_image",
    "choose_backend",
    "doctor",
    "parse_junit",
    "prepare",
    "run",
]
