"""Schemathesis fuzzes every operation of the service's OpenAPI spec, with and without credentials.

Each operation gets schema-valid and schema-violating requests (Schemathesis' positive and negative
modes, its examples and coverage phases); every answer must be documented in the spec, match its
schema and never be a 5xx. The app is the real one on a temp SQLite file and audit log; only the
pipeline is a recorder and the workers are held back, so nothing slow runs. Deterministic
(``derandomize``) and bounded: a fixed number of examples per operation and a per-example deadline.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from crew.audit import AuditLog, verify_chain
from tests.service.helpers import AUTH, TOKEN, RecordingPipeline, alert_payload, make

pytestmark = pytest.mark.timeout(120)

PUBLIC = {"/healthz", "/readyz", "/metrics"}
"""The only routes that answer without credentials."""

FUZZ = settings(max_examples=30, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

_STATE = tempfile.TemporaryDirectory(prefix="healcrew-fuzz-")
_AUDIT = Path(_STATE.name) / "audit.jsonl"
APP = make(Path(_STATE.name), RecordingPipeline(), start_workers=False, audit=AuditLog(_AUDIT))
# The webhook is tolerant on purpose (a number sent as "5" is read as 5, unknown fields are ignored:
# an Alertmanager upgrade must not stop healcrew), so "schema-violating data accepted" is not a fault
# here; every other check runs, "schema-valid data rejected" included.
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"enabled": False}}})


async def _served(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """APP with its lifespan run once by the module fixture, as uvicorn does (Schemathesis' ASGI client
    would start and stop it around every test, and the app's audit writer stops with the first stop)."""
    if scope["type"] != "lifespan":
        return await APP(scope, receive, send)
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})
    return None


schema = schemathesis.openapi.from_asgi("/openapi.json", _served, config=CONFIG)

accepted: list[str] = []
"""Incident ids the webhook answered with; intake writes one audit record for each."""
answers: Counter[int] = Counter()
"""Status codes of the fuzzed requests, printed at the end."""


@pytest.fixture(scope="module", autouse=True)
def seeded() -> Iterator[str]:
    """One real incident, so list bodies carry items; afterwards the audit chain must still verify."""
    with TestClient(APP) as client:  # the app's lifespan: recovery now, the audit writer drained at the end
        first = client.post("/alerts", json=alert_payload("fuzz-seed"), headers=AUTH).json()["incidents"]
        accepted.extend(first)
        yield first[0]
    check = verify_chain(_AUDIT)
    records = check.records
    _STATE.cleanup()
    print(f"\nfuzz: {sum(answers.values())} requests, by status {dict(sorted(answers.items()))}; "
          f"{len(accepted)} alerts accepted, {records} audit records, chain ok: {check.ok}")
    assert check.ok, check.reason
    assert records == len(accepted), (records, len(accepted))


def _note(case: Any, response: Any) -> None:
    answers[response.status_code] += 1
    if case.operation.path == "/alerts" and response.status_code == 202:
        body = response.json()  # a plain repeat is counted, not audited (docs/SERVICE.md)
        accepted.extend(i for i, a in zip(body["incidents"], body["actions"], strict=True)
                        if i and a != "deduplicated")


@schema.parametrize()
@FUZZ
def test_fuzz_without_credentials(case: Any) -> None:
    response = case.call_and_validate()
    _note(case, response)
    if case.operation.path not in PUBLIC:  # a forged or missing token never gets in, nor past a 4xx
        assert response.status_code in (401, 405, 413), (response.status_code, response.text)


@schema.parametrize()
@FUZZ
def test_fuzz_with_valid_credentials(case: Any) -> None:
    response = case.call_and_validate(headers=AUTH)
    _note(case, response)
    assert response.status_code != 401, response.text


def test_a_real_incident_matches_its_documented_schema(seeded: str) -> None:
    case = schema["/incidents/{incident_id}"]["GET"].Case(path_parameters={"incident_id": seeded})
    response = case.call_and_validate(headers=AUTH)
    assert response.status_code == 200 and response.json()["alerts"][0]["fingerprint"] == "fuzz-seed"


@pytest.mark.parametrize(("headers", "body"), [
    ({"Authorization": b"Bearer \xff\xfe" + TOKEN.encode()}, b"{}"),  # not UTF-8: never decoded as the token
    ({"X-Healcrew-Signature": b"sha256=\xff\xfe\x80"}, b"{}"),
    ({**AUTH, "Content-Length": "99999999999999999999999"}, b"{}"),
    (AUTH, b"[" * 100_000),  # nesting deeper than the parser's recursion limit
    (AUTH, b'{"status": "firing", "truncatedAlerts": ' + b"9" * 5000 + b", \"alerts\": []}"),  # a 5,000-digit int
    (AUTH, b'{"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "\\ud800"}}]}'),
    (AUTH, b'{"status": "firing", "alerts": [{"status": "firing", "labels": {"alertname": "A"}, '
           b'"startsAt": "9999-12-31T23:59:59-23:59"}]}'),  # past the last instant once made UTC
])
def test_hostile_requests_get_a_one_line_4xx(headers: dict[str, Any], body: bytes) -> None:
    """What a JSON-schema generator does not produce: raw bytes in headers, parser limits, odd times."""
    client = TestClient(APP, raise_server_exceptions=False)  # no lifespan: the module fixture runs it
    response = client.post("/alerts", content=body, headers=headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail


def test_huge_query_ints_and_odd_path_ids_are_4xx() -> None:
    client = TestClient(APP, raise_server_exceptions=False)
    for url in ("/incidents?offset=99999999999999999999999", "/incidents?limit=-1", "/incidents/%ff%fe%00",
                "/incidents/" + "x" * 5000, "/incidents/a%0Ab/approve"):
        method = "POST" if url.endswith("approve") else "GET"
        response = client.request(method, url, headers=AUTH, json={"approver": "ana"})
        assert response.status_code in (404, 422), (url, response.status_code, response.text)
        assert "\n" not in response.json()["detail"]


def test_the_spec_names_both_ways_to_authenticate() -> None:
    doc = APP.openapi()
    assert set(doc["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    for path, item in doc["paths"].items():
        for operation in item.values():
            guarded = path not in PUBLIC
            assert bool(operation.get("security")) == guarded, path
            if guarded:
                assert "401" in operation["responses"] and "422" in operation["responses"], path
