"""Default: a missing value gets the value the repository itself states for it, from each kind of source."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from crew.repair.templates import default
from crew.repo import GitRepo
from tests.repair.helpers import GIT_ENV, assert_fixes, by_strategy, crash, make_repo, result

CODE = '''"""Settings readers."""


def connect(host, timeout=30):
    return [host, timeout]


def open_conn(cfg):
    return connect(cfg["host"], cfg["timeout"])


def page_size(params):
    """How many rows a page holds; ``limit`` defaults to 20."""
    return int(params.get("limit"))


def greet(name, greeting=None):
    """Greets someone; the greeting defaults to "hello"."""
    return greeting.title() + " " + name


def render(template, style=None):
    return style.upper() + ":" + template


def home():
    return render("home", style="plain")


def about():
    return render("about", style="plain")


def retries(cfg):
    return cfg["RETRIES"]


def currency(order):
    return order["currency"]


def region_of(cfg):
    return cfg.region


def deploy(name, region="eu-west"):
    return [name, region]


def secret(cfg):
    return cfg["undocumented"]


def refuse(cfg):
    if "mode" not in cfg:
        raise KeyError("mode")
    return cfg["mode"]
'''

TESTS = '''from app.settings import currency


def test_currency():
    assert currency({"currency": "EUR", "total": 3}) == "EUR"
'''


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("app"), {
        "app/__init__.py": "", "app/settings.py": CODE, ".env.example": "RETRIES=5\n", "tests/test_settings.py": TESTS,
    })


SETUP = "from app.settings import *"


def test_parameter_default_of_the_same_name_elsewhere(app: GitRepo, tmp_path: Path) -> None:
    ctx = crash(app, "app/settings.py", 'return connect(cfg["host"], cfg["timeout"])', "KeyError", "'timeout'")
    cand = by_strategy(default.generate(ctx), "default-parameter")
    assert 'cfg.get("timeout", 30)' in cand.edits[0].updated
    assert_fixes(app, cand, tmp_path, "open_conn({'host': 'h'})", ["open_conn({'host': 'h', 'timeout': 5})"], SETUP)
    assert result(app, cand, "open_conn({'host': 'h'})", tmp_path, SETUP) == ["h", 30]


def test_docstring_default_for_a_get_that_returned_none(app: GitRepo, tmp_path: Path) -> None:
    ctx = crash(app, "app/settings.py", 'return int(params.get("limit"))', "TypeError",
                "int() argument must be a string, a bytes-like object or a real number, not 'NoneType'")
    cand = by_strategy(default.generate(ctx), "default-docstring")
    assert 'params.get("limit", 20)' in cand.edits[0].updated
    assert_fixes(app, cand, tmp_path, "page_size({})", ["page_size({'limit': '5'})"], SETUP)
    assert result(app, cand, "page_size({})", tmp_path, SETUP) == 20


def test_none_parameter_gets_the_documented_value(app: GitRepo, tmp_path: Path) -> None:
    ctx = crash(app, "app/settings.py", 'return greeting.title() + " " + name', "AttributeError",
                "'NoneType' object has no attribute 'title'")
    cand = by_strategy(default.generate(ctx), "default-docstring")
    assert "    if greeting is None:\n        greeting = \"hello\"\n" in cand.edits[0].updated
    assert_fixes(app, cand, tmp_path, "greet('ada')", ["greet('ada', 'hi')"], SETUP)
    assert result(app, cand, "greet('ada')", tmp_path, SETUP) == "Hello ada"


def test_literal_every_call_site_passes(app: GitRepo, tmp_path: Path) -> None:
    ctx = crash(app, "app/settings.py", 'return style.upper() + ":" + template', "AttributeError",
                "'NoneType' object has no attribute 'upper'")
    cand = by_strategy(default.generate(ctx), "default-callers")
    assert_fixes(app, cand, tmp_path, "render('x')", ["home()", "render('x', 'bold')"], SETUP)
    assert result(app, cand, "render('x')", tmp_path, SETUP) == "PLAIN:x"


def test_config_file_value_and_the_expected_result(app: GitRepo, tmp_path: Path) -> None:
    ctx = crash(app, "app/settings.py", 'return cfg["RETRIES"]', "KeyError", "'RETRIES'")
    cand = by_strategy(default.generate(ctx), "default-config")
    assert cand.expected_result == "5"  # the read is the whole return value: the call returns the default
    assert_fixes(app, cand, tmp_path, "retries({})", ["retries({'RETRIES': 2})"], SETUP)
    assert result(app, cand, "retries({})", tmp_path, SETUP) == 5


def test_test_fixture_value_ranks_lowest(app: GitRepo, tmp_path: Path) -> None:
    ctx = crash(app, "app/settings.py", 'return order["currency"]', "KeyError", "'currency'")
    cands = default.generate(ctx)
    cand = by_strategy(cands, "default-fixtures")
    assert cand.score < 0.6
    assert result(app, cand, "currency({})", tmp_path, SETUP) == "EUR"


def test_missing_attribute_read_with_getattr(app: GitRepo, tmp_path: Path) -> None:
    ctx = crash(app, "app/settings.py", "return cfg.region", "AttributeError",
                "'Cfg' object has no attribute 'region'")
    cand = by_strategy(default.generate(ctx), "default-parameter")
    assert 'return getattr(cfg, "region", "eu-west")' in cand.edits[0].updated
    setup = SETUP + "\nclass Cfg:\n    pass"
    assert result(app, cand, "region_of(Cfg())", tmp_path, setup) == "eu-west"


def test_earlier_version_of_the_line(tmp_path: Path) -> None:
    before = 'def charset(opts):\n    return opts.get("encoding", "utf-8").lower()\n'
    repo = make_repo(tmp_path / "r", {"m.py": before})
    (tmp_path / "r" / "m.py").write_text('def charset(opts):\n    return opts.get("encoding").lower()\n')
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "-C", str(tmp_path / "r"), "commit", "-qam", "simplify"], check=True, env=env)
    repo = GitRepo(tmp_path / "r")
    ctx = crash(repo, "m.py", 'return opts.get("encoding").lower()', "AttributeError",
                "'NoneType' object has no attribute 'lower'")
    cand = by_strategy(default.generate(ctx), "default-history")
    assert 'opts.get("encoding", "utf-8")' in cand.edits[0].updated
    assert_fixes(repo, cand, tmp_path, "charset({})", ["charset({'encoding': 'LATIN-1'})"], "from m import charset")
    assert result(repo, cand, "charset({})", tmp_path, "from m import charset") == "utf-8"


def test_nothing_without_a_stated_value_or_for_a_deliberate_raise(app: GitRepo) -> None:
    ctx = crash(app, "app/settings.py", 'return cfg["undocumented"]', "KeyError", "'undocumented'")
    assert default.generate(ctx) == []
    assert "no default" in (default.explain(ctx) or "")
    raised = crash(app, "app/settings.py", 'raise KeyError("mode")', "KeyError", "'mode'")
    assert default.generate(raised) == []
