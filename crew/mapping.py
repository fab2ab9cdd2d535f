"""Map traceback frames (container paths) onto the files tracked in a repository.

A frame says ``/app/app/pricing.py``; the repo holds ``app/pricing.py``. We compare path
components from the end (as Sentry's frame matching does): the candidate sharing the longest
suffix wins. When several candidates tie (two ``utils.py``), the container prefix learned from
the unambiguous frames of the same traceback decides. Library frames (site-packages, the
standard library, frozen modules) are set aside before matching, even when a vendored copy
with the same suffix exists in the repo.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from crew.handoffs import Frame, MappedFrame

_LIBRARY = re.compile(
    r"(?:^|/)(?:site-packages|dist-packages|\.venv|venv|virtualenv|\.tox)/"
    r"|(?:^|/)lib(?:64)?/python\d(?:\.\d+)?/"
    r"|^<frozen |^<string>$|^<stdin>$|^<[a-z_ -]+>$",
    re.IGNORECASE,
)
# Prefixes under which images commonly put the service; tried when suffix matching is ambiguous.
COMMON_PREFIXES = ("/app/", "/srv/", "/usr/src/app/", "/code/", "/opt/app/", "/workspace/", "/src/")


def is_library_path(path: str) -> bool:
    """True for frames of installed packages or the standard library."""
    return bool(_LIBRARY.search(path.replace("\\", "/")))


class RepoIndex:
    """The repo's tracked files, indexed by file name for suffix matching."""

    def __init__(self, tracked_files: Iterable[str]) -> None:
        self.files: set[str] = set()
        self._by_name: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for path in tracked_files:
            if not path.endswith(".py"):
                continue
            self.files.add(path)
            parts = tuple(path.split("/"))
            self._by_name[parts[-1]].append(parts)

    def candidates(self, frame_path: str) -> list[tuple[int, str]]:
        """Repo paths ending like ``frame_path``, as (matched components, path), best first."""
        parts = [p for p in frame_path.replace("\\", "/").split("/") if p]
        if not parts:
            return []
        scored: list[tuple[int, str]] = []
        for cand in self._by_name.get(parts[-1], ()):
            matched = 0
            for a, b in zip(reversed(parts), reversed(cand), strict=False):
                if a != b:
                    break
                matched += 1
            scored.append((matched, "/".join(cand)))
        scored.sort(key=lambda item: (-item[0], len(item[1]), item[1]))
        return scored


def map_frames(frames: Sequence[Frame], index: RepoIndex) -> list[MappedFrame]:
    """Map every frame; unambiguous frames teach the container prefix that resolves the rest."""
    results: list[MappedFrame | None] = [None] * len(frames)
    learned: Counter[str] = Counter()
    pending: list[tuple[int, str, list[tuple[int, str]]]] = []
    for i, frame in enumerate(frames):
        full = frame.file.replace("\\", "/")
        if is_library_path(full):
            results[i] = MappedFrame(frame=frame, is_library=True, note="library frame")
            continue
        cands = index.candidates(full)
        if not cands:
            results[i] = MappedFrame(frame=frame, note="not a file of the repository")
            continue
        best = [c for c in cands if c[0] == cands[0][0]]
        if len(best) == 1 and best[0][0] > 1 and full.endswith(best[0][1]):
            learned[full[: len(full) - len(best[0][1])]] += 1
        pending.append((i, full, best))
    prefixes = sorted(learned, key=lambda p: (-learned[p], -len(p)))
    for i, full, best in pending:
        frame = frames[i]
        chosen = next(
            (full[len(p):] for p in (*prefixes, *COMMON_PREFIXES)
             if full.startswith(p) and full[len(p):] in index.files),
            None,
        )
        if chosen is not None:
            note = "suffix match" if len(best) == 1 and best[0][1] == chosen else "suffix match, prefix disambiguated"
        else:
            chosen = best[0][1]
            note = "suffix match" if len(best) == 1 else (
                f"ambiguous: {len(best)} files named {full.rsplit('/', 1)[-1]}; chose shortest"
            )
        results[i] = MappedFrame(frame=frame, repo_path=chosen, note=note)
    return [r for r in results if r is not None]
