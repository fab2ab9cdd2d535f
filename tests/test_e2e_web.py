# ruff: noqa: E501  (the log fixture keeps real line lengths)
"""A crash inside a Flask view is replayed as a request through the framework's test client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e_helpers import commit_repo, healcrew_run

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

VIEW = '''"""Orders API."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/orders")
def create_order():
    data = request.get_json()
    unit = data["total"] / data["count"]
    return jsonify({"unit": unit})
'''
SUITE = '''from app.main import app


def test_unit_price():
    response = app.test_client().post("/orders", json={"total": 10.0, "count": 4})
    assert response.get_json() == {"unit": 2.5}
'''
LOG = """2026-11-20T02:00:00Z web-1 INFO received order {"total": 12.0, "count": 3}
2026-11-20T02:00:01Z web-1 INFO received order {"total": 10.0, "count": 0}
2026-11-20T02:00:01Z web-1 ERROR Exception on /orders [POST]
2026-11-20T02:00:01Z web-1 Traceback (most recent call last):
2026-11-20T02:00:01Z web-1   File "/usr/local/lib/python3.11/site-packages/flask/app.py", line 1511, in wsgi_app
2026-11-20T02:00:01Z web-1     response = self.full_dispatch_request()
2026-11-20T02:00:01Z web-1   File "/usr/local/lib/python3.11/site-packages/flask/app.py", line 919, in full_dispatch_request
2026-11-20T02:00:01Z web-1     rv = self.dispatch_request()
2026-11-20T02:00:01Z web-1   File "/usr/local/lib/python3.11/site-packages/flask/app.py", line 902, in dispatch_request
2026-11-20T02:00:01Z web-1     return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)  # type: ignore[no-any-return]
2026-11-20T02:00:01Z web-1   File "/srv/orders/app/main.py", line 10, in create_order
2026-11-20T02:00:01Z web-1     unit = data["total"] / data["count"]
2026-11-20T02:00:01Z web-1 ZeroDivisionError: float division by zero
"""


def test_flask_view_crash_is_reproduced_by_a_request_and_fixed(tmp_path: Path, docker_client: Any) -> None:
    repo = commit_repo(tmp_path / "orders-api", {
        "app/__init__.py": "", "app/main.py": VIEW, "tests/test_orders.py": SUITE,
        "requirements.txt": "flask\npytest\n",
    }, "Orders API")
    log = tmp_path / "web.log"
    log.write_text(LOG)
    proc, report = healcrew_run(repo, log, tmp_path / "out", tmp_path / "cache", "--deliver", "none")
    assert proc.returncode == 0, (proc.stderr[-1500:], report.get("declined"), report.get("attempts"))
    accepted = report["accepted"]
    test = accepted["proposal"]["test"]
    assert ".post('/orders', json={'total': 10.0, 'count': 0})" in test["code"]
    assert test["input_source"] == "log"
    validation = accepted["validation"]
    assert validation["reproduces"] and validation["fixed"] and validation["test_on_original"]["exc_type"] == (
        "ZeroDivisionError"
    )


API = '''"""Ratings API."""
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Votes(BaseModel):
    up: int
    down: int


@app.post("/ratings")
def rating(votes: Votes) -> dict:
    share = votes.up / (votes.up + votes.down)
    return {"share": share}
'''
API_SUITE = '''from fastapi.testclient import TestClient

from app.api import app


def test_share():
    assert TestClient(app).post("/ratings", json={"up": 3, "down": 1}).json() == {"share": 0.75}
'''
API_LOG = """{"ts": "2026-11-20T02:00:00Z", "level": "info", "msg": "vote payload {\\"up\\": 2, \\"down\\": 2}"}
{"ts": "2026-11-20T02:00:01Z", "level": "info", "msg": "vote payload {\\"up\\": 0, \\"down\\": 0}"}
{"ts": "2026-11-20T02:00:01Z", "level": "error", "msg": "Exception in ASGI application", "exc_info": "Traceback (most recent call last):\\n  File \\"/usr/local/lib/python3.11/site-packages/fastapi/routing.py\\", line 214, in run_endpoint_function\\n    return await run_in_threadpool(dependant.call, **values)\\n  File \\"/app/app/api.py\\", line 15, in rating\\n    share = votes.up / (votes.up + votes.down)\\nZeroDivisionError: division by zero"}
"""


def test_fastapi_endpoint_crash_is_reproduced_by_a_request_and_fixed(tmp_path: Path, docker_client: Any) -> None:
    repo = commit_repo(tmp_path / "ratings-api", {
        "app/__init__.py": "", "app/api.py": API, "tests/test_api.py": API_SUITE,
        "requirements.txt": "fastapi\nhttpx\npytest\n",
    }, "Ratings API")
    log = tmp_path / "api.jsonl"
    log.write_text(API_LOG)
    proc, report = healcrew_run(repo, log, tmp_path / "out", tmp_path / "cache", "--deliver", "none")
    assert proc.returncode == 0, (proc.stderr[-1500:], report.get("declined"), report.get("attempts"))
    code = report["accepted"]["proposal"]["test"]["code"]
    assert "TestClient(app).post('/ratings', json={'up': 0, 'down': 0})" in code
    assert report["accepted"]["validation"]["reproduces"] is True


FACTORY = '''"""Stock API built by an app factory."""
from flask import Blueprint, Flask, jsonify, request

bp = Blueprint("stock", __name__)


@bp.route("/restock", methods=["POST"])
def restock():
    data = request.get_json()
    return jsonify({"per_box": data["units"] // data["boxes"]})


def create_app():
    app = Flask(__name__)
    app.register_blueprint(bp)
    return app
'''
FACTORY_LOG = """2026-11-20T02:00:01Z stock-1 INFO restock {"units": 40, "boxes": 0}
2026-11-20T02:00:01Z stock-1 ERROR Exception on /restock [POST]
2026-11-20T02:00:01Z stock-1 Traceback (most recent call last):
2026-11-20T02:00:01Z stock-1   File "/usr/local/lib/python3.11/site-packages/flask/app.py", line 902, in dispatch_request
2026-11-20T02:00:01Z stock-1     return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)
2026-11-20T02:00:01Z stock-1   File "/app/stock/api.py", line 10, in restock
2026-11-20T02:00:01Z stock-1     return jsonify({"per_box": data["units"] // data["boxes"]})
2026-11-20T02:00:01Z stock-1 ZeroDivisionError: integer division or modulo by zero
"""


def test_blueprint_route_of_an_app_factory_is_replayed(tmp_path: Path, docker_client: Any) -> None:
    repo = commit_repo(tmp_path / "stock-api", {
        "stock/__init__.py": "", "stock/api.py": FACTORY, "requirements.txt": "flask\npytest\n",
    }, "Stock API")
    log = tmp_path / "stock.log"
    log.write_text(FACTORY_LOG)
    proc, report = healcrew_run(repo, log, tmp_path / "out", tmp_path / "cache", "--deliver", "none")
    assert proc.returncode == 0, (proc.stderr[-1500:], report.get("declined"), report.get("attempts"))
    code = report["accepted"]["proposal"]["test"]["code"]
    assert "from stock.api import create_app" in code and "app = create_app()" in code
    assert "app.test_client().post('/restock', json={'units': 40, 'boxes': 0})" in code
