"""The regression test also calls production's entry point, so a fix must hold on the path production took."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from crew.errors import HealcrewError
from crew.repair import regression_test as rt
from crew.repair import reproduce as r
from crew.repair.http_repro import Route
from tests.repair.test_regression_style import _pytest, _rep, _setup

SPLIT = '''def chunk(left, workers):
    return max(1, -(-left // workers))


def drain(count, workers):
    rounds = []
    while count > 0:
        step = chunk(count, workers)
        count -= step
        rounds = rounds[-1:] + [step]
    return rounds
'''
# A guard whose value passes the fault function's own test but makes the caller loop forever.
LOOPS = SPLIT.replace("    return max(1, -(-left // workers))",
                      "    if workers == 0:\n        return 0\n    return max(1, -(-left // workers))")
RIGHT = SPLIT.replace("-(-left // workers))", "-(-left // max(1, workers)))")
MARK = "return max(1, -(-left // workers))"


def _entry(target: r.Target, types: list[str]) -> tuple[r.Target, r.Reproduction]:
    outer = replace(target, function="drain", depth=1, params=[])
    return outer, _rep(["3", "0"], types)


def test_the_entry_is_called_with_its_crashing_input_and_the_caller_loop_is_caught(tmp_path: Path) -> None:
    repo, target, d = _setup(tmp_path, SPLIT, MARK)
    test = rt.render_test(target, _rep(["3", "0"], ["int"]), d, "i", "tests/test_x.py", repo=repo,
                          entry=_entry(target, ["list"]))
    assert "def test_drain_handles_the_incident_input():" in test.code
    assert "    result = drain(3, 0)\n    assert isinstance(result, list)" in test.code
    assert "from app.mod import drain" in test.code
    before = _pytest(repo, test.path, test.code)
    assert before.returncode == 1 and before.stdout.count("ZeroDivisionError") >= 2, before.stdout
    fixed = _pytest(repo, test.path, test.code, {"app/mod.py": RIGHT})
    assert fixed.returncode == 0, fixed.stdout
    looping = _pytest(repo, test.path, test.code.replace("import math", "import math\nimport pytest").replace(
        "def test_drain", "@pytest.mark.timeout(3)\ndef test_drain"), {"app/mod.py": LOOPS})
    assert looping.returncode == 1 and "test_drain_handles_the_incident_input" in looping.stdout, looping.stdout
    without = rt.render_test(target, _rep(["3", "0"], ["int"]), d, "i", "tests/test_x.py", repo=repo)
    assert _pytest(repo, without.path, without.code, {"app/mod.py": LOOPS}).returncode == 0  # what it catches


def test_an_entry_never_seen_to_return_is_not_called(tmp_path: Path) -> None:
    repo, target, d = _setup(tmp_path, SPLIT, MARK)
    test = rt.render_test(target, _rep(["3", "0"], ["int"]), d, "i", "tests/test_x.py", repo=repo,
                          entry=_entry(target, []))
    assert "drain(" not in test.code


def test_an_entry_input_that_is_not_healcrews_own_is_refused(tmp_path: Path) -> None:
    repo, target, d = _setup(tmp_path, SPLIT, MARK)
    outer, rep = _entry(target, ["list"])
    rep.args = ["__import__('os').system('id')", "0"]
    with pytest.raises(HealcrewError, match="entry input is not a literal"):
        rt.render_test(target, _rep(["3", "0"], ["int"]), d, "i", "tests/test_x.py", repo=repo, entry=(outer, rep))


API = '''from fastapi import FastAPI

from app.mod import drain

app = FastAPI()


@app.post("/drain")
def plan(body: dict):
    return {"rounds": drain(body["count"], body["workers"])}
'''


def _route_entry(body: str) -> tuple[r.Target, r.Reproduction]:
    route = Route("fastapi", "app.api", "app", "POST", "/drain")
    target = r.Target(module="app.api", function=None, path="", import_root="", route=route)
    return target, _rep([repr("/drain"), repr(body)])


def test_a_crash_through_a_web_route_gets_the_api_level_test_too(tmp_path: Path) -> None:
    """The unit test pins the fault function; the API test sends the logged request through the framework."""
    repo, target, d = _setup(tmp_path, SPLIT, MARK, files={"app/api.py": API})
    test = rt.render_test(target, _rep(["3", "0"], ["int"]), d, "i", "tests/test_x.py", repo=repo,
                          entry=_route_entry('{"count": 3, "workers": 0}'))
    assert "def test_post_drain_handles_the_incident_request():" in test.code
    assert "TestClient(app).post('/drain', json={'count': 3, 'workers': 0})" in test.code
    assert "from fastapi.testclient import TestClient\n\nfrom app.api import app" in test.code
    before = _pytest(repo, test.path, test.code)
    assert before.returncode == 1 and "2 failed" in before.stdout, before.stdout  # the unit and the API test
    fixed = _pytest(repo, test.path, test.code, {"app/mod.py": RIGHT})
    assert fixed.returncode == 0, fixed.stdout


def test_a_route_request_that_is_not_healcrews_own_literal_is_refused(tmp_path: Path) -> None:
    repo, target, d = _setup(tmp_path, SPLIT, MARK, files={"app/api.py": API})
    outer, rep = _route_entry("{}")
    rep.args = ["__import__('os').system('id')", "None"]
    with pytest.raises(HealcrewError, match="request is not a literal"):
        rt.render_test(target, _rep(["3", "0"], ["int"]), d, "i", "tests/test_x.py", repo=repo, entry=(outer, rep))
