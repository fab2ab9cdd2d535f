"""Crashing inputs seeded from the repo's own tests: their calls, set-up and fixtures, then one-leaf mutations."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from crew.handoffs import Diagnosis, RootCause
from crew.repair import inputs_from_tests
from crew.repair.inputs_from_tests import SOURCE, find_seeds, is_test_file, mutate, rank, test_inputs
from crew.repair.reproduce import (
    MAX_INPUTS,
    CandidateInput,
    Param,
    Target,
    candidate_inputs,
    safe_expression,
)
from crew.repo import GitRepo
from tests.e2e_helpers import commit_repo
from tests.repair.helpers import make_repo

BASKET = '''
from dataclasses import dataclass, field


@dataclass
class Item:
    name: str
    price: float


@dataclass
class Basket:
    owner: str
    items: list = field(default_factory=list)

    def add(self, item):
        self.items.append(item)
        return self

    def clear(self):
        self.items = []

    def total(self, discount=0, rounding=2):
        return round(sum(i.price for i in self.items) - discount, rounding)


def unit_price(total, qty, rounding=2):
    return round(total / qty, rounding)
'''


def _repo(tmp_path: Path, tests: dict[str, str]) -> GitRepo:
    files = {"shop/__init__.py": "", "shop/basket.py": BASKET, **tests}
    return GitRepo(commit_repo(tmp_path / "repo", files, "init"))


def _diagnosis(exc_type: str = "ZeroDivisionError", message: str = "division by zero") -> Diagnosis:
    return Diagnosis(incident_id="i", exc_type=exc_type, exc_message=message, root_cause=RootCause.UNKNOWN,
                     frames=[], fault_frame=None, hypothesis="h", confidence=0.5)


def _function() -> Target:
    return Target(module="shop.basket", function="unit_price", path="shop/basket.py", import_root="",
                  params=[Param("total"), Param("qty"), Param("rounding", default="2")])


def _method() -> Target:
    return Target(module="shop.basket", function="Basket.total", path="shop/basket.py", import_root="",
                  params=[Param("self", annotation="Basket"), Param("discount", default="0"),
                          Param("rounding", default="2")])


def test_which_files_are_test_files() -> None:
    assert [p for p in ["tests/helpers.py", "test/x.py", "pkg/test_a.py", "pkg/a_test.py", "conftest.py",
                        "pkg/a.py", "pkg/testing.py", "tests/data.json"] if is_test_file(p)] == [
        "tests/helpers.py", "test/x.py", "pkg/test_a.py", "pkg/a_test.py", "conftest.py"]


def test_a_function_called_directly_or_through_its_module_is_a_seed(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"tests/test_price.py": (
        "from shop import basket\nfrom shop.basket import unit_price\n\n"
        "def test_direct():\n    assert unit_price(10.0, 4) == 2.5\n\n"
        "def test_through_the_module():\n    assert basket.unit_price(9, 3, 1) == 3\n\n"
        "def test_something_else():\n    assert other(1, 2)\n")})
    seeds, imports = find_seeds(_function(), repo)
    assert seeds == [["10.0", "4"], ["9", "3", "1"]] and imports == {}


def test_keyword_arguments_bind_to_the_parameters_and_skipped_defaults_are_filled(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"tests/test_price.py": (
        "def test_kw():\n    assert unit_price(qty=4, total=10.0) == 2.5\n\n"
        "def test_last_only():\n    assert unit_price(1.0, qty=3, rounding=0) == 0\n\n"
        "def test_unknown_keyword():\n    unit_price(1.0, 2, nope=3)\n")})
    seeds, _ = find_seeds(_function(), repo)
    assert seeds == [["10.0", "4"], ["1.0", "3", "0"]]


def test_local_names_bound_once_are_resolved_and_rebound_ones_are_not(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"tests/test_price.py": (
        "def test_once():\n    total = 12.5\n    qty: int = 5\n    assert unit_price(total, qty) == 2.5\n\n"
        "def test_rebound():\n    qty = 1\n    qty += 1\n    unit_price(2.0, qty)\n\n"
        "def test_loop():\n    for qty in (1, 2):\n        unit_price(2.0, qty)\n")})
    seeds, _ = find_seeds(_function(), repo)
    assert seeds == [["12.5", "5"]]


def test_a_method_seed_keeps_the_receiver_built_the_way_the_test_builds_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {
        "tests/conftest.py": (
            "import pytest\nfrom shop.basket import Basket, Item\n\n"
            "@pytest.fixture\ndef full_basket():\n    '''A basket with two items.'''\n"
            "    return Basket('ann', [Item('tea', 3.0), Item('jam', 4.5)])\n"),
        "tests/test_basket.py": (
            "import pytest\nfrom shop import basket as b\nfrom shop.basket import Basket as B, Item\n\n"
            "@pytest.fixture()\ndef empty():\n    return B(owner='bob')\n\n"
            "def test_direct():\n    assert B('cy', [Item('tea', 2.0)]).total() == 2.0\n\n"
            "def test_local():\n    basket = b.Basket('dee', items=[b.Item('x', 1.0)])\n"
            "    assert basket.total(discount=0.5) == 0.5\n\n"
            "def test_fixture(full_basket, empty):\n    assert full_basket.total(1) == 6.5\n"
            "    assert empty.total() == 0\n\n"
            "def test_not_a_basket(thing):\n    thing.total()\n\n"
            "class TestInClass:\n    def test_rounding(self):\n        assert B('e').total(0, 0) == 0\n")})
    seeds, imports = find_seeds(_method(), repo)
    assert seeds == [
        ["Basket('cy', [Item('tea', 2.0)])"],
        ["Basket('dee', items=[Item('x', 1.0)])", "0.5"],
        ["Basket('ann', [Item('tea', 3.0), Item('jam', 4.5)])", "1"],
        ["Basket(owner='bob')"],
        ["Basket('e')", "0", "0"],
    ]
    assert imports == {"Basket": "shop.basket", "Item": "shop.basket"}


@pytest.mark.parametrize("argument", [
    "open('/etc/passwd').read()", "os.environ", "(lambda: 1)()", "helper()", "Unknown(1)", "__import__('os')",
    "Basket.__new__(Basket)", "[x for x in range(3)]", "f'{1}'", "1 + 1", "*args",
])
def test_an_argument_that_is_not_a_literal_or_a_known_constructor_drops_the_seed(
    tmp_path: Path, argument: str,
) -> None:
    repo = _repo(tmp_path, {"test_price.py": (
        f"def test_bad():\n    unit_price(1.0, {argument})\n\ndef test_good():\n    unit_price(1.0, 2)\n")})
    seeds, _ = find_seeds(_function(), repo)
    assert seeds == [["1.0", "2"]]


def test_the_tests_are_parsed_never_imported_or_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    repo = _repo(tmp_path, {"tests/test_price.py": (
        f"open({str(marker)!r}, 'w').write('x')\n\ndef test_a():\n    unit_price(1.0, 2)\n"),
        "conftest.py": f"open({str(marker)!r}, 'w').write('x')\n"})
    assert test_inputs(_function(), _diagnosis(), repo)
    assert not marker.exists()


@pytest.mark.parametrize(("exc_type", "message", "seed", "first"), [
    ("AttributeError", "'NoneType' object has no attribute 'upper'", ["[{'city': 'Lyon'}]"], ["None"]),
    ("TypeError", "unsupported operand type(s) for +: 'NoneType' and 'int'", ["1", "2"], ["None", "2"]),
    ("KeyError", "'discount'", ["{'total': 1, 'discount': 2}"], ["{'total': 1}"]),
    ("ZeroDivisionError", "division by zero", ["10", "4"], ["0", "4"]),
    ("IndexError", "list index out of range", ["[1, 2, 3]"], ["[]"]),
    ("ValueError", "invalid literal for int() with base 10: 'x'", ["'12'"], ["'x'"]),
])
def test_mutations_are_ranked_by_the_exception_class(
    exc_type: str, message: str, seed: list[str], first: list[str],
) -> None:
    got = mutate([seed], exc_type, message, {})
    assert got[0] == first
    assert seed not in got and len(got) == len({tuple(g) for g in got})


def test_the_rank_is_by_class_with_none_first_for_a_nonetype_message() -> None:
    assert rank("builtins.KeyError", "'a'")[0] == "remove_key"
    assert rank("ValueError", "'NoneType' is bad")[0] == "none"
    assert rank("SomethingElse", "")[0] == "none" and "zero" in rank("SomethingElse", "")


def test_every_kind_of_one_leaf_mutation_is_produced() -> None:
    got = {tuple(g) for g in mutate([["{'name': 'ab', 'n': 3, 'tags': ['x', 'y']}"]], "Exception", "", {})}
    expected = [
        "{'name': None, 'n': 3, 'tags': ['x', 'y']}", "{'name': '', 'n': 3, 'tags': ['x', 'y']}",
        "{'name': 'ab=', 'n': 3, 'tags': ['x', 'y']}", "{'name': 'ab\\n', 'n': 3, 'tags': ['x', 'y']}",
        "{'name': 'abé', 'n': 3, 'tags': ['x', 'y']}", "{'name': 'AB', 'n': 3, 'tags': ['x', 'y']}",
        "{'name': 'ab', 'n': 0, 'tags': ['x', 'y']}", "{'name': 'ab', 'n': -1, 'tags': ['x', 'y']}",
        "{'name': 'ab', 'n': 1000000000, 'tags': ['x', 'y']}", "{'n': 3, 'tags': ['x', 'y']}",
        "{'name': 'ab', 'n': 3, 'tags': []}", "{'name': 'ab', 'n': 3, 'tags': ['x']}",
        "{'name': 'ab', 'n': 3, 'tags': ['x', 'y', 'x']}", "{'name': 'ab', 'n': 3, 'tags': [None, 'y']}", "{}",
    ]
    missing = [e for e in expected if (e,) not in got]
    assert not missing
    assert all(safe_expression(a) is not None for g in got for a in g)


def test_the_message_literals_replace_a_leaf_and_the_named_key_is_removed_first() -> None:
    got = mutate([["{'a': 1, 'discount': 2, 'z': 3}"]], "KeyError", "'discount'", {})
    assert got[0] == ["{'a': 1, 'z': 3}"]
    assert ["{'a': 'discount', 'discount': 2, 'z': 3}"] in got


def test_a_receiver_stays_an_instance_only_its_fields_mutate(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"tests/test_basket.py": (
        "def test_a():\n    assert Basket('ann', [Item('tea', 3.0)]).total(1) == 2.0\n")})
    found = test_inputs(_method(), _diagnosis("TypeError", "'NoneType' object is not iterable"), repo)
    assert found[0].args == ["Basket('ann', [Item('tea', 3.0)])", "1"]
    assert all(ast.parse(c.args[0], mode="eval").body.__class__ is ast.Call for c in found)
    assert ["Basket('ann', None)", "1"] in [c.args for c in found]


def test_unmutated_seeds_come_first_and_the_total_is_capped(tmp_path: Path) -> None:
    body = "\n".join(f"def test_{i}():\n    unit_price({{'a': [{i}, 'x{i}', {{'k': 'v'}}]}}, {i + 1})\n"
                     for i in range(40))
    repo = _repo(tmp_path, {"tests/test_price.py": body})
    found = test_inputs(_function(), _diagnosis(), repo)
    seeds = inputs_from_tests.MAX_SEEDS
    assert len(found) == inputs_from_tests.MAX_CANDIDATES
    assert [c.args for c in found[:seeds]] == [[f"{{'a': [{i}, 'x{i}', {{'k': 'v'}}]}}", f"{i + 1}"]
                                               for i in range(seeds)]
    assert found[seeds].args == ["{'a': [0, 'x1', {'k': 'v'}]}", "2"]  # ZeroDivisionError: a zero first
    assert all(c.source == SOURCE for c in found)


def test_a_large_or_hostile_test_file_is_skipped_in_bounded_time(tmp_path: Path) -> None:
    nested = "def test_deep():\n    unit_price(" + "[" * 5000 + "]" * 5000 + ", 1)\n"
    huge = "def test_huge():\n    unit_price(1.0, 2)\n" + "x = 1\n" * 100_000
    many = "def test_many():\n" + "    unit_price(1.0, 2)\n" * 20_000
    nodes = "def test_nodes():\n    unit_price([" + "0," * 90_000 + "], 2)\n"  # under the byte cap
    wide = "def test_wide():\n    unit_price([" + ", ".join(["{'a': 'b'}"] * 30_000) + "], 2)\n"
    repo = _repo(tmp_path, {"tests/test_deep.py": nested, "tests/test_huge.py": huge,
                            "tests/test_many.py": many, "tests/test_wide.py": wide,
                            "tests/test_nodes.py": nodes,
                            "tests/test_ok.py": "def test_ok():\n    unit_price(3.0, 4)\n"})
    start = time.perf_counter()
    found = test_inputs(_function(), _diagnosis(), repo)
    assert time.perf_counter() - start < 10
    assert found[0].args == ["3.0", "4"] and len(found) <= inputs_from_tests.MAX_CANDIDATES


def test_repo_test_inputs_come_after_the_log_and_before_message_and_search(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"tests/test_basket.py": (
        "def test_a():\n    assert Basket('ann', [Item('tea', 3.0)]).total(1) == 2.0\n")})
    target = _method()
    found = candidate_inputs(target, _diagnosis("TypeError", "'NoneType' object is not iterable"), None, repo)
    sources = [c.source for c in found]
    assert sources[0] == SOURCE and "search" in sources
    first_other = next(i for i, s in enumerate(sources) if s != SOURCE)
    assert all(s != SOURCE for s in sources[first_other:])
    assert len(found) <= MAX_INPUTS
    assert target.imports["Basket"] == "shop.basket" and target.imports["Item"] == "shop.basket"
    assert all(safe_expression(a, target.imports) is not None for c in found for a in c.args)


def test_log_inputs_stay_before_repo_test_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crew.repair import reproduce

    repo = _repo(tmp_path, {"tests/test_price.py": "def test_a():\n    unit_price(1.0, 2)\n"})
    monkeypatch.setattr(reproduce, "log_inputs", lambda *a: [CandidateInput(["5.0", "0"], "log")])
    found = candidate_inputs(_function(), _diagnosis(), None, repo)
    assert [(c.args, c.source) for c in found[:2]] == [(["5.0", "0"], "log"), (["1.0", "2"], SOURCE)]


def test_no_seed_without_a_test_reaching_the_target(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"tests/test_other.py": "def test_a():\n    round(1.0, 2)\n",
                            "shop/uses.py": "from shop.basket import unit_price\nunit_price(1.0, 2)\n"})
    assert test_inputs(_function(), _diagnosis(), repo) == []


@pytest.mark.parametrize("source", [
    "Basket('a').add(Item('x', 1.0))", "Basket('a').add(Item('x', 1.0)).apply(code='X', rate=0.5)",
    "Basket(owner='a').add([1, {'k': None}])",
])
def test_a_method_chain_on_an_allowed_constructor_is_safe(source: str) -> None:
    assert safe_expression(source, {"Basket", "Item"}) == source


@pytest.mark.parametrize("source", [
    "Basket('a').__class__('b')", "Basket('a')._private()", "Basket('a').__reduce__()", "Unknown().add(1)",
    "Basket('a').add(open('/etc/passwd'))", "Basket('a').add(1)()", "Basket('a').items", "basket.add(1)",
    "Basket('a').add(1).__globals__", "__import__('os').system('x')", "Basket('a').add(x=lambda: 1)",
    "Basket('a').add(**{'x': 1})", "Basket('a').add(*[1])", "getattr(Basket('a'), 'add')(1)",
    "Basket('a')['k'].add(1)", "(1).bit_length()", "'a'.join(['b'])", "Basket('a').add.__self__.add(1)",
])
def test_what_stays_refused_around_method_chains(source: str) -> None:
    assert safe_expression(source, {"Basket", "Item"}) is None
    assert safe_expression(source) is None


def test_an_object_built_in_steps_that_return_self_becomes_one_chain(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"tests/test_basket.py": (
        "def test_chain():\n    assert Basket('a').add(Item('x', 1.0)).add(Item('y', 2.0)).total() == 3.0\n\n"
        "def test_steps():\n    b = Basket('b')\n    b.add(Item('x', 1.0))\n    b.add(Item('y', 2.0))\n"
        "    assert b.total(1) == 2.0\n\n"
        "def test_a_step_that_returns_none():\n    c = Basket('c')\n    c.add(Item('x', 1.0))\n    c.clear()\n"
        "    c.add(Item('z', 9.0))\n    assert c.total() == 9.0\n")})
    seeds, imports = find_seeds(_method(), repo)
    assert seeds == [
        ["Basket('a').add(Item('x', 1.0)).add(Item('y', 2.0))"],
        ["Basket('b').add(Item('x', 1.0)).add(Item('y', 2.0))", "1"],
        ["Basket('c').add(Item('x', 1.0))"],
    ]
    assert imports == {"Basket": "shop.basket", "Item": "shop.basket"}
    found = test_inputs(_method(), _diagnosis("AttributeError", "'NoneType' object has no attribute 'price'"), repo)
    assert ["Basket('a').add(None).add(Item('y', 2.0))"] in [c.args for c in found]


def test_parametrized_cases_are_seeds_one_per_case(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"tests/test_price.py": (
        "import pytest\n\n"
        "@pytest.mark.parametrize(('total', 'qty'), [(10.0, 4), pytest.param(9, 3, id='nine'), (1, 2, 3)])\n"
        "def test_pairs(total, qty):\n    unit_price(total, qty)\n\n"
        "@pytest.mark.parametrize('qty', [1, 2])\n@pytest.mark.parametrize('total, rounding', [(5.0, 0)])\n"
        "def test_stacked(total, qty, rounding):\n    unit_price(total, qty, rounding)\n\n"
        "@pytest.mark.parametrize('qty', CASES)\ndef test_not_literal(qty):\n    unit_price(1.0, qty)\n")})
    seeds, _ = find_seeds(_function(), repo)
    assert seeds == [["10.0", "4"], ["9", "3"], ["5.0", "1", "0"], ["5.0", "2", "0"]]


def test_names_that_expand_exponentially_are_cut_off(tmp_path: Path) -> None:
    def wide(name: str) -> str:
        return "[" + ", ".join([name] * 300) + "]"

    body = (f"def test_bomb():\n    a = [1, 2, 3]\n    b = {wide('a')}\n    c = {wide('b')}\n    d = {wide('c')}\n"
            "    unit_price(d, 2)\n    unit_price(1.0, 2)\n")
    repo = _repo(tmp_path, {"tests/test_bomb.py": body})
    start = time.perf_counter()
    seeds, _ = find_seeds(_function(), repo)
    assert time.perf_counter() - start < 5
    assert seeds == [["1.0", "2"]]


def test_a_very_long_build_in_steps_is_bounded(tmp_path: Path) -> None:
    body = "def test_long():\n    b = Basket('b')\n" + "    b.add(Item('x', 1.0))\n" * 10_000 + "    b.total()\n"
    repo = _repo(tmp_path, {"tests/test_long.py": body,
                            "tests/test_ok.py": "def test_ok():\n    Basket('ok').add(Item('y', 2.0)).total()\n"})
    start = time.perf_counter()
    seeds, _ = find_seeds(_method(), repo)
    assert time.perf_counter() - start < 5
    assert ["Basket('ok').add(Item('y', 2.0))"] in seeds
    assert all(len(a) <= 2000 for seed in seeds for a in seed)


def test_a_module_level_constant_of_the_test_file_is_a_seed_unless_the_test_rebinds_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {
        "deploy/__init__.py": "",
        "deploy/plan.py": "def replicas(cfg: dict, region: str) -> int:\n"
                          "    return cfg['tiers'][cfg['regions'][region]['tier']]['replicas']\n",
        "tests/test_plan.py": "from deploy.plan import replicas\n\n"
                              "CFG = {'regions': {'eu': {'tier': 'large'}}, 'tiers': {'large': {'replicas': 6}}}\n\n\n"
                              "def test_large():\n    assert replicas(CFG, 'eu') == 6\n\n\n"
                              "def test_local():\n    CFG = {'regions': {}}\n    CFG = {'tiers': {}}\n"
                              "    assert replicas(CFG, 'us')\n",
    })
    target = Target(module="deploy.plan", function="replicas", path="deploy/plan.py", import_root="",
                    params=[Param("cfg", annotation="dict"), Param("region", annotation="str")])
    inputs = test_inputs(target, _diagnosis("KeyError", "'replicas'"), repo)
    args = [c.args for c in inputs]
    assert args[0] == ["{'regions': {'eu': {'tier': 'large'}}, 'tiers': {'large': {'replicas': 6}}}", "'eu'"]
    assert not any("'us'" in a[1] and "tiers" in a[0] and "large" in a[0] for a in args)  # the local CFG is not it
    # the message's key is the one removed first among the nested dict's keys
    assert ["{'regions': {'eu': {'tier': 'large'}}, 'tiers': {'large': {}}}", "'eu'"] in args


def test_a_separator_the_value_holds_is_doubled_to_make_an_empty_field() -> None:
    out = mutate([["'3\\n4'"]], "ValueError", "invalid literal for int() with base 10: ''", {})
    assert ["'3\\n\\n4'"] in out
