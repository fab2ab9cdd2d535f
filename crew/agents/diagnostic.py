"""Diagnostic agent (offline brain): from crash evidence and the repo, a located, explained cause.

It maps the frames onto the repo at the deployed commit, picks the fault frame (the deepest
frame in repo code, which is also the repo frame that called into a library when the library
raised), reads the enclosing function, classifies the cause, names the commits that last
changed the fault line, and states a hypothesis with a confidence.
"""

from __future__ import annotations

from crew.code_context import code_context
from crew.diagnosis.classify import classify, failing_expression
from crew.diagnosis.locations import rank_locations
from crew.errors import BadInputError, NoCrashEvidenceError
from crew.handoffs import (
    CrashEvidence,
    Diagnosis,
    MappedFrame,
    RootCause,
    SuspectCommit,
    Traceback,
)
from crew.mapping import RepoIndex, map_frames
from crew.repo import GitRepo


def _chain(tb: Traceback) -> list[Traceback]:
    """The exception chain, outermost (the one that crashed) first."""
    chain: list[Traceback] = []
    current: Traceback | None = tb
    while current is not None and len(chain) < 20:
        chain.append(current)
        if current.group and not current.frames and current.cause is None:
            current = current.group[0]
            continue
        current = current.cause
    return chain


def choose_exception(tb: Traceback, index: RepoIndex) -> tuple[Traceback, list[MappedFrame]]:
    """The root of the chain that still has a frame in repo code.

    The first failure is the cause; the wrappers raised while handling it are symptoms.
    An ExceptionGroup is replaced by its first member that reaches repo code.
    """
    candidates: list[Traceback] = []
    for link in _chain(tb):
        candidates.append(link)
        candidates.extend(link.group)
    mapped_by_link = [(link, map_frames(link.frames, index)) for link in candidates]
    with_repo = [(link, m) for link, m in mapped_by_link if any(f.repo_path for f in m)]
    if not with_repo:
        return mapped_by_link[0]
    # _chain lists outermost first; the innermost link with repo code is the root cause.
    plain = [(link, m) for link, m in with_repo if not link.group]
    return (plain or with_repo)[-1]


def _fault_frames(mapped: list[MappedFrame]) -> tuple[MappedFrame | None, MappedFrame | None]:
    fault = next((m for m in reversed(mapped) if m.repo_path), None)
    library = None
    if fault is not None and mapped and mapped[-1] is not fault and mapped[-1].is_library:
        library = mapped[-1]
    return fault, library


def _suspects(repo: GitRepo, path: str, line: int, start: int, end: int) -> list[SuspectCommit]:
    suspects: list[SuspectCommit] = []
    blamed = repo.blame_line(path, line)
    if blamed:
        suspects.append(blamed)
    for commit in repo.commits_touching(path, start, end):
        if all(commit.sha != s.sha for s in suspects):
            suspects.append(commit)
    created = repo.file_creators(path) if suspects else frozenset()
    return [s.model_copy(update={"created_file": s.sha in created}) for s in suspects[:3]]


def _no_traceback_diagnosis(evidence: CrashEvidence, repo: GitRepo) -> Diagnosis:
    term = evidence.termination
    if term is None:
        raise NoCrashEvidenceError("no crash evidence found: no Python traceback, OOM kill or start-up error")
    if term.kind == "oom_killed":
        return Diagnosis(
            incident_id=evidence.incident_id, exc_type="OOMKilled", exc_message=term.reason,
            root_cause=RootCause.OUT_OF_MEMORY, commit=repo.commit, confidence=0.8,
            hypothesis=(
                f"The container was killed by the kernel for exceeding its memory limit "
                f"(reason {term.reason or 'OOMKilled'}, exit code {term.exit_code or 137}). "
                "No Python exception was raised, so the fix is either a higher memory limit "
                "or less memory per unit of work; the logs stop without a traceback."
            ),
        )
    root = classify("RuntimeError", term.detail or term.reason, None)
    return Diagnosis(
        incident_id=evidence.incident_id, exc_type="StartupFailure", exc_message=term.detail[:500],
        root_cause=root, commit=repo.commit, confidence=0.4,
        hypothesis=(
            f"The service fails at start-up without a traceback: {term.detail[:300]!r}. "
            + ("This reads as missing configuration." if root is RootCause.MISSING_CONFIG else
               "The cause could not be classified from this line alone.")
        ),
    )


def diagnose(evidence: CrashEvidence, repo: GitRepo) -> Diagnosis:
    """Locate and explain the dominant crash of ``evidence`` in ``repo``."""
    if not evidence.tracebacks:
        return _no_traceback_diagnosis(evidence, repo)
    dominant = evidence.groups[0] if evidence.groups else None
    tb = evidence.tracebacks[dominant.example if dominant else -1]
    index = RepoIndex(repo.tracked_files)
    chosen, mapped = choose_exception(tb, index)
    fault, library = _fault_frames(mapped)
    if fault is None or fault.repo_path is None:
        shown = ", ".join(sorted({f.frame.file for f in mapped if not f.is_library})[:3]) or "only library frames"
        raise BadInputError(
            f"none of the traceback's files are in the repository {repo.path.name} ({shown}); wrong repo?"
        )
    source = repo.read(fault.repo_path) or ""
    context = code_context(fault.repo_path, source, fault.frame.line)
    repo_code = context.lines[context.fault_line - context.start_line].strip() if context.lines else ""
    log_code = (fault.frame.code or "").strip()
    root = classify(chosen.exc_type, chosen.exc_message, repo_code or log_code)
    # The carets were printed under the logged line: they hold for the deployed line only when it is the same.
    carets = fault.frame.carets if not repo_code or repo_code == log_code else None
    culprit = failing_expression(repo_code or log_code, root, chosen.exc_message, carets)
    suspects = _suspects(repo, fault.repo_path, context.fault_line, context.start_line, context.end_line)
    locations = rank_locations(mapped, fault, culprit, root, chosen.exc_message, repo.read, repo.tracked_files)

    confidence = 0.9
    doubts: list[str] = []
    if root is RootCause.UNKNOWN:
        confidence -= 0.3
        doubts.append("the exception type is outside the taxonomy")
    if chosen.truncated:
        confidence -= 0.15
        doubts.append("the traceback was truncated in the logs")
    if log_code and repo_code and log_code != repo_code:
        confidence -= 0.2
        doubts.append("the logged code line differs from the deployed commit (is the commit right?)")
    if len(evidence.groups) > 1:
        confidence -= 0.1
        doubts.append(f"{len(evidence.groups)} distinct crash signatures were seen")

    where = f"`{context.function or '<module>'}` ({fault.repo_path}:{context.fault_line})"
    count = dominant.count if dominant else 1
    parts = [
        f"{where} raises {chosen.exc_type}"
        + (f" ({chosen.exc_message[:160]})" if chosen.exc_message else "")
        + (f" on `{repo_code}`" if repo_code else "") + "."
    ]
    if culprit:
        parts.append(f"The failing expression is `{culprit}`, classified as {root.value.replace('_', ' ')}.")
    else:
        parts.append(f"Classified as {root.value.replace('_', ' ')}.")
    if library is not None:
        parts.append(
            f"The exception is raised inside library code ({library.frame.file}:{library.frame.line}) "
            f"called from repo code; the fix belongs at the repo call site."
        )
    if suspects:
        s = suspects[0]
        who = f"{s.sha[:10]} ({s.author.split(' <')[0]}, {s.date.date().isoformat()}, \"{s.summary}\")"
        parts.append(f"The line is as old as the file, added by {who}." if s.created_file else
                     f"The line was last changed by {who}, the likely regression.")
    upstream = [loc for loc in locations[1:] if loc.score >= 0.5][:2]
    if upstream:
        parts.append("The bad value may come from " + "; ".join(
            f"{loc.path}:{loc.line} ({loc.reason})" for loc in upstream) + ".")
    parts.append(f"Seen {count} time{'s' if count != 1 else ''} in the logs.")
    if doubts:
        parts.append("Doubts: " + "; ".join(doubts) + ".")
    return Diagnosis(
        incident_id=evidence.incident_id, exc_type=chosen.exc_type, exc_message=chosen.exc_message,
        root_cause=root, frames=mapped, fault_frame=fault, library_frame=library,
        code_context=context, suspect_commits=suspects, commit=repo.commit, culprit=culprit, fault_locations=locations,
        hypothesis=" ".join(parts), confidence=round(max(0.1, confidence), 2),
    )
