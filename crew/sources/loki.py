"""Loki's ``/loki/api/v1/query_range`` over httpx, and its JSON saved in files.

There is no maintained Loki client on PyPI (``loki-client`` ships no code), and the API is one
GET, so this speaks it directly: backward paging from the alert's end, de-duplication of the
lines a page boundary returns twice, and bounded retries for the errors that are worth it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from crew.errors import BadInputError, SourceError
from crew.handoffs import Incident, LokiSource
from crew.logline import LogLine
from crew.payloads import loads

QUERY_RANGE_PATH = "/loki/api/v1/query_range"
LOOKBACK = timedelta(minutes=15)
"""How far before the alert's start to read: the first crash precedes the alert by the rule's ``for``."""
DEFAULT_WINDOW = timedelta(hours=1)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ENV_TOKEN = "HEALCREW_LOKI_TOKEN"
ENV_USERNAME = "HEALCREW_LOKI_USERNAME"
ENV_PASSWORD = "HEALCREW_LOKI_PASSWORD"

Entry = tuple[int, str, str]
"""(timestamp in ns, line, canonical stream labels)."""


def canonical_labels(labels: Mapping[str, str]) -> str:
    """Loki's own spelling of a label set: ``{a="x", b="y"}``, keys sorted, values quoted."""
    return "{" + ", ".join(f"{k}={json.dumps(str(v))}" for k, v in sorted(labels.items())) + "}"


def _ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC) + timedelta(microseconds=(ns % 1_000_000_000) // 1000)


def _datetime_to_ns(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _entries(obj: Any) -> list[Entry]:
    """The (ts, line, stream) entries of a query_range response, in response order."""
    if not isinstance(obj, Mapping):
        raise BadInputError(f"Loki response must be a JSON object, got {type(obj).__name__}")
    if obj.get("status", "success") != "success":
        raise BadInputError(f"Loki response status is {obj.get('status')!r}: {obj.get('error', '')}".rstrip(": "))
    data = obj.get("data")
    if not isinstance(data, Mapping) or "result" not in data:
        raise BadInputError("Loki response has no data.result")
    kind = data.get("resultType", "streams")
    if kind in ("matrix", "vector", "scalar"):
        raise BadInputError(
            f"Loki returned a {kind} (a metric query); use a log selector such as {{namespace=\"shop\"}}"
        )
    if kind != "streams":
        raise BadInputError(f"Loki resultType {kind!r} is not 'streams'")
    result = data["result"]
    if not isinstance(result, list):
        raise BadInputError("Loki data.result must be a list")
    out: list[Entry] = []
    for i, stream in enumerate(result):
        if not isinstance(stream, Mapping) or not isinstance(stream.get("values"), list):
            raise BadInputError(f"Loki data.result.{i} has no values list")
        labels = stream.get("stream") or {}
        if not isinstance(labels, Mapping):
            raise BadInputError(f"Loki data.result.{i}.stream must be an object")
        name = canonical_labels(labels)
        for j, value in enumerate(stream["values"]):
            # [ts, line] or, since Loki 3 with structured metadata, [ts, line, {metadata}]
            if not isinstance(value, list) or len(value) < 2 or not isinstance(value[1], str):
                raise BadInputError(f"Loki data.result.{i}.values.{j} is not [timestamp, line]")
            try:
                ts = int(value[0])
            except (TypeError, ValueError):
                raise BadInputError(f"Loki data.result.{i}.values.{j} timestamp {value[0]!r} is not ns") from None
            out.append((ts, value[1], name))
    return out


def _chronological(entries: list[Entry]) -> list[Entry]:
    """Oldest first across streams; ties keep each stream's order (reversed if it was backward)."""
    by_stream: dict[str, list[Entry]] = {}
    for entry in entries:
        by_stream.setdefault(entry[2], []).append(entry)
    merged: list[Entry] = []
    for values in by_stream.values():
        if values and values[0][0] > values[-1][0]:
            values.reverse()
        merged.extend(values)
    merged.sort(key=lambda e: e[0])
    return merged


def _to_lines(entries: list[Entry]) -> list[LogLine]:
    return [LogLine(text=line, timestamp=_ns_to_datetime(ts), stream=stream) for ts, line, stream in entries]


def parse_query_range(obj: Any) -> list[LogLine]:
    """A saved query_range response (``resultType: streams``) as lines, oldest first."""
    return _to_lines(_chronological(_entries(obj)))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff: ``base * 2**n`` capped at ``cap``; tests set tiny delays."""

    attempts: int = 4
    base: float = 0.25
    cap: float = 2.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self.cap)
        return min(self.base * (2**attempt), self.cap)


class LokiClient:
    """A small query_range client; one instance per Loki, closed with ``close()`` or ``with``."""

    def __init__(
        self,
        url: str,
        *,
        org_id: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if org_id:
            headers["X-Scope-OrgID"] = org_id
        if token:
            headers["Authorization"] = f"Bearer {token}"
        auth = httpx.BasicAuth(username, password or "") if username and not token else None
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.url, headers=headers, auth=auth, timeout=timeout, transport=transport
        )

    def __enter__(self) -> LokiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _get(self, params: dict[str, str]) -> Any:
        last = ""
        for attempt in range(max(1, self.retry.attempts)):
            retry_after = None
            try:
                resp = self._http.get(QUERY_RANGE_PATH, params=params)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if resp.status_code == 200:
                    try:
                        return loads(resp.content)  # bounded nesting: the body is untrusted
                    except ValueError:
                        raise SourceError(f"Loki at {self.url} answered 200 with a body that is not JSON") from None
                body = " ".join(resp.text.split())[:200]
                if resp.status_code not in RETRY_STATUSES:
                    raise SourceError(f"Loki at {self.url} answered {resp.status_code}: {body or resp.reason_phrase}")
                last = f"HTTP {resp.status_code}: {body or resp.reason_phrase}"
                retry_after = resp.headers.get("Retry-After")
            if attempt + 1 < self.retry.attempts:
                self._sleep(self.retry.delay(attempt, retry_after))
        raise SourceError(f"Loki at {self.url} failed after {self.retry.attempts} attempts: {last}")

    def iter_range(
        self, query: str, start: datetime, end: datetime, *, limit: int = 5000, max_lines: int = 200_000
    ) -> Iterator[LogLine]:
        """Lines of ``query`` in [start, end), newest page first (Loki's backward direction).

        Each next page ends just after the oldest timestamp seen (``end`` is exclusive), so
        entries sharing that nanosecond are not lost; the ones already yielded are skipped.
        """
        if limit < 1 or max_lines < 1:
            raise BadInputError("Loki limit and max_lines must be positive")
        start_ns, end_ns = _datetime_to_ns(start), _datetime_to_ns(end)
        boundary_ts: int | None = None
        boundary_seen: set[Entry] = set()
        yielded = 0
        while end_ns > start_ns:
            params = {
                "query": query, "start": str(start_ns), "end": str(end_ns),
                "limit": str(limit), "direction": "backward",
            }
            try:
                page = _entries(self._get(params))
            except BadInputError as exc:
                raise SourceError(str(exc)) from None
            if not page:
                return
            fresh = [e for e in page if not (e[0] == boundary_ts and e in boundary_seen)]
            fresh.sort(key=lambda e: e[0], reverse=True)
            for ts, line, stream in fresh:
                yield LogLine(text=line, timestamp=_ns_to_datetime(ts), stream=stream)
                yielded += 1
                if yielded >= max_lines:
                    return
            oldest = min(e[0] for e in page)
            at_oldest = {e for e in page if e[0] == oldest}
            if oldest != boundary_ts:
                boundary_ts, boundary_seen = oldest, set()
            boundary_seen |= at_oldest
            if len(page) < limit:
                return
            # A page of nothing new means more than `limit` entries share one nanosecond:
            # step past it rather than ask for the same page forever.
            next_end = oldest + 1 if fresh else oldest
            if next_end >= end_ns:
                next_end = end_ns - 1
            end_ns = next_end

    def query_range(
        self, query: str, start: datetime, end: datetime, *, limit: int = 5000, max_lines: int = 200_000
    ) -> list[LogLine]:
        """All lines of ``query`` in [start, end), oldest first (what the extractor reads)."""
        newest_first = list(self.iter_range(query, start, end, limit=limit, max_lines=max_lines))
        newest_first.reverse()
        far_past = datetime.min.replace(tzinfo=UTC)
        newest_first.sort(key=lambda line: line.timestamp or far_past)
        return newest_first


def _quote(value: str) -> str:
    return json.dumps(value)


def selector_for(incident: Incident) -> str:
    """A LogQL stream selector for the incident's pod: ``{namespace="shop", pod="pricing-..."}``."""
    from crew.sources.alertmanager import alert_target, pick_crash_alert

    namespace, pod, container = incident.namespace, incident.pod, incident.container
    alert = pick_crash_alert(incident.alerts)
    if alert is not None:
        target = alert_target(alert)
        namespace, pod = namespace or target.namespace, pod or target.pod
        container = container or target.container
    matchers = [f"{k}={_quote(v)}" for k, v in (("namespace", namespace), ("pod", pod), ("container", container)) if v]
    if not pod and not container:
        raise BadInputError("cannot derive a Loki query without a pod or container; set logs.loki.query")
    return "{" + ", ".join(matchers) + "}"


def time_window(incident: Incident, now: datetime | None = None) -> tuple[datetime, datetime]:
    """From 15 min before the crash alert started to its end (or now when it still fires)."""
    from crew.sources.alertmanager import pick_crash_alert

    now = now or datetime.now(UTC)
    alert = pick_crash_alert(incident.alerts)
    started = incident.started_at or (alert.starts_at if alert else None)
    ended = alert.ends_at if alert is not None and alert.status == "resolved" else None
    end = min(ended + timedelta(minutes=1), now) if ended else now
    start = started - LOOKBACK if started else end - DEFAULT_WINDOW
    if start >= end:
        start = end - DEFAULT_WINDOW
    return start, end


def fetch_incident_logs(
    source: LokiSource, incident: Incident, *, now: datetime | None = None, **client_options: Any
) -> list[LogLine]:
    """The incident's lines from Loki, oldest first.

    Credentials come from the environment (``HEALCREW_LOKI_TOKEN``, or ``HEALCREW_LOKI_USERNAME``
    and ``HEALCREW_LOKI_PASSWORD``), never from an incident file that may be shared.
    """
    query = source.query or selector_for(incident)
    start, end = time_window(incident, now)
    options: dict[str, Any] = {
        "token": os.environ.get(ENV_TOKEN) or None,
        "username": os.environ.get(ENV_USERNAME) or None,
        "password": os.environ.get(ENV_PASSWORD) or None,
    }
    options.update(client_options)
    with LokiClient(source.url, org_id=source.org_id, **options) as client:
        return client.query_range(query, start, end, limit=source.limit, max_lines=source.max_lines)
