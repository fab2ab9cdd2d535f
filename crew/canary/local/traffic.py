"""The traffic of a local canary: an incident's recorded requests, the crashing ones included, replayed.

A ``TrafficPlan`` is data: which requests (method, path, JSON body), how often the crashing
ones come up among ordinary ones, the rate and the seed. ``recorded_requests`` recovers the
requests from a service's own log lines, with no knowledge of the service: an access-log line
(``"POST /quote HTTP/1.1" 500``) names the method, path and status, and a request with a body
takes the JSON object the service logged just before it in the same stream. A request answered
with a 5xx in the incident is a crashing one. ``TrafficPlan.from_incident`` does this for an
incident bundle's log file; a plan can also be written by hand (YAML, ``TrafficPlan.from_file``).

The driver sends the plan open-loop at a fixed rate through the router, choosing each request
with the plan's seeded RNG; in-flight requests are bounded, and a tick with no free worker is
skipped and counted, so a slow canary cannot make the load unbounded.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crew.errors import BadInputError, describe_validation_error
from crew.logline import LogLine

_ACCESS = re.compile(r'"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/[^\s"]*) HTTP/[0-9.]+"\s+(\d{3})')
_WITH_BODY = {"POST", "PUT", "PATCH"}
MAX_RATE = 200.0


class RecordedRequest(BaseModel):
    """One request to replay."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    path: str = Field(pattern=r"^/[^\s]*$", description="Path and query, as the service saw it.")
    body: Any = Field(default=None, description="JSON body, sent as application/json when not null.")
    crashing: bool = Field(default=False, description="Answered with a 5xx in the incident.")
    weight: int = Field(default=1, ge=1, description="How often it was seen; ordinary requests are drawn by weight.")


class TrafficPlan(BaseModel):
    """Which requests a local canary sends, and how."""

    model_config = ConfigDict(extra="forbid")

    requests: list[RecordedRequest] = Field(min_length=1, description="The requests to replay.")
    crash_share: float = Field(default=0.05, ge=0, le=1, description=(
        "Share of requests drawn from the crashing ones (when there are any)."))
    rate: float = Field(default=40.0, gt=0, le=MAX_RATE, description="Requests per second, all sides together.")
    seed: int = Field(default=0, description="Seeds the choice of requests (and the router's split).")
    concurrency: int = Field(default=8, ge=1, le=64, description="Requests in flight at most.")
    timeout: float = Field(default=5.0, gt=0, le=60, description="Seconds one request may take.")

    @classmethod
    def from_file(cls, path: Path) -> TrafficPlan:
        """A plan written as YAML (the fields above)."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            return cls.model_validate(raw)
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BadInputError(f"traffic plan {path.name}: {str(exc).splitlines()[0]}") from None
        except ValidationError as exc:
            raise BadInputError(f"traffic plan {path.name}: {describe_validation_error(exc, 'document')}") from None

    @classmethod
    def from_incident(cls, bundle: Path, **options: Any) -> TrafficPlan:
        """The requests recorded in an incident bundle's log file (``logs.file`` of ``incident.yaml``)."""
        from crew.sources.files import read_log_file

        folder = bundle.resolve()
        spec_file = folder / "incident.yaml"
        try:
            spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BadInputError(f"cannot read {spec_file}: {str(exc).splitlines()[0]}") from None
        log_rel = ((spec or {}).get("logs") or {}).get("file") if isinstance(spec, dict) else None
        if not isinstance(log_rel, str):
            raise BadInputError(f"bundle {folder.name}: the canary replays requests from a log file (logs.file)")
        log = (folder / log_rel).resolve()
        if not log.is_relative_to(folder) or not log.is_file():
            raise BadInputError(f"bundle {folder.name}: log file {log_rel} is not a file inside the bundle")
        found = recorded_requests(read_log_file(log))
        if not found:
            raise BadInputError(f"bundle {folder.name}: its log holds no access-log lines to replay")
        return cls(requests=found, **options)


def _json_object(text: str) -> Any | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _end = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def recorded_requests(lines: Sequence[LogLine]) -> list[RecordedRequest]:
    """The distinct requests of ``lines`` (see the module docstring), most frequent first."""
    pending: dict[str, Any] = {}
    seen: Counter[tuple[str, str, str, bool]] = Counter()
    for line in lines:
        access = _ACCESS.search(line.text)
        if access is None:
            body = _json_object(line.text)
            if body is not None:
                pending[line.stream] = body
            continue
        method, path, status = access.group(1), access.group(2), int(access.group(3))
        body = pending.pop(line.stream, None) if method in _WITH_BODY else None
        seen[(method, path, json.dumps(body, sort_keys=True), status >= 500)] += 1
    requests = [RecordedRequest(method=m, path=p, body=json.loads(b), crashing=c, weight=n)  # type: ignore[arg-type]
                for (m, p, b, c), n in seen.most_common()]
    crashing = {(r.method, r.path, json.dumps(r.body, sort_keys=True)) for r in requests if r.crashing}
    # The same request seen answered and crashing is a crashing one (it crashed once the data changed).
    return [r for r in requests if r.crashing or (r.method, r.path, json.dumps(r.body, sort_keys=True)) not in crashing]


class TrafficDriver:
    """Sends a plan's requests to ``url`` until stopped; counts what it sent and skipped."""

    def __init__(self, plan: TrafficPlan, url: str) -> None:
        self.plan = plan
        self.url = url
        self.sent = 0
        self.skipped = 0
        self._rng = random.Random(plan.seed)
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(plan.concurrency)
        self._crashing = [r for r in plan.requests if r.crashing]
        self._ordinary = [r for r in plan.requests if not r.crashing] or self._crashing
        self._weights = [r.weight for r in self._ordinary]
        self._client = httpx.Client(base_url=url, timeout=plan.timeout + 1,
                                    limits=httpx.Limits(max_connections=plan.concurrency))
        self._pool = ThreadPoolExecutor(max_workers=plan.concurrency, thread_name_prefix="canary-traffic")
        self._thread = threading.Thread(target=self._run, name="canary-traffic", daemon=True)

    def next_request(self) -> RecordedRequest:
        """The next request by the plan's mix (seeded)."""
        if self._crashing and self._rng.random() < self.plan.crash_share:
            return self._rng.choice(self._crashing)
        return self._rng.choices(self._ordinary, weights=self._weights)[0]

    def start(self) -> None:
        self._thread.start()

    def _send(self, request: RecordedRequest) -> None:
        try:
            kwargs: dict[str, Any] = {} if request.body is None else {"json": request.body}
            self._client.request(request.method, request.path, **kwargs)
        except httpx.HTTPError:
            pass  # the router recorded the side's failure; the driver only keeps the pace
        finally:
            self._slots.release()

    def _run(self) -> None:
        period = 1.0 / self.plan.rate
        tick = time.monotonic()
        while not self._stop.is_set():
            request = self.next_request()
            if self._slots.acquire(blocking=False):
                self.sent += 1
                self._pool.submit(self._send, request)
            else:
                self.skipped += 1
            tick += period
            delay = tick - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -1.0:
                tick = time.monotonic()  # fell behind (a stalled machine): do not burst to catch up

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()
