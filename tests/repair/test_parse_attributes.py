"""Parse-error and missing-attribute templates on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.handoffs import Frame
from crew.repair.templates import attributes, parse
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, make_repo, result

FORMS = '''"""Form handling."""
from datetime import datetime


def parse_qty(raw):
    return int(raw)


def parse_weight(raw):
    weight = float(raw)
    return weight


def parse_day(value):
    return datetime.strptime(value, "%Y-%m-%d").date()


def parse_stamp(value):
    return datetime.strptime(value, "%Y-%m-%d %H:%M")
'''
STRPTIME = Frame(file="/usr/local/lib/python3.11/_strptime.py", line=352, function="_strptime")


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("forms"), {"web/__init__.py": "", "web/forms.py": FORMS})


def test_int_of_blank_or_decimal_text_is_parsed_tolerantly(forms: GitRepo, tmp_path: Path) -> None:
    ctx = crash(forms, "web/forms.py", "return int(raw)", "ValueError", "invalid literal for int() with base 10: ''")
    cands = parse.generate(ctx)
    best = cands[0]
    assert best.strategy == "tolerant-int-parse" and "return _to_int(raw)" in best.edits[0].updated
    setup = "from web.forms import parse_qty"
    assert_fixes(forms, best, tmp_path, "parse_qty('')", ["parse_qty('7')", "parse_qty(' 12 ')"], setup, max_changed=10)
    assert result(forms, best, "parse_qty('3.0')", tmp_path, setup) == 3
    assert result(forms, best, "parse_qty('')", tmp_path, setup) == 0
    assert "ValueError" in (_crash(forms, best, "parse_qty('abc')", tmp_path, setup) or "")  # garbage still fails
    inline = by_strategy(cands, "inline-int-parse")
    assert "return int(raw) if str(raw).strip() else 0" in inline.edits[0].updated
    assert_fixes(forms, inline, tmp_path, "parse_qty('')", ["parse_qty('7')"], setup)
    ctx = crash(forms, "web/forms.py", "return int(raw)", "ValueError", "invalid literal for int() with base 10: '3.0'")
    best = parse.generate(ctx)[0]
    assert_fixes(forms, best, tmp_path, "parse_qty('3.0')", ["parse_qty('7')"], setup, max_changed=10)


def _crash(repo: GitRepo, cand: object, call: str, tmp: Path, setup: str) -> str | None:
    from tests.repair.helpers import crashes

    return crashes(repo, cand, call, tmp, setup)  # type: ignore[arg-type]


def test_float_of_blank_text(forms: GitRepo, tmp_path: Path) -> None:
    ctx = crash(forms, "web/forms.py", "weight = float(raw)", "ValueError", "could not convert string to float: ''")
    cands = parse.generate(ctx)
    assert [c.strategy for c in cands] == ["tolerant-float-parse", "inline-float-parse"]
    setup = "from web.forms import parse_weight"
    for cand in cands:
        assert_fixes(forms, cand, tmp_path, "parse_weight('')", ["parse_weight('2.5')"], setup, max_changed=9)


def test_iso_timestamp_given_to_strptime_inside_the_library(forms: GitRepo, tmp_path: Path) -> None:
    ctx = crash(forms, "web/forms.py", "datetime.strptime(value", "ValueError", "unconverted data remains: T10:15:00Z",
                library=STRPTIME)
    assert ctx.diagnosis.library_frame is not None
    cands = parse.generate(ctx)
    assert [c.strategy for c in cands] == ["parse-date-prefix", "parse-isoformat"]
    setup = "from web.forms import parse_day"
    for cand in cands:
        assert_fixes(forms, cand, tmp_path, "parse_day('2024-05-01T10:15:00Z')", ["parse_day('2024-05-01')"], setup)
        assert result(forms, cand, "parse_day('2024-05-01T10:15:00Z')", tmp_path, setup) == "2024-05-01"


def test_unrecognised_parse_errors_yield_nothing(forms: GitRepo) -> None:
    ctx = crash(forms, "web/forms.py", "return int(raw)", "ValueError", "invalid literal for int() with base 10: 'abc'")
    assert parse.generate(ctx) == []  # garbage: a default would hide bad data
    ctx = crash(forms, "web/forms.py", "datetime.strptime(value, \"%Y-%m-%d %H", "ValueError",
                "time data '05/01/2024' does not match format '%Y-%m-%d %H:%M'", library=STRPTIME)
    assert parse.generate(ctx) == []


MODELS = '''"""Billing models."""
from dataclasses import dataclass


@dataclass
class Invoice:
    number: str
    amount_cents: int

    def label(self):
        return f"{self.number}"
'''
REPORT = '''"""Totals for the report."""
from billing.models import Invoice


def total(invoices):
    return sum(inv.total_cents for inv in invoices)


def describe(inv: Invoice):
    return inv.lable()


def summary(values):
    totl = sum(values)
    return total_value


def dumped(data):
    return json.dumps(data)


def shout(text):
    return text.shout()
'''


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("billing"), {
        "billing/__init__.py": "", "billing/models.py": MODELS, "billing/report.py": REPORT,
    })


SETUP = "from billing.models import Invoice\nfrom billing import report\ninvs = [Invoice('a', 5), Invoice('b', 7)]"


def test_renamed_attribute_found_in_the_class(billing: GitRepo, tmp_path: Path) -> None:
    ctx = crash(billing, "billing/report.py", "inv.total_cents", "AttributeError",
                "'Invoice' object has no attribute 'total_cents'")
    best = attributes.generate(ctx)[0]
    assert best.strategy == "rename-attribute-amount_cents"
    assert "return sum(inv.amount_cents for inv in invoices)" in best.edits[0].updated
    assert "billing/models.py" in best.rationale
    assert_fixes(billing, best, tmp_path, "report.total(invs)", ["report.describe(invs[0]) if False else 1"], SETUP,
                 max_changed=2)
    assert result(billing, best, "report.total(invs)", tmp_path, SETUP) == 12


def test_python_suggestion_and_name_errors(billing: GitRepo, tmp_path: Path) -> None:
    ctx = crash(billing, "billing/report.py", "return inv.lable()", "AttributeError",
                "'Invoice' object has no attribute 'lable'. Did you mean: 'label'?")
    best = attributes.generate(ctx)[0]
    assert best.strategy == "rename-attribute-label" and best.score >= 0.85
    assert_fixes(billing, best, tmp_path, "report.describe(invs[0])", ["report.total.__name__"], SETUP, max_changed=2)
    ctx = crash(billing, "billing/report.py", "return total_value", "NameError", "name 'total_value' is not defined")
    cands = attributes.generate(ctx)
    assert cands[0].strategy == "rename-name-total"
    ctx = crash(billing, "billing/report.py", "return json.dumps", "NameError",
                "name 'json' is not defined. Did you forget to import 'json'?")
    best = attributes.generate(ctx)[0]
    assert best.strategy == "add-missing-import"
    assert_fixes(billing, best, tmp_path, "report.dumped({'a': 1})", ["report.summary.__name__"], SETUP, max_changed=3)


def test_unknown_owner_without_suggestion_yields_nothing(billing: GitRepo) -> None:
    ctx = crash(billing, "billing/report.py", "return text.shout()", "AttributeError",
                "'str' object has no attribute 'shout'")
    assert attributes.generate(ctx) == []
