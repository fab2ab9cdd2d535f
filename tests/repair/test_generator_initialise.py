"""Initialise: an attribute assigned on some paths only is assigned on all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.repair.templates import initialise
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, make_repo, result

CODE = '''"""Workers."""


def connect():
    return object()


class Worker:
    def __init__(self, cached, retry):
        """A worker."""
        if cached:
            self.cache = {}
        if retry:
            self.retries = 3
        self.name = "w"

    def start(self):
        self.conn = connect()

    def stop(self):
        if self.conn is not None:
            self.conn = None
        return "stopped"

    def lookup(self, key):
        return self.cache.get(key, "miss")

    def attempts(self):
        return self.retries

    def misspelt(self):
        return self.nmae


class Counter:
    def bump(self):
        self.hits += 1
        return self.hits


class Loose:
    def __init__(self, flag):
        if flag:
            self.handle = connect()

    def use(self):
        return self.handle


class Plain:
    def __init__(self):
        self.name = "p"

    def read(self):
        return self.name
'''


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("work"), {"svc/__init__.py": "", "svc/work.py": CODE})


SETUP = "from svc.work import *"


def test_attribute_set_in_a_later_method_starts_as_none(work: GitRepo, tmp_path: Path) -> None:
    ctx = crash(work, "svc/work.py", "if self.conn is not None:", "AttributeError",
                "'Worker' object has no attribute 'conn'")
    cand = by_strategy(initialise.generate(ctx), "initialise-attribute-in-init")
    assert '        """A worker."""\n        self.conn = None\n        if cached:' in cand.edits[0].updated
    assert "compares" in cand.rationale
    assert_fixes(work, cand, tmp_path, "Worker(True, True).stop()", ["(lambda w: (w.start(), w.stop()))"
                                                                       "(Worker(True, True))[1]"], SETUP)
    assert result(work, cand, "Worker(False, False).stop()", tmp_path, SETUP) == "stopped"


def test_attribute_set_on_one_branch_gets_its_types_empty_value(work: GitRepo, tmp_path: Path) -> None:
    ctx = crash(work, "svc/work.py", 'return self.cache.get(key, "miss")', "AttributeError",
                "'Worker' object has no attribute 'cache'")
    cand = by_strategy(initialise.generate(ctx), "initialise-attribute-in-init")
    assert "self.cache = {}" in cand.edits[0].updated.split("if cached:")[0]
    assert_fixes(work, cand, tmp_path, "Worker(False, True).lookup('k')", ["Worker(True, True).lookup('k')"], SETUP)
    assert result(work, cand, "Worker(False, True).lookup('k')", tmp_path, SETUP) == "miss"


def test_the_literal_one_path_assigns_is_the_default(work: GitRepo, tmp_path: Path) -> None:
    ctx = crash(work, "svc/work.py", "return self.retries", "AttributeError",
                "'Worker' object has no attribute 'retries'")
    cand = by_strategy(initialise.generate(ctx), "initialise-attribute-in-init")
    assert "self.retries = 3" in cand.edits[0].updated.split("if cached:")[0]
    assert result(work, cand, "Worker(True, False).attempts()", tmp_path, SETUP) == 3


def test_a_counter_without_init_gets_a_class_attribute_zero(work: GitRepo, tmp_path: Path) -> None:
    ctx = crash(work, "svc/work.py", "self.hits += 1", "AttributeError", "'Counter' object has no attribute 'hits'")
    cand = by_strategy(initialise.generate(ctx), "initialise-attribute-on-class")
    assert "class Counter:\n    hits = 0\n" in cand.edits[0].updated
    assert_fixes(work, cand, tmp_path, "Counter().bump()", [], SETUP)
    assert result(work, cand, "(lambda c: (c.bump(), c.bump()))(Counter())", tmp_path, SETUP) == [1, 2]
    assert result(work, cand, "(Counter().bump(), Counter().bump())", tmp_path, SETUP) == [1, 1]


def test_nothing_without_evidence_for_the_value(work: GitRepo) -> None:
    never = crash(work, "svc/work.py", "return self.nmae", "AttributeError", "'Worker' object has no attribute 'nmae'")
    assert initialise.generate(never) == []  # never assigned: a misspelling, for the rename template
    loose = crash(work, "svc/work.py", "return self.handle", "AttributeError",
                  "'Loose' object has no attribute 'handle'")
    assert initialise.generate(loose) == []  # assigned from a call of unknown type, never compared or tested
    plain = crash(work, "svc/work.py", "return self.name", "AttributeError", "'Plain' object has no attribute 'name'")
    assert initialise.generate(plain) == []  # already assigned on every path of __init__
