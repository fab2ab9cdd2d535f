"""Repair: candidate fixes, regression tests and their diffs (docs/REPAIR.md)."""
