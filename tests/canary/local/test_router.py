"""The local canary's router: the weighted split, what each side is sent, the mesh's failure codes and
Istio's metrics, against two real HTTP servers on Unix sockets (no Docker)."""

from __future__ import annotations

import json
import re
import socketserver
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from crew.canary.local.router import Router

SERVICES = {"stable": "pricing-service-stable", "canary": "pricing-service-canary"}


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _backend(side: str, delay: float = 0.0) -> type[BaseHTTPRequestHandler]:
    """A handler that answers with its side, what it was sent, and (for POST) the body back."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return None

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if delay:
                time.sleep(delay)
            payload = json.dumps({"side": side, "method": self.command, "path": self.path,
                                  "host": self.headers.get("Host"), "body": body}).encode()
            self.send_response(201 if self.command == "POST" else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

    return Handler


class _Mesh:
    """Two backends on Unix sockets and a router in front of them."""

    def __init__(self, folder: Path, *, delays: dict[str, float] | None = None, missing: str | None = None,
                 seed: int = 0, timeout: float = 5.0) -> None:
        self.servers: list[_UnixHTTPServer] = []
        sockets = {}
        for side in SERVICES:
            path = folder / f"{side}.sock"
            sockets[side] = path
            if side == missing:
                continue  # nothing listens there: a pod that is not up
            server = _UnixHTTPServer(str(path), _backend(side, (delays or {}).get(side, 0.0)))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
        self.router = Router(sockets, SERVICES, "shop", seed=seed, timeout=timeout)
        self.url = self.router.serve()

    def close(self) -> None:
        self.router.close()
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[_Mesh]:
    m = _Mesh(tmp_path)
    yield m
    m.close()


def _samples(router: Router, name: str) -> list[Any]:
    text = generate_latest(router.registry).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


# --------------------------------------------------------------------------- the split


@pytest.mark.parametrize("weight", [5, 20, 50, 80])
def test_the_split_honours_the_weight_over_many_requests(tmp_path: Path, weight: int) -> None:
    router = Router({s: tmp_path / f"{s}.sock" for s in SERVICES}, SERVICES, "shop", seed=7)
    router.set_weight(weight)
    n = 20_000
    canary = sum(1 for _ in range(n) if router.choose() == "canary")
    expected = n * weight / 100
    sigma = (n * weight / 100 * (1 - weight / 100)) ** 0.5
    assert abs(canary - expected) < 4 * sigma, (canary, expected)


def test_the_split_is_reproducible_from_its_seed(tmp_path: Path) -> None:
    def draw(seed: int) -> list[str]:
        router = Router({s: tmp_path / f"{s}.sock" for s in SERVICES}, SERVICES, "shop", seed=seed)
        router.set_weight(50)
        return [router.choose() for _ in range(200)]

    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


def test_weight_zero_sends_nothing_to_the_canary_and_100_everything(tmp_path: Path) -> None:
    router = Router({s: tmp_path / f"{s}.sock" for s in SERVICES}, SERVICES, "shop", seed=1)
    assert router.weight == 0  # a new router starts with everything on stable
    assert {router.choose() for _ in range(5000)} == {"stable"}
    router.set_weight(100)
    assert {router.choose() for _ in range(5000)} == {"canary"}
    router.set_weight(0)
    assert {router.choose() for _ in range(5000)} == {"stable"}
    for bad in (-1, 101):
        with pytest.raises(ValueError, match="0..100"):
            router.set_weight(bad)
    assert router.weight == 0


def test_requests_through_the_router_reach_the_side_it_reports(mesh: _Mesh) -> None:
    mesh.router.set_weight(30)
    sides = []
    with httpx.Client(base_url=mesh.url, timeout=5) as client:
        for i in range(300):
            resp = client.get(f"/items/{i}?q=1")
            answer = resp.json()
            assert resp.status_code == 200 and answer["side"] == resp.headers["x-canary-side"]
            assert answer["path"] == f"/items/{i}?q=1" and answer["host"] == SERVICES[answer["side"]]
            sides.append(answer["side"])
        posted = client.post("/quote", json={"items": [{"sku": "TEE-1"}]})
    assert posted.status_code == 201 and posted.json()["method"] == "POST"
    assert json.loads(posted.json()["body"]) == {"items": [{"sku": "TEE-1"}]}
    assert 50 <= sides.count("canary") <= 130  # 90 expected; the seeded split gives the same count each run
    seen = [o.side for o in mesh.router.observations]
    assert seen.count("canary") == sides.count("canary") + (posted.headers["x-canary-side"] == "canary")
    assert all(o.code in (200, 201) and o.seconds >= 0 for o in mesh.router.observations)


def test_at_weight_zero_no_request_reaches_the_canary(mesh: _Mesh) -> None:
    with httpx.Client(base_url=mesh.url, timeout=5) as client:
        answers = [client.get("/health").json()["side"] for _ in range(200)]
    assert set(answers) == {"stable"}
    assert {o.side for o in mesh.router.observations} == {"stable"} and len(mesh.router.observations) == 200
    assert not [s for s in _samples(mesh.router, "istio_requests_total")
                if s.labels["destination_service_name"] == SERVICES["canary"]]


def test_the_router_adds_no_delay_of_its_own(mesh: _Mesh) -> None:
    """The client sees about what the router measured: headers and body are written apart, and with Nagle's
    algorithm on the router's socket every kept-alive request waited for a delayed ACK (about 40 ms)."""
    seen = []
    with httpx.Client(base_url=mesh.url, timeout=5) as client:
        for _ in range(50):
            start = time.perf_counter()
            client.get("/health")
            seen.append(time.perf_counter() - start)
    # Past the connection's first exchanges (Linux acknowledges those at once) each delayed request
    # waits 40 ms or more; the lower quartile stays clear of a busy machine's occasional stalls.
    quartile = statistics.quantiles(seen[10:], n=4)[0]
    assert quartile < 0.025, f"lower quartile {quartile * 1000:.1f} ms through the router"


def test_between_selects_by_start_time(tmp_path: Path) -> None:
    router = Router({s: tmp_path / f"{s}.sock" for s in SERVICES}, SERVICES, "shop")
    for at in (1.0, 2.0, 3.0):
        router.record("stable", at, 0.01, 200)
    assert [o.at for o in router.between(1.0, 3.0)] == [1.0, 2.0]  # [start, end)
    assert router.between(3.5, 9.0) == []


# --------------------------------------------------------------------------- failures, as a sidecar reports them


def test_a_side_with_nothing_listening_is_a_503_for_that_side(tmp_path: Path) -> None:
    mesh = _Mesh(tmp_path, missing="canary")
    try:
        mesh.router.set_weight(100)
        with httpx.Client(base_url=mesh.url, timeout=5) as client:
            resp = client.get("/health")
        assert resp.status_code == 503 and resp.headers["x-canary-side"] == "canary"
        assert b"upstream connect error" in resp.content
        assert [(o.side, o.code) for o in mesh.router.observations] == [("canary", 503)]
        (sample,) = _samples(mesh.router, "istio_requests_total")
        assert sample.labels["response_code"] == "503" and sample.value == 1
    finally:
        mesh.close()


def test_a_side_slower_than_the_timeout_is_a_504(tmp_path: Path) -> None:
    mesh = _Mesh(tmp_path, delays={"canary": 2.0}, timeout=0.3)
    try:
        mesh.router.set_weight(100)
        with httpx.Client(base_url=mesh.url, timeout=10) as client:
            resp = client.get("/health")
        assert resp.status_code == 504 and resp.headers["x-canary-side"] == "canary"
        (obs,) = mesh.router.observations
        assert obs.code == 504 and 0.3 <= obs.seconds < 2.0
    finally:
        mesh.close()


# --------------------------------------------------------------------------- Istio's telemetry


def test_the_exposition_has_istios_names_labels_and_units(tmp_path: Path) -> None:
    router = Router({s: tmp_path / f"{s}.sock" for s in SERVICES}, SERVICES, "shop")
    router.record("canary", 0.0, 0.2, 200)
    router.record("canary", 0.0, 0.004, 500)
    router.record("stable", 0.0, 0.03, 200)
    totals = {(s.labels["destination_service_name"], s.labels["response_code"]): s.value
              for s in _samples(router, "istio_requests_total")}
    assert totals == {("pricing-service-canary", "200"): 1, ("pricing-service-canary", "500"): 1,
                      ("pricing-service-stable", "200"): 1}
    for sample in _samples(router, "istio_requests_total"):
        assert sample.labels == {"reporter": "destination", "destination_service_namespace": "shop",
                                 "destination_service_name": sample.labels["destination_service_name"],
                                 "destination_workload": sample.labels["destination_service_name"],
                                 "response_code": sample.labels["response_code"]}
    # durations are in milliseconds, in cumulative buckets
    ok = {"destination_service_name": "pricing-service-canary", "response_code": "200"}

    def mine(sample: Any) -> bool:
        return all(sample.labels[k] == v for k, v in ok.items())

    (total,) = [s for s in _samples(router, "istio_request_duration_milliseconds_sum") if mine(s)]
    assert total.value == pytest.approx(200.0)
    buckets = {s.labels["le"]: s.value for s in _samples(router, "istio_request_duration_milliseconds_bucket")
               if mine(s)}
    assert buckets["100.0"] == 0 and buckets["250.0"] == 1 and buckets["+Inf"] == 1
    (count,) = [s for s in _samples(router, "istio_request_duration_milliseconds_count") if mine(s)]
    assert count.value == 1


def test_the_flagship_templates_label_selectors_match_the_routers_series(tmp_path: Path) -> None:
    """The success-rate query of the flagship's AnalysisTemplate selects the canary's series by these labels."""
    import yaml

    from crew.canary.local.analysis import substitute

    root = Path(__file__).resolve().parents[3]
    template = yaml.safe_load((root / "examples" / "pricing-service" / "deploy" / "analysis-template.yaml").read_text())
    metric = next(m for m in template["spec"]["metrics"] if m["name"] == "success-rate")
    query = metric["provider"]["prometheus"]["query"]
    query = substitute(query, {"service-name": SERVICES["canary"], "namespace": "shop"})
    router = Router({s: tmp_path / f"{s}.sock" for s in SERVICES}, SERVICES, "shop")
    router.record("canary", 0.0, 0.01, 200)
    (sample,) = _samples(router, "istio_requests_total")
    matchers = re.findall(r'(\w+)="([^"]*)"', query)
    assert {"reporter", "destination_service_name", "destination_service_namespace"} <= {k for k, _ in matchers}
    for key, value in matchers:
        assert sample.labels[key] == value, key
    assert 'response_code!~"5.*"' in query
