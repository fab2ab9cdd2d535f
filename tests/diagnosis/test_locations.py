"""Fault locations follow the bad value back across the repo frames of a real traceback."""

from __future__ import annotations

from pathlib import Path

from crew.handoffs import RootCause
from tests.diagnosis.helpers import crash_diagnosis

ROWS = '''def price(row):
    return row["item"]["price"] * row["qty"]
'''


def test_multi_subscript_line_names_the_inner_subscript_that_failed(tmp_path: Path) -> None:
    d = crash_diagnosis(tmp_path, {"shop/__init__.py": "", "shop/rows.py": ROWS},
                        "from shop.rows import price; price({'qty': 1})")
    assert d.root_cause is RootCause.MISSING_KEY
    assert d.culprit == "row['item']"
    assert d.fault_frame is not None and d.fault_frame.frame.carets is not None


def test_multi_subscript_line_names_the_outer_subscript_that_failed(tmp_path: Path) -> None:
    d = crash_diagnosis(tmp_path, {"shop/__init__.py": "", "shop/rows.py": ROWS},
                        "from shop.rows import price; price({'item': {}, 'qty': 1})")
    assert d.culprit == "row['item']['price']"


def test_old_format_traceback_without_carets_keeps_the_heuristic(tmp_path: Path) -> None:
    d = crash_diagnosis(tmp_path, {"shop/__init__.py": "", "shop/rows.py": ROWS},
                        "from shop.rows import price; price({'qty': 1})", strip_carets=True)
    assert d.fault_frame is not None and d.fault_frame.frame.carets is None
    assert d.root_cause is RootCause.MISSING_KEY
    assert d.culprit == "row['item']['price']"  # today's first-subscript guess, unchanged
    assert [loc.kind for loc in d.fault_locations][:1] == ["raised"]


NONE_FROM_CALLER = '''def lookup(users, uid):
    return users.get(uid)


def label(user):
    return user.name.title()


def handle(users, uid):
    user = lookup(users, uid)
    return label(user)
'''


def test_a_none_passed_by_the_caller_yields_the_caller_location_with_a_reason(tmp_path: Path) -> None:
    d = crash_diagnosis(tmp_path, {"svc/__init__.py": "", "svc/users.py": NONE_FROM_CALLER},
                        "from svc.users import handle; handle({}, 7)")
    assert d.root_cause is RootCause.NONE_DEREFERENCE
    assert d.culprit == "user.name"
    first, *rest = d.fault_locations
    assert (first.kind, first.line, first.function) == ("raised", 6, "label")
    assert d.fault_frame is not None and d.fault_frame.frame.line == first.line  # the fault frame stays the best
    caller = next(loc for loc in rest if loc.kind == "caller_argument")
    assert (caller.path, caller.line, caller.function, caller.expression) == ("svc/users.py", 11, "handle", "user")
    assert "passed here by the caller" in caller.reason
    made = next(loc for loc in rest if loc.kind == "assignment")
    assert (made.line, made.expression) == (10, "lookup(users, uid)")
    assert 0 < made.score < caller.score < first.score
    assert "svc/users.py:11" in d.hypothesis


SWAPPED = '''def line_total(price, qty):
    return round(price / qty, 2)


def invoice(lines):
    return [line_total(qty, price) for price, qty in lines]
'''


def test_an_argument_in_the_wrong_position_is_named_and_ranked_first_after_the_raise(tmp_path: Path) -> None:
    d = crash_diagnosis(tmp_path, {"bill.py": SWAPPED}, "from bill import invoice; invoice([(0, 9.5)])")
    assert d.root_cause is RootCause.DIVISION_BY_ZERO and d.culprit == "qty"
    second = d.fault_locations[1]
    assert (second.kind, second.line, second.expression) == ("caller_argument", 6, "price")
    assert "wrong position" in second.reason
    assert second.score > 0.8


INIT_BRANCH = '''class Report:
    def __init__(self, rows, currency=None):
        self.rows = rows
        if currency:
            self.currency = currency

    def header(self):
        return f"{len(self.rows)} rows in {self.currency}"
'''


def test_an_attribute_set_in_one_init_branch_yields_the_init_location(tmp_path: Path) -> None:
    d = crash_diagnosis(tmp_path, {"rep/__init__.py": "", "rep/report.py": INIT_BRANCH},
                        "from rep.report import Report; Report([1]).header()")
    assert d.root_cause is RootCause.MISSING_ATTRIBUTE
    init = next(loc for loc in d.fault_locations if loc.kind == "init_assignment")
    assert (init.path, init.line, init.function, init.expression) == ("rep/report.py", 5, "__init__", "self.currency")
    assert "only on some paths" in init.reason and "if currency" in init.reason
    assert d.fault_locations[0].kind == "raised"


ELSEWHERE = '''class Job:
    def __init__(self, name):
        self.name = name

    def start(self):
        self.started = True


def describe(job):
    return f"{job.name}: {job.started}"
'''


def test_an_attribute_set_only_outside_init_points_at_init(tmp_path: Path) -> None:
    d = crash_diagnosis(tmp_path, {"jobs.py": ELSEWHERE}, "from jobs import Job, describe; describe(Job('a'))")
    init = next(loc for loc in d.fault_locations if loc.kind == "init_assignment")
    assert init.line == 3 and "only in `Job.start`" in init.reason


def test_a_local_literal_is_no_caller_location(tmp_path: Path) -> None:
    code = "def ratio(xs):\n    n = 0\n    return sum(xs) / n\n"
    d = crash_diagnosis(tmp_path, {"m.py": code}, "from m import ratio; ratio([1])")
    assert [loc.kind for loc in d.fault_locations] == ["raised", "assignment"]
    assert d.fault_locations[1].line == 2
