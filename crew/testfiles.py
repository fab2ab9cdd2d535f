"""What counts as a repository's test code, by pytest's conventions and the usual folders.

One definition for reflection (a patch must not touch tests), the input search (seeds come from
the tests) and the regression test (it follows the tests' layout and style).
"""

from __future__ import annotations


def is_test_path(path: str) -> bool:
    """Whether ``path`` is part of a test suite: a test module, a conftest, or under a tests folder."""
    parts = path.split("/")
    name = parts[-1]
    return (any(p in ("tests", "test", "testing") for p in parts[:-1]) or is_test_module(path)
            or name == "conftest.py")


def is_test_module(path: str) -> bool:
    """A file pytest collects by default: ``test_*.py`` or ``*_test.py``."""
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
