"""healcrew: from a crash-looping Python service to a tested, reviewed pull request."""

from typing import Any


def __getattr__(name: str) -> Any:
    """``__version__``, read from the package metadata (pyproject.toml is the one place it is written)
    on first use: ``importlib.metadata`` costs tens of milliseconds at every start otherwise."""
    if name != "__version__":
        raise AttributeError(f"module 'crew' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("healcrew")
    except PackageNotFoundError:  # a source tree that was never installed
        value = "0+unknown"
    globals()["__version__"] = value
    return value
