"""Every third-party module the shipped code imports is a declared runtime dependency.

A module that arrives only as another package's dependency works on the machine it was written
on and breaks a fresh install the day that package drops it (CI once failed on exactly this:
``dockerfile_parse`` was imported but never declared). The check reads the imports from the
source, lazy ones inside functions included, and maps each to the distribution that provides it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("crew", "sandbox")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(source: str) -> set[str]:
    """Top-level names of the absolute imports anywhere in ``source`` (functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party_imports() -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in imported_modules(path.read_text(encoding="utf-8")):
                if name in sys.stdlib_module_names or name in SHIPPED or name == "__future__":
                    continue
                found.setdefault(name, set()).add(path.relative_to(ROOT))
    return found


def declared_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normalise(Requirement(spec).name) for spec in project["dependencies"]}


def test_lazy_imports_inside_functions_are_seen() -> None:
    source = "import os\n\ndef build():\n    from dockerfile_parse import DockerfileParser\n    import numpy.linalg\n"
    assert imported_modules(source) == {"os", "dockerfile_parse", "numpy"}


def test_every_third_party_import_is_a_declared_runtime_dependency() -> None:
    providers = packages_distributions()
    declared = declared_dependencies()
    problems = []
    for module, files in sorted(third_party_imports().items()):
        where = ", ".join(str(f) for f in sorted(files)[:3])
        distributions = {_normalise(d) for d in providers.get(module, [])}
        if not distributions:
            problems.append(f"{module} (imported in {where}) is not installed by any distribution")
        elif not distributions & declared:
            problems.append(f"{module} (imported in {where}) comes from {sorted(distributions)}, "
                            "which pyproject.toml does not declare")
    assert not problems, "\n".join(problems)
