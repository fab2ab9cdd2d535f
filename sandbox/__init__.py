"""Running code we do not trust: images, containers, limits, results. Knows nothing of agents.

See ``sandbox/README.md`` for the API and an example. The names below are loaded on first use
(PEP 562), so importing a small part such as ``sandbox.signals`` or ``sandbox.safegit`` does not
pay for the whole API: the command line's start-up time depends on it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {
    "BackendChoice": "api", "DoctorReport": "api", "Sandbox": "api", "build_base_image": "api",
    "build_env_image": "api", "choose_backend": "api", "doctor": "api", "prepare": "api", "run": "api",
    "SandboxConfig": "config", "EngineUnavailableError": "errors", "ImageError": "errors", "PatchError": "errors",
    "SandboxError": "errors", "WorkspaceError": "errors", "ImageInfo": "images", "parse_junit": "junit",
    "RunResult": "results", "TestOutcome": "results",
}

__all__ = [
    "BackendChoice", "DoctorReport", "EngineUnavailableError", "ImageError", "ImageInfo", "PatchError", "RunResult",
    "Sandbox", "SandboxConfig", "SandboxError", "TestOutcome", "WorkspaceError", "build_base_image", "build_env_image",
    "choose_backend", "doctor", "parse_junit", "prepare", "run",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sandbox.{home}"), name)
    globals()[name] = value
    return value
