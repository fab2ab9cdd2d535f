"""Holdout benchmark: crash incidents from small repos healcrew has never seen.

Each case is written out in full (the first 18 below, those for the crash shapes of issue 9 in
``holdout_cases/issue9.py``, written before the work meant to make them pass): a tiny
stdlib-only service (1-3 modules, a few pytest tests) whose history has two commits, a good one
and the one that introduced the bug; the suite passes on both. The buggy code is really run to
produce a traceback, whose host paths are rewritten to a container prefix (``/app``,
``/srv/...``), printed as the case's Python version prints it, and wrapped in a log format
(plain with prefixes, Kubernetes CRI lines, JSON lines) with noise around it. Then ``healcrew
run`` takes the repo and the log (and the repo's test command, when the case has one).

Each row says: reproduced (and by which input source), localised (the first location the
diagnosis names is where the bug commit changed code: "top"; the k-th: "#k"), fixed, declined
(with the reason), wrong (a fix accepted where declining is right, or that touches none of the
files the bug commit changed, or after which the worker's call, re-run in the sandbox, still
crashes, hangs or fails), false claim (an attempt said "reproduces" with an exception message
other than production's), python (the sandbox's, with production's when they differ). The
summary also counts reproductions refused for a different message.

    python bench/holdout.py [--set all|original|issue9] [--jobs N] [--keep DIR] [--json FILE] [CASE ...]
    python bench/holdout.py --check [--jobs N]     # only prove the cases; exit 1 if one is broken

It is a measurement: it exits 0 whatever the outcome and ends with "fixed X of Y".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from holdout_cases import Case  # noqa: E402
from holdout_cases import dedent as _d  # noqa: E402
from holdout_cases.issue9 import CASES as ISSUE9_CASES  # noqa: E402
from judging import patch_files, reproduction_claims, same_message  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = "/usr/local/lib/python{v}/site-packages/svc_runtime/worker.py"
STDLIB = "/usr/local/lib/python{v}"
TRIGGER = "_holdout_trigger.py"  # the worker's code, added to a copy of the repo to check an accepted fix


CONFTEST_SRC = _d('''
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))
''')

CASES: list[Case] = [
    Case(
        name="cart-method-zero-division",
        expected="division_by_zero",
        good={
            "shop/__init__.py": "",
            "shop/cart.py": _d('''
                """Shopping cart totals."""

                from dataclasses import dataclass, field


                @dataclass
                class Line:
                    sku: str
                    price: float
                    qty: int


                @dataclass
                class Cart:
                    lines: list[Line] = field(default_factory=list)

                    def total(self) -> float:
                        return sum(line.price * line.qty for line in self.lines)

                    def item_count(self) -> int:
                        return sum(line.qty for line in self.lines)

                    def average_item_price(self) -> float:
                        """Mean price per unit, shown on the checkout summary."""
                        count = self.item_count()
                        if count == 0:
                            return 0.0
                        return round(self.total() / count, 2)
            '''),
            "tests/test_cart.py": _d('''
                from shop.cart import Cart, Line


                def test_total():
                    assert Cart([Line("a", 2.0, 3)]).total() == 6.0


                def test_item_count():
                    assert Cart([Line("a", 2.0, 3), Line("b", 1.0, 1)]).item_count() == 4


                def test_average():
                    assert Cart([Line("a", 2.0, 1), Line("b", 4.0, 1)]).average_item_price() == 3.0
            '''),
        },
        bug={
            "shop/cart.py": _d('''
                """Shopping cart totals."""

                from dataclasses import dataclass, field


                @dataclass
                class Line:
                    sku: str
                    price: float
                    qty: int


                @dataclass
                class Cart:
                    lines: list[Line] = field(default_factory=list)

                    def total(self) -> float:
                        return sum(line.price * line.qty for line in self.lines)

                    def item_count(self) -> int:
                        return sum(line.qty for line in self.lines)

                    def average_item_price(self) -> float:
                        """Mean price per unit, shown on the checkout summary."""
                        return round(self.total() / self.item_count(), 2)
            '''),
        },
        trigger="from shop.cart import Cart\nprint(Cart([]).average_item_price())",
        style="k8s",
        context=["INFO checkout summary requested cart_id=c-88121 lines=0"],
    ),
    Case(
        name="src-layout-none-strip",
        expected="none_dereference",
        good={
            "src/notify/__init__.py": "",
            "src/notify/render.py": _d('''
                """Subject lines for outgoing notifications."""


                def subject_line(message: dict) -> str:
                    title = (message.get("title") or "untitled").strip()
                    return f"[{message.get('channel', 'general')}] {title}"
            '''),
            "conftest.py": CONFTEST_SRC,
            "tests/test_render.py": _d('''
                from notify.render import subject_line


                def test_subject():
                    assert subject_line({"title": " Disk full ", "channel": "ops"}) == "[ops] Disk full"


                def test_default_channel():
                    assert subject_line({"title": "hi"}) == "[general] hi"


                def test_strips():
                    assert subject_line({"title": "\\tx\\n"}).endswith("x")
            '''),
        },
        bug={
            "src/notify/render.py": _d('''
                """Subject lines for outgoing notifications."""


                def subject_line(message: dict) -> str:
                    title = message.get("title").strip()
                    return f"[{message.get('channel', 'general')}] {title}"
            '''),
        },
        trigger=(
            "from notify.render import subject_line\n"
            "print(subject_line({'channel': 'ops', 'body': 'disk full on db-2'}))"
        ),
        prefix="/srv/notifier",
        pythonpath="src",
        context=['INFO consumed message {"channel": "ops", "body": "disk full on db-2"}'],
    ),
    Case(
        name="wsgi-dict-int-none",
        expected="none_dereference",
        good={
            "api/__init__.py": "",
            "api/handler.py": _d('''
                """A plain request handler: a dict in, (status, body) out."""


                def handle(request: dict) -> tuple[int, dict]:
                    query = request.get("query", {})
                    page = int(query.get("page", 1))
                    size = int(query.get("size", 20))
                    return 200, {"page": page, "size": size, "offset": (page - 1) * size}
            '''),
            "tests/test_handler.py": _d('''
                from api.handler import handle


                def test_page_and_size():
                    body = {"page": 2, "size": 10, "offset": 10}
                    assert handle({"query": {"page": "2", "size": "10"}}) == (200, body)


                def test_first_page():
                    status, body = handle({"query": {"page": "1"}})
                    assert status == 200 and body["offset"] == 0
            '''),
        },
        bug={
            "api/handler.py": _d('''
                """A plain request handler: a dict in, (status, body) out."""


                def handle(request: dict) -> tuple[int, dict]:
                    query = request.get("query", {})
                    page = int(query.get("page"))
                    size = int(query.get("size", 20))
                    return 200, {"page": page, "size": size, "offset": (page - 1) * size}
            '''),
        },
        trigger=(
            "from api.handler import handle\n"
            "print(handle({'method': 'GET', 'path': '/orders', 'query': {'size': '10'}}))"
        ),
        style="json",
        context=['{"level": "info", "msg": "request", "request": {"method": "GET", "path": "/orders", '
                 '"query": {"size": "10"}}}'],
    ),
    Case(
        name="statistics-mean-empty",
        expected="value_parse_error",
        good={
            "metrics/__init__.py": "",
            "metrics/latency.py": _d('''
                """Latency summaries for the status page."""

                import statistics


                def summarize(samples: list[float]) -> dict:
                    mean = round(statistics.mean(samples), 1) if samples else 0.0
                    return {"count": len(samples), "mean_ms": mean, "max_ms": max(samples, default=0.0)}
            '''),
            "tests/test_latency.py": _d('''
                from metrics.latency import summarize


                def test_summary():
                    assert summarize([10.0, 20.0]) == {"count": 2, "mean_ms": 15.0, "max_ms": 20.0}


                def test_single():
                    assert summarize([5.0])["mean_ms"] == 5.0


                def test_count():
                    assert summarize([1.0, 2.0, 3.0])["count"] == 3
            '''),
        },
        bug={
            "metrics/latency.py": _d('''
                """Latency summaries for the status page."""

                import statistics


                def summarize(samples: list[float]) -> dict:
                    return {"count": len(samples), "mean_ms": round(statistics.mean(samples), 1),
                            "max_ms": max(samples, default=0.0)}
            '''),
        },
        trigger="from metrics.latency import summarize\nprint(summarize([]))",
        prefix="/opt/statuspage",
        style="bracket",
        context=["INFO window closed: 0 samples for region eu-west-3"],
    ),
    Case(
        name="json-loads-empty-body",
        expected="value_parse_error",
        good={
            "hooks/__init__.py": "",
            "hooks/webhook.py": _d('''
                """Incoming webhook events."""

                import json


                def parse_event(body: str) -> dict:
                    if not body.strip():
                        return {"type": "ping", "id": None}
                    event = json.loads(body)
                    return {"type": event.get("type", "unknown"), "id": event.get("id")}
            '''),
            "tests/test_webhook.py": _d('''
                from hooks.webhook import parse_event


                def test_event():
                    assert parse_event('{"type": "push", "id": 7}') == {"type": "push", "id": 7}


                def test_unknown_type():
                    assert parse_event('{"id": 1}')["type"] == "unknown"
            '''),
        },
        bug={
            "hooks/webhook.py": _d('''
                """Incoming webhook events."""

                import json


                def parse_event(body: str) -> dict:
                    event = json.loads(body)
                    return {"type": event.get("type", "unknown"), "id": event.get("id")}
            '''),
        },
        trigger="from hooks.webhook import parse_event\nprint(parse_event(''))",
        context=["INFO POST /hooks/github content-length=0"],
    ),
    Case(
        name="playlist-off-by-one",
        expected="index_out_of_range",
        good={
            "playlist/__init__.py": "",
            "playlist/queue.py": _d('''
                """Play queue navigation."""


                def next_track(tracks: list[str], current: str) -> str:
                    i = tracks.index(current)
                    if i + 1 >= len(tracks):
                        return tracks[0]  # wrap around
                    return tracks[i + 1]
            '''),
            "tests/test_queue.py": _d('''
                from playlist.queue import next_track


                def test_next():
                    assert next_track(["a", "b", "c"], "a") == "b"


                def test_middle():
                    assert next_track(["a", "b", "c"], "b") == "c"
            '''),
        },
        bug={
            "playlist/queue.py": _d('''
                """Play queue navigation."""


                def next_track(tracks: list[str], current: str) -> str:
                    i = tracks.index(current)
                    if i + 1 > len(tracks):
                        return tracks[0]  # wrap around
                    return tracks[i + 1]
            '''),
        },
        trigger="from playlist.queue import next_track\nprint(next_track(['intro', 'song', 'outro'], 'outro'))",
        prefix="/usr/src/app",
        style="k8s",
    ),
    Case(
        name="percent-format-str-count",
        expected="type_mismatch",
        good={
            "report/__init__.py": "",
            "report/lines.py": _d('''
                """Plain-text stock report."""


                def stock_line(name: str, count: str) -> str:
                    """``count`` comes straight from the CSV export, as text."""
                    return "%-12s %5d units" % (name, int(count))
            '''),
            "tests/test_lines.py": _d('''
                from report.lines import stock_line


                def test_name_padded():
                    assert stock_line("bolt", "7").startswith("bolt        ")


                def test_has_units():
                    assert stock_line("nut", "12").endswith("12 units")
            '''),
        },
        bug={
            "report/lines.py": _d('''
                """Plain-text stock report."""


                def stock_line(name: str, count: str) -> str:
                    """``count`` comes straight from the CSV export, as text."""
                    return "%-12s %5d units" % (name, count)
            '''),
            "tests/test_lines.py": _d('''
                from report.lines import stock_line


                def test_name_padded():
                    assert stock_line("bolt", 7).startswith("bolt        ")


                def test_has_units():
                    assert stock_line("nut", 12).endswith("12 units")
            '''),
        },
        trigger="from report.lines import stock_line\nprint(stock_line('widget', '3'))",
        prefix="/app",
        style="bracket",
        context=["INFO reading export stock-2026-11-05.csv rows=412"],
    ),
    Case(
        name="decimal-comma-float",
        expected="value_parse_error",
        good={
            "ingest/__init__.py": "",
            "ingest/measure.py": _d('''
                """Scale readings, as typed by operators."""

                _SCALE = {"g": 0.001, "kg": 1.0, "t": 1000.0}


                def parse_reading(raw: str) -> float:
                    value, unit = raw.split()
                    return float(value.replace(",", ".")) * _SCALE[unit]
            '''),
            "tests/test_measure.py": _d('''
                from ingest.measure import parse_reading


                def test_kg():
                    assert parse_reading("2 kg") == 2.0


                def test_grams():
                    assert parse_reading("500 g") == 0.5


                def test_tonnes():
                    assert parse_reading("1.5 t") == 1500.0
            '''),
        },
        bug={
            "ingest/measure.py": _d('''
                """Scale readings, as typed by operators."""

                _SCALE = {"g": 0.001, "kg": 1.0, "t": 1000.0}


                def parse_reading(raw: str) -> float:
                    value, unit = raw.split()
                    return float(value) * _SCALE[unit]
            '''),
        },
        trigger="from ingest.measure import parse_reading\nprint(parse_reading('1,5 kg'))",
        prefix="/srv/ingest",
        style="json",
        context=['{"level": "info", "msg": "reading received", "raw": "1,5 kg", "station": "hamburg-2"}'],
    ),
    Case(
        name="nested-config-key",
        expected="missing_key",
        good={
            "db/__init__.py": "",
            "db/settings.py": _d('''
                """Database settings from the service's config document."""


                def dsn(cfg: dict) -> str:
                    db = cfg["db"]
                    port = db.get("port", 5432)
                    return f"postgresql://{db['user']}@{db['host']}:{port}/{db['name']}"
            '''),
            "tests/test_settings.py": _d('''
                from db.settings import dsn


                def test_dsn():
                    cfg = {"db": {"user": "u", "host": "h", "port": 6432, "name": "n"}}
                    assert dsn(cfg) == "postgresql://u@h:6432/n"


                def test_name():
                    cfg = {"db": {"user": "u", "host": "h", "port": 1, "name": "orders"}}
                    assert dsn(cfg).endswith("/orders")
            '''),
        },
        bug={
            "db/settings.py": _d('''
                """Database settings from the service's config document."""


                def dsn(cfg: dict) -> str:
                    db = cfg["db"]
                    return f"postgresql://{db['user']}@{db['host']}:{db['port']}/{db['name']}"
            '''),
        },
        trigger=(
            "from db.settings import dsn\n"
            "print(dsn({'db': {'user': 'app', 'host': 'db.internal', 'name': 'orders'}}))"
        ),
        context=['INFO config loaded {"db": {"user": "app", "host": "db.internal", "name": "orders"}}'],
    ),
    Case(
        name="math-module-typo",
        expected="missing_attribute",
        good={
            "geo/__init__.py": "",
            "geo/shapes.py": _d('''
                """Geometry helpers for the floor-plan service."""

                import math


                def diagonal(width: float, height: float) -> float:
                    return math.sqrt(width * width + height * height)


                def area(width: float, height: float) -> float:
                    return width * height
            '''),
            "tests/test_shapes.py": _d('''
                from geo.shapes import area


                def test_area():
                    assert area(2.0, 3.0) == 6.0


                def test_area_zero():
                    assert area(0.0, 3.0) == 0.0
            '''),
        },
        bug={
            "geo/shapes.py": _d('''
                """Geometry helpers for the floor-plan service."""

                import math


                def diagonal(width: float, height: float) -> float:
                    return math.sqroot(width * width + height * height)


                def area(width: float, height: float) -> float:
                    return width * height
            '''),
        },
        trigger="from geo.shapes import diagonal\nprint(diagonal(3.0, 4.0))",
        prefix="/home/app",
        style="k8s",
    ),
    Case(
        name="environ-read-in-function",
        expected="missing_config",
        good={
            "export/__init__.py": "",
            "export/upload.py": _d('''
                """Where finished reports are uploaded."""

                import os


                def destination(report_name: str) -> str:
                    bucket = os.environ.get("REPORT_BUCKET", "reports-dev")
                    return f"s3://{bucket}/reports/{report_name}"
            '''),
            ".env.example": "REPORT_BUCKET=reports-dev\nLOG_LEVEL=info\n",
            "tests/test_upload.py": _d('''
                from export.upload import destination


                def test_destination(monkeypatch):
                    monkeypatch.setenv("REPORT_BUCKET", "b")
                    assert destination("x.pdf") == "s3://b/reports/x.pdf"
            '''),
        },
        bug={
            "export/upload.py": _d('''
                """Where finished reports are uploaded."""

                import os


                def destination(report_name: str) -> str:
                    bucket = os.environ["REPORT_BUCKET"]
                    return f"s3://{bucket}/reports/{report_name}"
            '''),
        },
        trigger="from export.upload import destination\nprint(destination('weekly-2026-45.pdf'))",
        prefix="/srv/exporter",
        style="bracket",
        context=["INFO rendering weekly-2026-45.pdf done in 2.1s"],
    ),
    Case(
        name="unbound-local-tier",
        expected="missing_attribute",
        fixable=False,
        good={
            "billing/__init__.py": "",
            "billing/tiers.py": _d('''
                """Loyalty tiers."""


                def tier_for(spend: float) -> str:
                    if spend >= 1000:
                        tier = "gold"
                    elif spend >= 100:
                        tier = "silver"
                    else:
                        tier = "bronze"
                    return tier
            '''),
            "tests/test_tiers.py": _d('''
                from billing.tiers import tier_for


                def test_gold():
                    assert tier_for(5000) == "gold"


                def test_silver():
                    assert tier_for(150) == "silver"
            '''),
        },
        bug={
            "billing/tiers.py": _d('''
                """Loyalty tiers."""


                def tier_for(spend: float) -> str:
                    if spend >= 1000:
                        tier = "gold"
                    elif spend >= 100:
                        tier = "silver"
                    return tier
            '''),
        },
        trigger="from billing.tiers import tier_for\nprint(tier_for(42.0))",
    ),
    Case(
        name="listcomp-normalize-division",
        expected="division_by_zero",
        good={
            "scores/__init__.py": "",
            "scores/normalize.py": _d('''
                """Scale leaderboard scores to 0..1."""


                def normalize(scores: list[float]) -> list[float]:
                    top = max(scores, default=0)
                    if not top:
                        return [0.0 for _ in scores]
                    return [round(s / top, 3) for s in scores]
            '''),
            "tests/test_normalize.py": _d('''
                from scores.normalize import normalize


                def test_scale():
                    assert normalize([1.0, 2.0, 4.0]) == [0.25, 0.5, 1.0]


                def test_empty():
                    assert normalize([]) == []
            '''),
        },
        bug={
            "scores/normalize.py": _d('''
                """Scale leaderboard scores to 0..1."""


                def normalize(scores: list[float]) -> list[float]:
                    top = max(scores, default=0)
                    return [round(s / top, 3) for s in scores]
            '''),
        },
        trigger="from scores.normalize import normalize\nprint(normalize([0.0, 0.0]))",
        style="json",
        context=['{"level": "info", "msg": "leaderboard", "payload": {"scores": [0.0, 0.0]}}'],
    ),
    Case(
        name="date-fromisoformat-datetime",
        expected="value_parse_error",
        good={
            "events/__init__.py": "",
            "events/schedule.py": _d('''
                """Which day an event is on."""

                from datetime import date


                def event_day(starts_at: str) -> date:
                    return date.fromisoformat(starts_at[:10])
            '''),
            "tests/test_schedule.py": _d('''
                from datetime import date

                from events.schedule import event_day


                def test_day():
                    assert event_day("2026-11-05") == date(2026, 11, 5)


                def test_year():
                    assert event_day("2025-01-31").year == 2025
            '''),
        },
        bug={
            "events/schedule.py": _d('''
                """Which day an event is on."""

                from datetime import date


                def event_day(starts_at: str) -> date:
                    return date.fromisoformat(starts_at)
            '''),
        },
        trigger="from events.schedule import event_day\nprint(event_day('2026-11-05T10:00:00Z'))",
        prefix="/srv/calendar",
        style="k8s",
    ),
    Case(
        name="async-throughput-zero",
        expected="division_by_zero",
        good={
            "jobs/__init__.py": "",
            "jobs/throughput.py": _d('''
                """Job throughput, reported by the async scheduler."""

                import asyncio


                async def rate(processed: int, elapsed: float) -> float:
                    await asyncio.sleep(0)
                    if elapsed <= 0:
                        return 0.0
                    return processed / elapsed
            '''),
            "tests/test_throughput.py": _d('''
                import asyncio

                from jobs.throughput import rate


                def test_rate():
                    assert asyncio.run(rate(10, 2.0)) == 5.0


                def test_rate_fraction():
                    assert asyncio.run(rate(1, 4.0)) == 0.25
            '''),
        },
        bug={
            "jobs/throughput.py": _d('''
                """Job throughput, reported by the async scheduler."""

                import asyncio


                async def rate(processed: int, elapsed: float) -> float:
                    await asyncio.sleep(0)
                    return processed / elapsed
            '''),
        },
        trigger="import asyncio\nfrom jobs.throughput import rate\nprint(asyncio.run(rate(10, 0.0)))",
        prefix="/app",
        style="plain",
    ),
    Case(
        name="latin1-data-file",
        expected="encoding_error",
        good={
            "catalog/__init__.py": "",
            "catalog/loader.py": _d('''
                """Product names from the data folder."""

                from pathlib import Path

                DATA = Path(__file__).parent / "data"


                def load_names(filename: str) -> list[str]:
                    text = open(DATA / filename, encoding="utf-8").read()
                    return [line.strip() for line in text.splitlines() if line.strip()]
            '''),
            "catalog/data/names.txt": "Bolt\nNut\nWasher\n",
            "tests/test_loader.py": _d('''
                from catalog.loader import load_names


                def test_names():
                    assert load_names("names.txt") == ["Bolt", "Nut", "Washer"]
            '''),
        },
        bug={},
        binary={"catalog/data/legacy.txt": "Café crème\nPâté\n".encode("latin-1")},
        trigger="from catalog.loader import load_names\nprint(load_names('legacy.txt'))",
        prefix="/srv/catalog",
        style="json",
        context=['{"level": "info", "msg": "import", "job": {"filename": "legacy.txt", "source": "erp"}}'],
    ),
    Case(
        name="alias-recursion",
        expected="unknown",
        fixable=False,
        good={
            "routing/__init__.py": "",
            "routing/aliases.py": _d('''
                """Resolve service aliases to their final name."""


                def resolve(alias: str, aliases: dict) -> str:
                    target = aliases.get(alias, alias)
                    if target == alias:
                        return alias
                    return resolve(target, aliases)
            '''),
            "tests/test_aliases.py": _d('''
                from routing.aliases import resolve


                def test_known():
                    assert resolve("db", {"db": "postgres"}) == "postgres"


                def test_self():
                    assert resolve("x", {}) == "x"
            '''),
        },
        bug={
            "routing/aliases.py": _d('''
                """Resolve service aliases to their final name."""


                def resolve(alias: str, aliases: dict) -> str:
                    target = aliases.get(alias, alias)
                    if target == alias and alias in aliases:
                        return alias
                    return resolve(target, aliases)
            '''),
            "tests/test_aliases.py": _d('''
                from routing.aliases import resolve


                def test_known():
                    assert resolve("db", {"db": "postgres", "postgres": "postgres"}) == "postgres"
            '''),
        },
        trigger="from routing.aliases import resolve\nprint(resolve('cache', {'db': 'postgres'}))",
        style="k8s",
    ),
    Case(
        name="classmethod-int-of-float-text",
        expected="value_parse_error",
        good={
            "orders/__init__.py": "",
            "orders/model.py": _d('''
                """Orders as they arrive from the storefront."""

                from dataclasses import dataclass


                @dataclass
                class Order:
                    sku: str
                    qty: int

                    @classmethod
                    def from_dict(cls, data: dict) -> "Order":
                        return cls(sku=data["sku"], qty=int(float(data["qty"])))
            '''),
            "tests/test_model.py": _d('''
                from orders.model import Order


                def test_from_dict():
                    assert Order.from_dict({"sku": "A", "qty": "2"}) == Order("A", 2)


                def test_int_qty():
                    assert Order.from_dict({"sku": "B", "qty": 3}).qty == 3
            '''),
        },
        bug={
            "orders/model.py": _d('''
                """Orders as they arrive from the storefront."""

                from dataclasses import dataclass


                @dataclass
                class Order:
                    sku: str
                    qty: int

                    @classmethod
                    def from_dict(cls, data: dict) -> "Order":
                        return cls(sku=data["sku"], qty=int(data["qty"]))
            '''),
        },
        trigger="from orders.model import Order\nprint(Order.from_dict({'sku': 'A-1', 'qty': '2.0'}))",
        prefix="/srv/orders",
        style="bracket",
        context=['INFO order received {"sku": "A-1", "qty": "2.0", "channel": "web"}'],
    ),
]


ORIGINAL_CASES = CASES
CASES = ORIGINAL_CASES + ISSUE9_CASES
SETS = {"all": CASES, "original": ORIGINAL_CASES, "issue9": ISSUE9_CASES}


# ----------------------------------------------------------------------------- building


def _git(repo: Path, *args: str, date: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
                   cwd=repo, env=env, check=True, capture_output=True)


def _write(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def build_repo(case: Case, repo: Path) -> None:
    """A git repo with two commits: the good version, then the bug; the suite must pass on both."""
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    _write(repo, case.good)
    _git(repo, "add", "-A", date="2026-10-01T09:00:00+00:00")
    _git(repo, "commit", "-q", "-m", "Initial service", date="2026-10-01T09:00:00+00:00")
    if not suite_passes(case, repo):
        raise RuntimeError("the suite fails on the good commit")
    _write(repo, case.bug)
    for rel, data in case.binary.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    _git(repo, "add", "-A", date="2026-11-04T16:30:00+00:00")
    _git(repo, "commit", "-q", "-m", "Tidy up " + case.name.split("-")[0], date="2026-11-04T16:30:00+00:00")
    if not suite_passes(case, repo):
        raise RuntimeError("the suite fails on the buggy commit")


def test_argv(case: Case) -> list[str]:
    """The repo's test command as argv, run by this interpreter."""
    argv = shlex.split(case.test_command or "python -m pytest -q")
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return [*argv, "-p", "no:cacheprovider"]


def suite_passes(case: Case, repo: Path) -> bool:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run(test_argv(case), cwd=repo, env=env, capture_output=True, text=True, check=False,
                              timeout=180)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def _as_version(text: str, version: str) -> str:
    """The traceback as that Python prints it: before 3.11 there are no PEP 657 caret lines."""
    if version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return text
    major, minor = (int(x) for x in version.split("."))
    if (major, minor) < (3, 11):
        text = "".join(line for line in text.splitlines(keepends=True) if not re.fullmatch(r"\s*[~^]+\s*", line))
    return text


def crash(case: Case, repo: Path, work: Path) -> str:
    """Run the buggy code the way the service's worker does; return its traceback, host paths rewritten."""
    runner = work / "worker.py"
    runner.write_text(case.trigger + "\n")
    env = {**os.environ, "PYTHONPATH": str((repo / case.pythonpath).resolve()), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, str(runner)], cwd=repo, env=env, capture_output=True, text=True,
                          check=False, timeout=60)
    if proc.returncode == 0 or "Traceback" not in proc.stderr:
        raise RuntimeError(f"{case.name}: the trigger did not crash: {proc.stderr[-300:]}")
    text = proc.stderr[proc.stderr.index("Traceback"):]
    text = text.replace(str(runner), RUNTIME.format(v=case.python))
    text = text.replace(str(repo.resolve()) + "/", case.prefix + "/")
    text = text.replace(str(repo) + "/", case.prefix + "/")
    text = text.replace(sysconfig.get_paths()["purelib"], STDLIB.format(v=case.python) + "/site-packages")
    text = text.replace(sysconfig.get_paths()["stdlib"], STDLIB.format(v=case.python))
    return _as_version(text, case.python)


def production_error(traceback_text: str) -> tuple[str, str]:
    """The exception type (last dotted part) and message production logged."""
    last = traceback_text.rstrip("\n").splitlines()[-1]
    kind, _, message = last.partition(": ")
    return kind.rsplit(".", 1)[-1], message.strip()


def expected_fault(traceback_text: str, case: Case) -> tuple[str, int] | None:
    """The last frame of the traceback that lies in the repo."""
    found = None
    for m in re.finditer(r'File "([^"]+)", line (\d+)', traceback_text):
        if m.group(1).startswith(case.prefix + "/"):
            found = (m.group(1)[len(case.prefix) + 1:], int(m.group(2)))
    return found


def changed_regions(repo: Path) -> dict[str, list[tuple[int, int]]]:
    """Lines of the buggy commit that the bug changed (new side), by file: where the cause is."""
    diff = subprocess.run(["git", "diff", "-U0", "HEAD~1", "HEAD"], cwd=repo, capture_output=True, check=True,
                          ).stdout.decode("utf-8", "replace")
    regions: dict[str, list[tuple[int, int]]] = {}
    path = ""
    for line in diff.splitlines():
        if line.startswith("+++ "):
            path = line[6:] if line.startswith("+++ b/") else ""
        elif line.startswith("@@") and path:
            m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", line)
            if m:
                start, count = int(m.group(1)), int(m.group(2) or "1")
                regions.setdefault(path, []).append((start, start + max(count, 1) - 1))
    return regions


def render_log(case: Case, tb: str) -> str:
    """The traceback inside a service log: prefixes, noise before and after, the style of the case."""
    stamp = "2026-11-05T10:0{}:{:02d}.{:03d}Z"
    svc = case.name.split("-")[0]
    noise_before = [
        f"INFO {svc} starting worker pid=7",
        "INFO connected to broker amqp://broker:5672",
        "DEBUG heartbeat ok",
        *case.context,
    ]
    noise_after = ["WARNING worker exited with code 1, restarting", f"INFO {svc} starting worker pid=8"]
    tb_lines = tb.rstrip("\n").splitlines()
    out: list[str] = []
    if case.style == "json":
        for i, line in enumerate(noise_before[:-len(case.context) or None]):
            level, _, msg = line.partition(" ")
            out.append(json.dumps({"ts": stamp.format(1, i, 100), "level": level.lower(), "logger": svc,
                                   "message": msg}))
        out.extend(case.context)
        out.append(json.dumps({"ts": stamp.format(1, 30, 250), "level": "error", "logger": f"{svc}.worker",
                               "message": "unhandled exception in job", "exc_info": "\n".join(tb_lines)}))
        for i, line in enumerate(noise_after):
            level, _, msg = line.partition(" ")
            out.append(json.dumps({"ts": stamp.format(2, i, 0), "level": level.lower(), "logger": svc,
                                   "message": msg}))
        return "\n".join(out) + "\n"
    lines = [*noise_before, "ERROR unhandled exception in job", *tb_lines, *noise_after]
    for i, line in enumerate(lines):
        ts = stamp.format(1 + i // 60, i % 60, (i * 37) % 1000)
        if case.style == "k8s":
            out.append(f"{ts} stderr F {line}")
        elif case.style == "bracket":
            out.append(f"[{svc}-7f9c4d-x2kq] {line}")
        else:
            out.append(f"{ts.replace('T', ' ').rstrip('Z')} {line}")
    return "\n".join(out) + "\n"


def prepare_case(case: Case, base: Path) -> dict[str, Any]:
    """Build the repo and its crash log; the facts a run is judged against."""
    work = base / case.name
    repo = work / "repo"
    build_repo(case, repo)
    tb = crash(case, repo, work)
    log = work / "crash.log"
    log.write_text(render_log(case, tb))
    kind, message = production_error(tb)
    return {"work": work, "repo": repo, "log": log, "fault": expected_fault(tb, case), "exc_type": kind,
            "exc_message": message, "regions": changed_regions(repo)}


# ----------------------------------------------------------------------------- judging


_same_message = same_message


def _locations(diag: dict[str, Any]) -> list[tuple[str, int]]:
    """Fault locations the diagnosis names, best first: the fault frame, then any ranked list it carries."""
    found: list[tuple[str, int]] = []

    def take(node: Any) -> None:
        if isinstance(node, dict):
            path = node.get("repo_path") or node.get("path")
            line = node.get("line") or (node.get("frame") or {}).get("line")
            if isinstance(path, str) and isinstance(line, int):
                if (path, line) not in found:
                    found.append((path, line))
                return
            for value in node.values():
                take(value)
        elif isinstance(node, list):
            for item in node:
                take(item)

    take(diag.get("fault_frame"))
    for key, value in diag.items():
        if key not in ("fault_frame", "frames", "library_frame", "code_context", "suspect_commits"):
            take(value)
    return found


def _hits(loc: tuple[str, int], regions: dict[str, list[tuple[int, int]]], slack: int = 2) -> bool:
    return any(a - slack <= loc[1] <= b + slack for a, b in regions.get(loc[0], []))


def localised(diag: dict[str, Any], regions: dict[str, list[tuple[int, int]]]) -> str:
    """"top" when the first named location is where the bug commit changed code, "#k" when the k-th is."""
    for k, loc in enumerate(_locations(diag), start=1):
        if _hits(loc, regions):
            return "top" if k == 1 else f"#{k}"
    return "no"


_patch_files = patch_files


def after_patch(case: Case, facts: dict[str, Any], patch: Path, timeout: float = 30.0) -> str:
    """Run the worker's code on the patched repo in the sandbox: "ok", "crash" (production's exception
    again), "hang" (still running after ``timeout`` seconds, when the trigger takes well under one), "oom" (killed
    at the sandbox's memory limit), "error"
    (another failure) or "unknown" (the sandbox gave no answer)."""
    check = facts["work"] / "check"
    subprocess.run(["git", "clone", "-q", str(facts["repo"]), str(check)], check=True, capture_output=True)
    (check / TRIGGER).write_text(case.trigger + "\n")
    _git(check, "add", TRIGGER, date="2026-11-05T12:00:00+00:00")
    _git(check, "commit", "-q", "-m", "worker entry", date="2026-11-05T12:00:00+00:00")
    code = (f"import runpy, sys; sys.path.insert(0, {case.pythonpath!r}); "
            f"runpy.run_path({TRIGGER!r}, run_name='__main__')")
    cmd = [sys.executable, "-m", "crew.cli", "sandbox", "run", "--repo", str(check), "--patch", str(patch),
           "--sandbox", "docker", "--timeout", str(timeout), "--json", "--", "python", "-c", code]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900, cwd=ROOT)
        result = json.loads(proc.stdout)
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return "unknown"
    if result.get("timed_out"):
        return "hang"
    if result.get("oom_killed"):
        return "oom"
    if result.get("exit_code") == 0:
        return "ok"
    lines = (result.get("stderr") or "").strip().splitlines()
    if lines and re.match(rf"(\w+\.)*{re.escape(facts['exc_type'])}\b", lines[-1]):
        return "crash"
    return "error"


def judge(case: Case, facts: dict[str, Any], report: dict[str, Any], row: dict[str, Any]) -> None:
    """Fill the per-case columns from the run report and the case's own facts."""
    diag = report.get("diagnosis") or {}
    frame = diag.get("fault_frame") or {}
    row["diagnosed"] = diag.get("root_cause")
    row["fault_ok"] = facts["fault"] == (frame.get("repo_path"), (frame.get("frame") or {}).get("line"))
    row["localised"] = localised(diag, facts["regions"])
    row["fixed"] = report.get("outcome") == "fixed"
    attempts = report.get("attempts") or []
    row["attempts"] = len(attempts)
    sources, false_claims, refused = reproduction_claims(report, facts["exc_type"], facts["exc_message"])
    row["reproduced"] = ", ".join(sources)
    row["false_claim"] = " / ".join(false_claims)
    row["refused"] = refused
    row["declined"] = report.get("declined") or ""
    chosen = (report.get("sandbox_python") or {}).get("version") or ""
    row["python"] = chosen if not chosen or chosen == case.python else f"{chosen} (production {case.python})"
    accepted = report.get("accepted") or {}
    row["strategy"] = (accepted.get("proposal") or {}).get("strategy") or (
        attempts[-1]["proposal"]["strategy"] if attempts else "")
    wrong: list[str] = []
    if row["fixed"]:
        if not case.fixable:
            wrong.append("fixed a crash where declining is right")
        diff = (accepted.get("proposal") or {}).get("diff") or ""
        if not _patch_files(diff) & set(facts["regions"]):
            wrong.append("the patch touches no file the bug commit changed")
        patch = facts["work"] / "out" / "fix.patch"
        if not patch.is_file():
            patch = facts["work"] / "accepted.patch"
            patch.write_text(diff)
        outcome = after_patch(case, facts, patch)
        if outcome != "ok":
            wrong.append({"crash": "the worker's call still crashes with the patch",
                          "hang": "the worker's call hangs with the patch",
                          "oom": "the worker's call runs out of memory with the patch",
                          "error": "the worker's call fails another way with the patch",
                          "unknown": "(could not re-run the worker's call)"}[outcome])
    row["wrong"] = "; ".join(wrong)
    why = [f"{a['proposal']['strategy']}: {a.get('rejected_because')}" for a in attempts
           if (a.get("critique") or {}).get("verdict") != "accept"]
    if report.get("error"):
        why.append(f"error: {report['error']}")
    row["why"] = " | ".join(why)


# ----------------------------------------------------------------------------- running


def run_case(case: Case, base: Path, cache: str) -> dict[str, Any]:
    start = time.perf_counter()
    row: dict[str, Any] = {"case": case.name, "shape": case.shape, "expected": case.expected,
                           "fixable": case.fixable}
    try:
        facts = prepare_case(case, base)
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        row.update(error=f"setup: {exc}", seconds=time.perf_counter() - start)
        return row
    work = facts["work"]
    row["fault"] = facts["fault"]
    row["production"] = f"{facts['exc_type']}: {facts['exc_message']}"
    env = {**os.environ, "HEALCREW_CACHE": cache}
    cmd = [sys.executable, "-m", "crew.cli", "run", "--repo", str(facts["repo"]), "--log", str(facts["log"]),
           "--out", str(work / "out"), "--sandbox", "docker", "--deliver", "none", "--json"]
    if case.test_command:
        cmd += ["--test-cmd", case.test_command]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900, cwd=ROOT)
        stdout, stderr = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired:
        stdout, stderr = "", "timed out after 900 s"
    row["seconds"] = time.perf_counter() - start
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        row["error"] = (stderr.strip().splitlines() or ["no output"])[-1][:200]
        return row
    (work / "report.json").write_text(json.dumps(report, indent=1))
    judge(case, facts, report, row)
    return row


def check_case(case: Case, base: Path) -> dict[str, Any]:
    """Only build the case and prove it: suite green on both commits, the trigger crashes."""
    row: dict[str, Any] = {"case": case.name, "shape": case.shape}
    try:
        facts = prepare_case(case, base)
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        row["error"] = f"setup: {exc}"
        return row
    row["production"] = f"{facts['exc_type']}: {facts['exc_message']}"
    row["fault"] = facts["fault"]
    return row


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ("case", "expected", "diagnosis", "reproduced (source)", "localised", "fixed", "declined", "wrong",
            "false claim", "python", "attempts", "strategy", "why not", "s")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        cells = [r["case"], r["expected"] + ("" if r["fixable"] else " (decline ok)"), str(r.get("diagnosed")),
                 r.get("reproduced") or "no", r.get("localised", "no"), _yes(r.get("fixed")),
                 (r.get("declined") or "")[:120], r.get("wrong") or "", r.get("false_claim") or "",
                 r.get("python") or "", str(r.get("attempts", 0)), r.get("strategy") or "",
                 (r.get("why") or r.get("error") or "")[:300],
                 f"{r.get('seconds', 0):.0f}"]
        print("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cells) + " |")
    n = len(rows)
    fixed = sum(bool(r.get("fixed")) for r in rows)
    right_decline = sum(1 for r in rows if not r["fixable"] and not r.get("fixed") and r.get("declined"))
    print()
    print(f"reproduced {sum(bool(r.get('reproduced')) for r in rows)} of {n}; "
          f"localised {sum(r.get('localised') == 'top' for r in rows)} at the top, "
          f"{sum(str(r.get('localised', '')).startswith('#') for r in rows)} further down; "
          f"declined where right {right_decline} of {sum(not r['fixable'] for r in rows)}; "
          f"wrong {sum(bool(r.get('wrong')) for r in rows)}; "
          f"false claims {sum(bool(r.get('false_claim')) for r in rows)}; "
          f"reproductions refused for a different message {sum(r.get('refused', 0) for r in rows)}; "
          f"setup errors {sum('setup' in str(r.get('error', '')) for r in rows)}")
    print(f"\nfixed {fixed} of {n}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="run only these cases")
    parser.add_argument("--set", choices=sorted(SETS), default="all", help="which cases (default all)")
    parser.add_argument("--jobs", type=int, default=1, help="cases run at once")
    parser.add_argument("--keep", type=Path, help="keep repos, logs and reports in this folder")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    parser.add_argument("--check", action="store_true",
                        help="only prove the cases (suite green on both commits, the trigger crashes); exit 1 if not")
    args = parser.parse_args()
    cases = [c for c in SETS[args.set] if not args.cases or c.name in args.cases]
    tmp = tempfile.mkdtemp(prefix="holdout-")
    base = args.keep or Path(tmp)
    if args.keep and args.keep.exists():
        shutil.rmtree(args.keep)
    base.mkdir(parents=True, exist_ok=True)
    cache = os.environ.get("HEALCREW_CACHE") or str(Path(tmp) / "cache")
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            if args.check:
                rows = list(pool.map(lambda c: check_case(c, base), cases))
            else:
                rows = list(pool.map(lambda c: run_case(c, base, cache), cases))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    if args.check:
        for r in rows:
            print(f"{r['case']:36} {r.get('error') or r['production']}  at {r.get('fault')}")
        bad = [r["case"] for r in rows if r.get("error")]
        print(f"\n{len(rows) - len(bad)} of {len(rows)} cases proven" + (f"; failing: {', '.join(bad)}" if bad else ""))
        return 1 if bad else 0
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
