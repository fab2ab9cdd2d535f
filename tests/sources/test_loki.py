"""Loki query_range contract: documented response shapes served from a loopback server."""

from __future__ import annotations

import base64
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crew.errors import BadInputError, SourceError
from crew.handoffs import AlertInfo, Incident, LokiSource
from crew.sources.loki import (
    LokiClient,
    RetryPolicy,
    canonical_labels,
    fetch_incident_logs,
    parse_query_range,
    selector_for,
    time_window,
)
from tests.replay_server import ReplayServer, Reply, Request

T0 = 1_793_758_400_000_000_000  # 2026-11-04T02:13:20Z in ns
START = datetime(2026, 11, 4, 2, 0, tzinfo=UTC)
END = datetime(2026, 11, 4, 3, 0, tzinfo=UTC)
POD = {"namespace": "shop", "pod": "pricing-service-6f9c7d8b5-x2kqp", "container": "pricing"}
SIDECAR = {**POD, "container": "envoy"}
FAST = RetryPolicy(attempts=3, base=0.001, cap=0.01)

Entry = tuple[int, str, dict[str, str]]


def streams_body(entries: list[Entry], stats: bool = True) -> bytes:
    """A query_range success body (resultType streams), one result per label set."""
    result: dict[str, dict[str, Any]] = {}
    for ts, line, labels in entries:
        key = json.dumps(labels, sort_keys=True)
        result.setdefault(key, {"stream": labels, "values": []})["values"].append([str(ts), line])
    data: dict[str, Any] = {"resultType": "streams", "result": list(result.values())}
    if stats:
        data["stats"] = {"summary": {"totalEntriesReturned": len(entries)}}
    return json.dumps({"status": "success", "data": data}).encode()


class FakeLoki:
    """Answers query_range over a fixed set of entries the way Loki does for direction=backward."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries

    def __call__(self, req: Request) -> Reply:
        assert req.path == "/loki/api/v1/query_range"
        q = {k: v[0] for k, v in req.query.items()}
        assert q["direction"] == "backward"
        start, end, limit = int(q["start"]), int(q["end"]), int(q["limit"])
        indexed = [(i, e) for i, e in enumerate(self.entries) if start <= e[0] < end]
        indexed.sort(key=lambda ie: (ie[1][0], ie[0]), reverse=True)
        page = [e for _, e in indexed[:limit]]
        return 200, {"Content-Type": "application/json"}, streams_body(page)


def client(server: ReplayServer, **kwargs: Any) -> LokiClient:
    kwargs.setdefault("retry", FAST)
    return LokiClient(server.url, **kwargs)


def test_pages_backward_across_three_pages_oldest_first(replay_server: ReplayServer) -> None:
    entries = [(T0 + i * 1000, f"line {i}", POD if i % 3 else SIDECAR) for i in range(24)]
    replay_server.handler = FakeLoki(entries)
    with client(replay_server, org_id="tenant-a") as loki:
        lines = loki.query_range('{namespace="shop"}', START, END, limit=10)
    assert [ln.text for ln in lines] == [f"line {i}" for i in range(24)]
    assert len(replay_server.requests) == 3
    first, second, third = (r.query for r in replay_server.requests)
    assert first["query"] == ['{namespace="shop"}']
    assert first["limit"] == ["10"] and first["direction"] == ["backward"]
    assert first["start"] == [str(int(START.timestamp()) * 10**9)]
    assert first["end"] == [str(int(END.timestamp()) * 10**9)]
    # each next page ends just after the oldest line seen (end is exclusive)
    assert second["end"] == [str(T0 + 14 * 1000 + 1)]
    assert third["end"] == [str(T0 + 5 * 1000 + 1)]
    assert all(r.headers.get("x-scope-orgid") == "tenant-a" for r in replay_server.requests)
    assert lines[0].timestamp == datetime.fromtimestamp(T0 / 1e9, tz=UTC)
    assert lines[1].stream == canonical_labels(POD)
    assert lines[0].stream == '{container="envoy", namespace="shop", pod="pricing-service-6f9c7d8b5-x2kqp"}'


def test_lines_sharing_the_boundary_timestamp_are_kept_once(replay_server: ReplayServer) -> None:
    # three lines share one nanosecond and the page limit cuts between them
    entries: list[Entry] = [(T0 + i, f"old {i}", POD) for i in range(5)]
    entries += [(T0 + 100, f"same {i}", POD) for i in range(3)]
    entries += [(T0 + 200 + i, f"new {i}", POD) for i in range(8)]
    replay_server.handler = FakeLoki(entries)
    with client(replay_server) as loki:
        lines = loki.query_range("{}", START, END, limit=10)
    texts = [ln.text for ln in lines]
    assert sorted(texts) == sorted(e[1] for e in entries)
    assert len(texts) == len(set(texts)) == 16
    assert texts[:5] == [f"old {i}" for i in range(5)] and texts[-8:] == [f"new {i}" for i in range(8)]


def test_more_lines_in_one_nanosecond_than_a_page_does_not_loop(replay_server: ReplayServer) -> None:
    entries: list[Entry] = [(T0, f"burst {i}", POD) for i in range(5)] + [(T0 - 10, "before", POD)]
    replay_server.handler = FakeLoki(entries)
    with client(replay_server) as loki:
        lines = loki.query_range("{}", START, END, limit=3)
    assert len(replay_server.requests) <= 4
    assert "before" in [ln.text for ln in lines]
    assert len({ln.text for ln in lines}) == len(lines)


def test_max_lines_stops_paging(replay_server: ReplayServer) -> None:
    replay_server.handler = FakeLoki([(T0 + i, f"l{i}", POD) for i in range(50)])
    with client(replay_server) as loki:
        lines = loki.query_range("{}", START, END, limit=10, max_lines=15)
    assert [ln.text for ln in lines] == [f"l{i}" for i in range(35, 50)]
    assert len(replay_server.requests) == 2


def _sequence(*replies: Reply) -> Any:
    queue = list(replies)

    def handler(req: Request) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


OK = (200, {"Content-Type": "application/json"}, streams_body([(T0, "hello", POD)]))


def test_500_then_200_is_retried(replay_server: ReplayServer) -> None:
    replay_server.handler = _sequence((500, {}, b"internal error"), (502, {}, b""), OK)
    slept: list[float] = []
    with client(replay_server, retry=RetryPolicy(attempts=4, base=0.001, cap=1.0), sleep=slept.append) as loki:
        lines = loki.query_range("{}", START, END)
    assert [ln.text for ln in lines] == ["hello"]
    assert len(replay_server.requests) == 3
    assert slept == [0.001, 0.002]  # exponential


def test_429_is_retried_honouring_retry_after_within_the_cap(replay_server: ReplayServer) -> None:
    replay_server.handler = _sequence((429, {"Retry-After": "30"}, b"too many outstanding requests"), OK)
    slept: list[float] = []
    with client(replay_server, retry=RetryPolicy(attempts=3, base=0.001, cap=0.05), sleep=slept.append) as loki:
        assert [ln.text for ln in loki.query_range("{}", START, END)] == ["hello"]
    assert slept == [0.05]
    assert len(replay_server.requests) == 2


def test_400_is_not_retried(replay_server: ReplayServer) -> None:
    body = b"parse error at line 1, col 1: syntax error: unexpected IDENTIFIER\n"
    replay_server.handler = _sequence((400, {}, body), OK)
    with client(replay_server) as loki, pytest.raises(SourceError) as err:
        loki.query_range("shop", START, END)
    assert len(replay_server.requests) == 1
    assert "400" in str(err.value) and "parse error" in str(err.value)
    assert "\n" not in str(err.value)


def test_persistent_503_gives_up_after_the_attempts(replay_server: ReplayServer) -> None:
    replay_server.handler = _sequence((503, {}, b"unavailable"))
    with client(replay_server) as loki, pytest.raises(SourceError, match="after 3 attempts.*503"):
        loki.query_range("{}", START, END)
    assert len(replay_server.requests) == 3


def test_connection_refused_is_a_source_error_after_retries() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    slept: list[float] = []
    with LokiClient(f"http://127.0.0.1:{port}", retry=FAST, sleep=slept.append) as loki, \
            pytest.raises(SourceError, match="after 3 attempts.*Connect"):
        loki.query_range("{}", START, END)
    assert len(slept) == 2


def test_metric_query_and_error_bodies_are_source_errors(replay_server: ReplayServer) -> None:
    matrix = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "2"]]}]}}
    replay_server.handler = _sequence((200, {}, json.dumps(matrix).encode()))
    with client(replay_server) as loki, pytest.raises(SourceError, match="matrix"):
        loki.query_range("rate({app=\"x\"}[1m])", START, END)
    replay_server.handler = _sequence((200, {}, b"<html>proxy login</html>"))
    with client(replay_server) as loki, pytest.raises(SourceError, match="not JSON"):
        loki.query_range("{}", START, END)


def test_bearer_and_basic_auth_headers(replay_server: ReplayServer) -> None:
    replay_server.handler = _sequence(OK)
    with client(replay_server, token="s3cret") as loki:
        loki.query_range("{}", START, END)
    with client(replay_server, username="grafana", password="pw") as loki:
        loki.query_range("{}", START, END)
    assert replay_server.requests[0].headers["authorization"] == "Bearer s3cret"
    assert replay_server.requests[1].headers["authorization"] == "Basic " + base64.b64encode(b"grafana:pw").decode()
    assert "x-scope-orgid" not in replay_server.requests[0].headers


def _incident(**kwargs: Any) -> Incident:
    alert = AlertInfo(
        status="firing", alertname="KubePodCrashLooping",
        labels={"alertname": "KubePodCrashLooping", **POD}, starts_at=datetime(2026, 11, 4, 2, 13, 47, tzinfo=UTC),
    )
    return Incident(id="pricing", repo=".", alerts=[alert], **kwargs)


def test_selector_and_window_come_from_the_alert() -> None:
    incident = _incident()
    assert selector_for(incident) == '{namespace="shop", pod="pricing-service-6f9c7d8b5-x2kqp", container="pricing"}'
    now = datetime(2026, 11, 4, 2, 30, tzinfo=UTC)
    assert time_window(incident, now) == (datetime(2026, 11, 4, 1, 58, 47, tzinfo=UTC), now)
    ended = datetime(2026, 11, 4, 2, 20, tzinfo=UTC)
    resolved = incident.alerts[0].model_copy(update={"status": "resolved", "ends_at": ended})
    start, end = time_window(incident.model_copy(update={"alerts": [resolved]}), now)
    assert end == datetime(2026, 11, 4, 2, 21, tzinfo=UTC)
    with pytest.raises(BadInputError, match="logs.loki.query"):
        selector_for(Incident(id="x", repo=".", namespace="shop"))
    assert selector_for(Incident(id="x", repo=".", pod='we"ird')) == '{pod="we\\"ird"}'


def test_fetch_incident_logs_end_to_end(replay_server: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    replay_server.handler = FakeLoki([(T0 + i, f"l{i}", POD) for i in range(7)])
    monkeypatch.setenv("HEALCREW_LOKI_TOKEN", "tok")
    source = LokiSource(url=replay_server.url + "/", org_id="team-shop", limit=3)
    now = datetime(2026, 11, 4, 3, 0, tzinfo=UTC)
    lines = fetch_incident_logs(source, _incident(), now=now, retry=FAST)
    assert [ln.text for ln in lines] == [f"l{i}" for i in range(7)]
    req = replay_server.requests[0]
    assert req.query["query"] == ['{namespace="shop", pod="pricing-service-6f9c7d8b5-x2kqp", container="pricing"}']
    assert req.query["start"] == [str(int((datetime(2026, 11, 4, 1, 58, 47, tzinfo=UTC)).timestamp()) * 10**9)]
    assert req.headers["authorization"] == "Bearer tok"
    assert req.headers["x-scope-orgid"] == "team-shop"


def test_parse_query_range_orders_streams_chronologically() -> None:
    entries = [(T0 + 5, "b2", SIDECAR), (T0 + 3, "b1", SIDECAR), (T0 + 4, "a2", POD), (T0 + 1, "a1", POD)]
    body = json.loads(streams_body(entries))
    body["data"]["result"][0]["values"][0].append({"structuredMetadata": {"trace_id": "abc"}})  # Loki 3 shape
    lines = parse_query_range(body)
    assert [ln.text for ln in lines] == ["a1", "b1", "a2", "b2"]
    assert lines[0].timestamp == datetime.fromtimestamp(T0 / 1e9, tz=UTC)
    assert parse_query_range({"status": "success", "data": {"resultType": "streams", "result": []}}) == []


def test_parse_query_range_keeps_nanosecond_order_below_a_microsecond() -> None:
    body = json.loads(streams_body([(T0 + 900, "third", POD), (T0 + 500, "second", POD), (T0 + 100, "first", POD)]))
    assert [ln.text for ln in parse_query_range(body)] == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "matrix"),
        ({"status": "error", "error": "boom"}, "error"),
        ({"status": "success", "data": {}}, "data.result"),
        ({"status": "success", "data": {"resultType": "streams", "result": [{"stream": {}}]}}, "values"),
        ({"status": "success", "data": {"resultType": "streams", "result": [{"stream": {}, "values": [["x", "l"]]}]}},
         "timestamp"),
        ([1, 2], "object"),
    ],
)
def test_parse_query_range_rejects_other_shapes(obj: Any, match: str) -> None:
    with pytest.raises(BadInputError, match=match):
        parse_query_range(obj)


def test_end_before_start_yields_nothing(replay_server: ReplayServer) -> None:
    replay_server.handler = _sequence(OK)
    with client(replay_server) as loki:
        assert loki.query_range("{}", END, START) == []
    assert replay_server.requests == []
    assert timedelta(0) < END - START
