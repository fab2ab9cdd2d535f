"""Monitoring agent: from an incident (alert + log source) to crash evidence.

It fetches the lines, pulls the Python tracebacks out of them, groups identical crashes,
and recognises the crashes that leave no traceback (an OOM kill, a start-up error).
"""

from __future__ import annotations

from pathlib import Path

from crew.errors import BadInputError, NoCrashEvidenceError
from crew.extract import extract_tracebacks
from crew.grouping import group_crashes
from crew.handoffs import CrashEvidence, Incident, Termination
from crew.logline import LogLine, lines_read

EXCERPT_LINES = 40
CONTEXT_LINES = 200


def fetch_lines(incident: Incident) -> tuple[list[LogLine], str]:
    """Read the incident's log source; returns the lines and a name for the source."""
    source = incident.logs
    if source is None:
        raise BadInputError("the incident names no log source (logs.file, logs.loki or logs.kubernetes)")
    if source.file:
        from crew.sources.files import read_log_file

        return read_log_file(Path(source.file)), source.file
    if source.loki:
        from crew.sources.loki import fetch_incident_logs

        return fetch_incident_logs(source.loki, incident), f"loki {source.loki.url}"
    if source.kubernetes:
        from crew.sources.kubernetes import read_previous_logs

        k8s = source.kubernetes
        return read_previous_logs(k8s), f"kubernetes {k8s.namespace}/{k8s.pod}"
    raise BadInputError("the incident's log source is empty")


def _termination(incident: Incident, lines: list[LogLine], has_traceback: bool) -> Termination | None:
    from crew.sources.alertmanager import alert_termination

    term = alert_termination(incident.alerts)
    if term is None and (incident.termination_reason == "OOMKilled" or incident.exit_code == 137):
        term = Termination(
            kind="oom_killed", reason=incident.termination_reason or "OOMKilled",
            exit_code=incident.exit_code or 137,
        )
    if term is None and incident.logs is not None and incident.logs.kubernetes is not None:
        from crew.sources.kubernetes import read_termination

        pod_term = read_termination(incident.logs.kubernetes)
        if pod_term is not None and pod_term.kind == "oom_killed":
            term = pod_term
    if term is None and not has_traceback:
        from crew.sources.startup import find_startup_failure

        term = find_startup_failure(lines)
    return term


def gather_evidence(incident: Incident, lines: list[LogLine], source: str) -> CrashEvidence:
    """Extract, group and summarise the crashes found in ``lines``.

    Sentry events among the lines are read as events (their frames carry locals), the rest by the
    text extractor; the events' tracebacks follow the text ones.
    """
    from crew.sources.sentry import read_events

    sentry = read_events(lines)
    text_lines = lines if len(sentry.others) == len(lines) else sentry.others
    tracebacks = extract_tracebacks(text_lines) + sentry.tracebacks
    groups = group_crashes(tracebacks)
    termination = _termination(incident, text_lines, bool(tracebacks))
    if not tracebacks and termination is None:
        refused = f"; {sentry.refused[0]}" if sentry.refused else ""
        raise NoCrashEvidenceError(
            f"no crash evidence found in {lines_read(lines)} log lines: no Python traceback, OOM kill or start-up error"
            f"{refused}"
        )
    excerpt: list[str] = []
    if groups:
        excerpt = tracebacks[groups[0].example].raw.splitlines()[-EXCERPT_LINES:]
    elif termination is not None:
        excerpt = [line.text for line in lines[-EXCERPT_LINES:]]
    return CrashEvidence(
        incident_id=incident.id, source=source, lines_scanned=lines_read(lines), tracebacks=tracebacks,
        groups=groups, termination=termination, log_excerpt=excerpt,
        context_lines=(_data_lines(text_lines) + sentry.context)[-CONTEXT_LINES:],
    )


def _data_lines(lines: list[LogLine], limit: int = CONTEXT_LINES) -> list[str]:
    """Lines that carry structured data (request bodies, arguments), newest kept, bounded.

    Reproduction binds the crashing call's arguments to values found here.
    """
    found: list[str] = []
    for line in lines:
        text = line.text
        if ("{" in text and ":" in text) or "(" in text and "=" in text:
            if 'File "' in text or text.lstrip().startswith("Traceback"):
                continue
            found.append(text[:2000])
    return found[-limit:]


def monitor(incident: Incident) -> CrashEvidence:
    """The whole Monitoring stage."""
    lines, source = fetch_lines(incident)
    return gather_evidence(incident, lines, source)
