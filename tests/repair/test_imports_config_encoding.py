"""Import, configuration and encoding templates on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, Termination
from crew.repair.candidates import TemplateContext
from crew.repair.templates import config, encoding, imports
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, make_repo, result

FORMATTING = '''"""Money formatting (moved from app/utils/fmt.py)."""


def money(cents):
    return f"${cents / 100:.2f}"


def format_percent(x):
    return f"{x:.0%}"
'''
REPORT = '''"""Reports."""
from app.utils.fmt import money


def render(cents):
    return "Total: " + money(cents)
'''
PCT = '''"""Percent report."""
from app.utils.formatting import percent


def show(x):
    return percent(x)
'''


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("reports"), {
        "app/__init__.py": "", "app/utils/__init__.py": "", "app/utils/formatting.py": FORMATTING,
        "app/report.py": REPORT, "app/pct.py": PCT, "requirements.txt": "fastapi==0.110\n",
        "app/third.py": "import stripe\n\n\ndef charge():\n    return stripe.__name__\n",
        "src/shop/__init__.py": "", "src/shop/money.py": FORMATTING,
        "src/shop/view.py": REPORT.replace("app.utils.fmt", "shop.fmt"),
    })


def test_renamed_module_is_imported_from_its_new_place(reports: GitRepo, tmp_path: Path) -> None:
    ctx = crash(reports, "app/report.py", "from app.utils.fmt", "ModuleNotFoundError",
                "No module named 'app.utils.fmt'")
    best = imports.generate(ctx)[0]
    assert best.strategy == "import-from-new-module"
    assert "from app.utils.formatting import money\n" in best.edits[0].updated
    assert "app/utils/formatting.py" in best.rationale
    assert_fixes(reports, best, tmp_path, "import app.report", [], max_changed=2)
    assert result(reports, best, "app.report.render(250)", tmp_path, "import app.report") == "Total: $2.50"


def test_src_layout_and_a_renamed_name(reports: GitRepo, tmp_path: Path) -> None:
    ctx = crash(reports, "src/shop/view.py", "from shop.fmt", "ModuleNotFoundError", "No module named 'shop.fmt'")
    best = imports.generate(ctx)[0]
    assert "from shop.money import money\n" in best.edits[0].updated
    setup = "import sys; sys.path.insert(0, 'src')\nimport shop.view"
    assert_fixes(reports, best, tmp_path, "import shop.view", [], "import sys; sys.path.insert(0, 'src')",
                 max_changed=2)
    assert result(reports, best, "shop.view.render(5)", tmp_path, setup) == "Total: $0.05"
    ctx = crash(reports, "app/pct.py", "from app.utils.formatting", "ImportError",
                "cannot import name 'percent' from 'app.utils.formatting' (/app/app/utils/formatting.py)")
    best = imports.generate(ctx)[0]
    assert best.strategy == "import-renamed-name"
    assert "from app.utils.formatting import format_percent as percent" in best.edits[0].updated
    assert_fixes(reports, best, tmp_path, "import app.pct", [], max_changed=2)
    assert result(reports, best, "app.pct.show(0.5)", tmp_path, "import app.pct") == "50%"


def test_third_party_module_goes_to_requirements_or_nowhere(reports: GitRepo) -> None:
    ctx = crash(reports, "app/third.py", "import stripe", "ModuleNotFoundError", "No module named 'stripe'")
    cands = imports.generate(ctx)
    cand = by_strategy(cands, "add-requirement")
    assert cand.score <= 0.3 and cand.edits[0].updated == "fastapi==0.110\nstripe\n"
    ctx = crash(reports, "app/report.py", "from app.utils.fmt", "ModuleNotFoundError", "No module named 'app.nowhere'")
    assert imports.generate(ctx) == []


MAILER = '''"""Mail settings."""
import os


def smtp_settings():
    host = os.environ["SMTP_HOST"]
    return {"host": host, "port": int(os.getenv("SMTP_PORT", "25"))}


def token():
    return os.environ["API_TOKEN"]


def region():
    return os.environ["AWS_REGION_NAME"]
'''
DEPLOY = '''apiVersion: apps/v1
kind: Deployment
metadata:
  name: mailer
spec:
  template:
    spec:
      containers:
        - name: mailer
          image: mailer:1.4
          env:
            - name: SMTP_PORT
              value: "25"
          resources:
            limits:
              memory: 256Mi
'''


@pytest.fixture(scope="module")
def mailer(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("mailer"), {
        "mailer/__init__.py": "", "mailer/settings.py": MAILER, ".env.example": "SMTP_HOST=localhost\nAPI_TOKEN=x\n",
        "deploy/prod/deployment.yaml": DEPLOY,
    })


def test_env_default_from_the_env_example(mailer: GitRepo, tmp_path: Path) -> None:
    ctx = crash(mailer, "mailer/settings.py", 'os.environ["SMTP_HOST"]', "KeyError", "'SMTP_HOST'")
    assert ctx.diagnosis.root_cause.value == "missing_config"
    cands = config.generate(ctx)
    best = cands[0]
    assert best.strategy == "env-default-from-repo"
    assert 'host = os.environ.get("SMTP_HOST", "localhost")' in best.edits[0].updated
    assert ".env.example" in best.rationale
    setup = "from mailer.settings import smtp_settings"
    assert_fixes(mailer, best, tmp_path, "smtp_settings()", ["smtp_settings()"], setup, max_changed=2,
                 normal_env={"SMTP_HOST": "mail.internal"})  # the normal run has the variable set
    assert result(mailer, best, "smtp_settings()", tmp_path, setup)["host"] == "localhost"  # type: ignore[index]


def test_manifest_gets_the_variable_when_another_environment_sets_it(tmp_path: Path) -> None:
    staging = DEPLOY.replace('              value: "25"\n', '              value: "25"\n'
                             '            - name: SMTP_HOST\n              value: smtp.staging.internal\n')
    repo = make_repo(tmp_path / "r", {"mailer/__init__.py": "", "mailer/settings.py": MAILER,
                                      "deploy/prod/deployment.yaml": DEPLOY, "deploy/staging/deployment.yaml": staging})
    ctx = crash(repo, "mailer/settings.py", 'os.environ["SMTP_HOST"]', "KeyError", "'SMTP_HOST'")
    cands = config.generate(ctx)
    best = cands[0]
    assert best.strategy == "add-env-to-manifest" and best.touched_files == ["deploy/prod/deployment.yaml"]
    doc = yaml.safe_load(best.edits[0].updated)
    env = doc["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SMTP_HOST", "value": "smtp.staging.internal"} in env
    assert {"name": "SMTP_PORT", "value": "25"} in env
    assert doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "256Mi"
    assert by_strategy(cands, "env-default-from-repo").score < best.score
    no_env = DEPLOY.replace('          env:\n            - name: SMTP_PORT\n              value: "25"\n', "")
    updated = config.add_env_to_manifest(no_env, "SMTP_HOST", "h")
    assert updated is not None
    assert yaml.safe_load(updated)["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "SMTP_HOST", "value": "h"}]


def test_start_up_failure_without_traceback_finds_the_read(mailer: GitRepo) -> None:
    ev = CrashEvidence(incident_id="t", source="x", termination=Termination(
        kind="startup_failure", detail="RuntimeError: environment variable SMTP_HOST is not set"))
    ctx = TemplateContext(diagnosis=diagnose(ev, mailer), repo=mailer, evidence=ev)
    cands = config.generate(ctx)
    assert cands and 'os.environ.get("SMTP_HOST", "localhost")' in cands[0].edits[0].updated


def test_secrets_and_unknown_values_are_declined(mailer: GitRepo) -> None:
    ctx = crash(mailer, "mailer/settings.py", 'os.environ["API_TOKEN"]', "KeyError", "'API_TOKEN'")
    assert config.generate(ctx) == []
    ctx = crash(mailer, "mailer/settings.py", 'os.environ["AWS_REGION_NAME"]', "KeyError", "'AWS_REGION_NAME'")
    assert config.generate(ctx) == []


INGEST = '''"""Ingest uploaded CSV files."""


def read_name(raw):
    return raw.decode("ascii").strip()


def read_rows(path):
    with open(path) as fh:
        return [line.strip() for line in fh]


def shout(text):
    return text.encode('ascii')


def first_line(path):
    return open(path, "rb").readline().decode()
'''
ASCII_ENV = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("ingest"), {
        "pos/__init__.py": "", "pos/ingest.py": INGEST,
        "data/utf8.csv": "café,3\n", "data/plain.csv": "tea,2\n",
    })


def test_ascii_decode_becomes_utf8(ingest: GitRepo, tmp_path: Path) -> None:
    ctx = crash(ingest, "pos/ingest.py", 'raw.decode("ascii")', "UnicodeDecodeError",
                "'ascii' codec can't decode byte 0xc3 in position 3: ordinal not in range(128)")
    cands = encoding.generate(ctx)
    assert [c.strategy for c in cands] == ["decode-utf8", "decode-utf8-replace"]
    assert 'return raw.decode("utf-8").strip()' in cands[0].edits[0].updated
    setup = "from pos.ingest import read_name"
    assert_fixes(ingest, cands[0], tmp_path, "read_name('café '.encode())", ["read_name(b' tea ')"], setup,
                 max_changed=2)
    assert result(ingest, cands[0], "read_name('café '.encode())", tmp_path, setup) == "café"
    ctx = crash(ingest, "pos/ingest.py", "text.encode('ascii')", "UnicodeEncodeError",
                "'ascii' codec can't encode character '\\xe9' in position 3: ordinal not in range(128)")
    best = encoding.generate(ctx)[0]
    assert "return text.encode('utf-8')" in best.edits[0].updated
    assert_fixes(ingest, best, tmp_path, "shout('café')", ["shout('tea').decode()"], "from pos.ingest import shout",
                 max_changed=2)


def test_text_open_without_encoding_gets_utf8(ingest: GitRepo, tmp_path: Path) -> None:
    ctx = crash(ingest, "pos/ingest.py", "return [line.strip()", "UnicodeDecodeError",
                "'ascii' codec can't decode byte 0xc3 in position 3: ordinal not in range(128)")
    best = encoding.generate(ctx)[0]
    assert best.strategy == "open-utf8"
    assert 'with open(path, encoding="utf-8") as fh:' in best.edits[0].updated
    assert_fixes(ingest, best, tmp_path, "read_rows('data/utf8.csv')", ["read_rows('data/plain.csv')"],
                 "from pos.ingest import read_rows", max_changed=2, env=ASCII_ENV)


def test_unrecognised_encoding_errors_yield_nothing(ingest: GitRepo) -> None:
    ctx = crash(ingest, "pos/ingest.py", 'raw.decode("ascii")', "UnicodeDecodeError", "some other unicode problem")
    assert encoding.generate(ctx) == []
    ctx = crash(ingest, "pos/ingest.py", "readline().decode()", "UnicodeDecodeError",
                "'utf-8' codec can't decode byte 0xe9 in position 1: invalid continuation byte")
    cands = encoding.generate(ctx)
    assert [c.strategy for c in cands] == ["decode-utf8-then-latin1", "decode-replace-invalid"]
    assert cands[1].score < 0.5 < cands[0].score  # replacing bytes is never the top candidate
