"""healcrew: from a crash-looping Python service to a tested, reviewed pull request."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("healcrew")  # one source: the package metadata, from pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
