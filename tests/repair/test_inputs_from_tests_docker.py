"""In the real sandbox: the crash is reproduced by mutating the repo's own test call, when nothing else reaches it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Frame, Traceback
from crew.repo import GitRepo
from tests.e2e_helpers import commit_repo

pytestmark = [pytest.mark.docker]

LABELS = '''"""Shipping labels."""


def shipping_labels(orders):
    """One label per order: the destination city in capitals."""
    labels = []
    for order in orders:
        labels.append(order["city"].upper())
    return labels
'''

TESTS = '''from shop.labels import shipping_labels


def test_labels_are_in_capitals():
    orders = [{"id": 1, "city": "Lyon"}, {"id": 2, "city": "Oslo"}]
    assert shipping_labels(orders) == ["LYON", "OSLO"]
'''


@pytest.mark.timeout(600)
def test_only_a_mutated_repo_test_seed_reproduces_and_the_test_says_so(tmp_path: Path, docker_client: Any) -> None:
    from crew.sandbox_runner import SandboxRunner
    from crew.validate import prepare_baseline, reproduces

    repo = GitRepo(commit_repo(tmp_path / "shop", {
        "shop/__init__.py": "", "shop/labels.py": LABELS, "tests/__init__.py": "", "tests/test_labels.py": TESTS,
        "requirements.txt": "pytest\n"}, "init"))
    message = "'NoneType' object has no attribute 'upper'"  # one order had no city; the log holds no values
    tb = Traceback(exc_type="AttributeError", exc_message=message, frames=[
        Frame(file="/srv/app/shop/labels.py", line=8, function="shipping_labels",
              code='labels.append(order["city"].upper())')])
    evidence = CrashEvidence(incident_id="i", source="t", tracebacks=[tb], groups=[
        CrashGroup(signature="s", exc_type="AttributeError", exc_message=message, count=1, example=0)])
    diagnosis = diagnose(evidence, repo)
    baseline = prepare_baseline(diagnosis, evidence, repo, SandboxRunner(repo, "docker"), "i",
                                "python -m pytest -q", timeout=300)
    assert baseline.test is not None, baseline.failure
    assert baseline.reproduction is not None and baseline.reproduction.source == "repo tests"
    assert baseline.test.input_source == "repo tests"
    (arg,) = baseline.reproduction.args or []
    orders = ast.literal_eval(arg)
    assert any(order.get("city", "") is None for order in orders)  # a mutation: the seed itself passes
    seed = "[{'id': 1, 'city': 'Lyon'}, {'id': 2, 'city': 'Oslo'}]"
    assert [seed] in baseline.reproduction.normal_inputs  # the unmutated seed is an ordinary input
    assert reproduces(baseline.test_on_original, diagnosis)
    assert baseline.suite_on_original is not None and baseline.suite_on_original.failed == 0


BASKET = '''"""A shopping basket."""


class Item:
    def __init__(self, name, price):
        self.name = name
        self.price = price


class Basket:
    def __init__(self, owner):
        self.owner = owner
        self.items = []

    def add(self, item):
        self.items.append(item)
        return self

    def total(self):
        total = 0.0
        for item in self.items:
            total += item.price
        return total
'''

BASKET_TESTS = '''from shop.basket import Basket, Item


def test_total_of_two_items():
    basket = Basket("ann")
    basket.add(Item("tea", 3.0))
    basket.add(Item("jam", 4.5))
    assert basket.total() == 7.5
'''


@pytest.mark.timeout(600)
def test_a_method_on_an_object_the_tests_build_in_steps_is_reproduced(tmp_path: Path, docker_client: Any) -> None:
    from crew.sandbox_runner import SandboxRunner
    from crew.validate import prepare_baseline, reproduces

    repo = GitRepo(commit_repo(tmp_path / "shop", {
        "shop/__init__.py": "", "shop/basket.py": BASKET, "tests/__init__.py": "",
        "tests/test_basket.py": BASKET_TESTS, "requirements.txt": "pytest\n"}, "init"))
    message = "unsupported operand type(s) for +=: 'float' and 'NoneType'"  # an item had no price
    tb = Traceback(exc_type="TypeError", exc_message=message, frames=[
        Frame(file="/srv/app/shop/basket.py", line=22, function="total", code="total += item.price")])
    evidence = CrashEvidence(incident_id="i", source="t", tracebacks=[tb], groups=[
        CrashGroup(signature="s", exc_type="TypeError", exc_message=message, count=1, example=0)])
    diagnosis = diagnose(evidence, repo)
    baseline = prepare_baseline(diagnosis, evidence, repo, SandboxRunner(repo, "docker"), "i",
                                "python -m pytest -q", timeout=300)
    assert baseline.test is not None, baseline.failure
    assert baseline.test.input_source == "repo tests"
    assert baseline.reproduction is not None and baseline.reproduction.args is not None
    assert baseline.reproduction.args[0].startswith("Basket('ann').add(Item(")  # built the way the test builds it
    assert "None" in baseline.reproduction.args[0]
    assert baseline.test.call.endswith(".total()")
    assert reproduces(baseline.test_on_original, diagnosis)
