"""healcrew: from a crash-looping Python service to a tested, reviewed pull request."""

__version__ = "0.1.0"
