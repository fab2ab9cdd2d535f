"""The check of a diff against the policy: which paths it touches, and what those files declare.

A path can be forbidden by name (``defaults.DEFAULT_FORBIDDEN`` plus the policy's own patterns)
or by content: a YAML/JSON manifest document of an access-control kind (a ``Role`` in a file
called ``app.yaml`` is still a ``Role``), a Terraform file that declares IAM resources, or a
``USER`` line of a Dockerfile. Both sides of a rename are checked; an unreadable diff is refused
as a whole (fail closed).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from functools import lru_cache

import pathspec
from pydantic import BaseModel, ConfigDict, Field

from crew.errors import BadInputError
from crew.policy.defaults import DEFAULT_FORBIDDEN, FORBIDDEN_KINDS, TERRAFORM_ACCESS
from crew.policy.model import Policy

Reader = Callable[[str], "str | None"]

CONFIG_NAMES = re.compile(
    r"(\.(ya?ml|toml|ini|cfg|json|env|conf)$|(^|/)Dockerfile[^/]*$|(^|/)requirements[^/]*\.txt$|(^|/)\.env[^/]*$)"
)
_DOCKERFILE = re.compile(r"(^|/)(dockerfile|containerfile)[^/]*$|\.(dockerfile|containerfile)$", re.IGNORECASE)
_USER_LINE = re.compile(r"^\s*USER\b", re.IGNORECASE)
_MANIFEST = re.compile(r"\.(ya?ml|json)(\.j2|\.tpl|\.tmpl)?$", re.IGNORECASE)
_KIND = re.compile(r"""^\s*-?\s*["']?kind["']?\s*:\s*["']?([A-Za-z]+)""")
_DOC_SEPARATOR = re.compile(r"^---(\s|$)")
_TERRAFORM = re.compile(r"\.tf(\.json)?$", re.IGNORECASE)
_TF_ACCESS = re.compile(TERRAFORM_ACCESS)


class Refusal(BaseModel):
    """One path a fix must not touch, and why."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Repo path of the file.")
    rule: str = Field(description="The pattern or content rule that forbids it.")
    message: str = Field(description="One line for the report and the critique.")


@lru_cache(maxsize=1024)
def _spec(pattern: str) -> pathspec.PathSpec:
    return pathspec.PathSpec.from_lines("gitignore", [pattern.lower()])


def _normal(path: str) -> str:
    path = path.strip().strip('"')
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return posixpath.normpath(path).lstrip("/")


def forbidden_pattern(path: str, policy: Policy) -> str | None:
    """The first pattern (built-in, then the policy's) that forbids ``path``; None when allowed."""
    lowered = _normal(path).lower()
    for pattern in (*DEFAULT_FORBIDDEN, *policy.forbidden_paths):
        if pattern.lstrip().startswith("!"):
            continue
        if _spec(pattern).match_file(lowered):
            return pattern
    return None


def _documents(text: str) -> list[tuple[int, int, set[str]]]:
    """(first line, last line, kinds named) of each YAML document of ``text`` (1-based lines)."""
    docs: list[tuple[int, int, set[str]]] = []
    start, kinds = 1, set[str]()
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if _DOC_SEPARATOR.match(line):
            docs.append((start, number, kinds))
            start, kinds = number, set()
            continue
        m = _KIND.match(line)
        if m:
            kinds.add(m.group(1))
    docs.append((start, max(len(lines), start), kinds))
    return docs


def _touched_lines(pf: object) -> set[int]:
    """Source line numbers a file's hunks remove, or insert after (context lines excluded)."""
    touched: set[int] = set()
    for h in pf:  # type: ignore[attr-defined]
        last = max(h.source_start - 1, 1)
        for ln in h:
            if ln.is_removed:
                touched.add(ln.source_line_no)
            elif ln.is_added:
                touched.add(max(last, 1))
            if ln.source_line_no is not None:
                last = ln.source_line_no
    return touched


def _content_refusals(path: str, pf: object, original: str | None) -> list[Refusal]:
    from unidiff import PatchedFile

    assert isinstance(pf, PatchedFile)
    added = [ln.value for h in pf for ln in h if ln.is_added]
    removed = [ln.value for h in pf for ln in h if ln.is_removed]
    out: list[Refusal] = []
    if _DOCKERFILE.search(path) and any(_USER_LINE.match(v) for v in (*added, *removed)):
        out.append(Refusal(path=path, rule="dockerfile-user",
                           message=f"{path}: a fix must not change the user the container runs as (USER)"))
    if _MANIFEST.search(path):
        kinds = {m.group(1) for v in added if (m := _KIND.match(v))}
        if original is not None:
            touched = _touched_lines(pf)
            for first, last, doc_kinds in _documents(original):
                if any(first <= n <= last for n in touched):
                    kinds |= doc_kinds
        bad = sorted(kinds & FORBIDDEN_KINDS)
        if bad:
            out.append(Refusal(path=path, rule=f"kind: {bad[0]}",
                               message=f"{path}: a fix must not change access-control manifests (kind: {bad[0]})"))
    if _TERRAFORM.search(path):
        texts = [*added, *removed, original or ""]
        m = next((m for t in texts if (m := _TF_ACCESS.search(t))), None)
        if m:
            out.append(Refusal(path=path, rule=f"terraform {m.group(1)}",
                               message=f"{path}: a fix must not change IAM definitions ({m.group(1)})"))
    return out


def check_diff(diff: str, policy: Policy, read: Reader | None = None) -> list[Refusal]:
    """Every refusal for ``diff`` under ``policy``; ``read(path)`` gives a file's text before the diff."""
    from crew.repair.diffs import parse_diff

    try:
        files = parse_diff(diff)
    except BadInputError as exc:
        return [Refusal(path="<diff>", rule="unreadable-diff",
                        message=f"the diff could not be read, so its paths cannot be checked: {exc}")]
    out: list[Refusal] = []
    for pf in files:
        paths = list(dict.fromkeys(_normal(p) for p in (pf.source_file, pf.target_file) if p and p != "/dev/null"))
        for path in paths:
            pattern = forbidden_pattern(path, policy)
            if pattern is not None:
                out.append(Refusal(path=path, rule=pattern, message=f"{path} is forbidden by policy ({pattern})"))
            elif not policy.allow_config_edits and CONFIG_NAMES.search(path):
                out.append(Refusal(path=path, rule="allow_config_edits",
                                   message=f"{path} is configuration and config edits are disabled by policy"))
        source = _normal(pf.source_file) if pf.source_file and pf.source_file != "/dev/null" else None
        original = read(source) if (read is not None and source is not None) else None
        for path in paths:
            if not any(r.path == path for r in out):
                out.extend(_content_refusals(path, pf, original))
    return out
