"""Mutate generator: bounds, loop conditions, base cases and argument order at the fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew.handoffs import Frame, MappedFrame
from crew.repair.templates import mutate
from crew.repo import GitRepo
from tests.repair.helpers import assert_fixes, by_strategy, crash, line_of, make_repo, result

CODE = '''"""Sequence helpers."""


def pairs(xs):
    out = []
    for i in range(len(xs)):
        out.append(xs[i] + xs[i + 1])
    return out


def scan(xs):
    i = 0
    total = 0
    while i <= len(xs):
        total += xs[i]
        i += 1
    return total


def last(xs):
    return xs[len(xs)]


def drain(stack, limit):
    taken = []
    while len(taken) < limit:
        taken.append(stack.pop())
    return taken


def fact(n):
    return n * fact(n - 1)


def evens(n):
    if n == 0:
        return 0
    return n + evens(n - 2)


def flatten(items):
    """All items, in order."""
    return [items[0]] + flatten(items[1:])


def repeat(text: str, times: int) -> str:
    return text + "-" * times


def banner(title: str, width: int):
    return repeat(width, title)


def same(a: int, b: int) -> int:
    return a - b


def both(x: int, y: int):
    return same(y, x)
'''
SETUP = "from app import seq"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return make_repo(tmp_path_factory.mktemp("mutate"), {"app/__init__.py": "", "app/seq.py": CODE})


def test_range_bound_lowered_for_an_index_past_the_end(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/seq.py", "xs[i] + xs[i + 1]", "IndexError", "list index out of range")
    best = by_strategy(mutate.generate(ctx), "mutate-range-bound")
    assert "for i in range(len(xs) - 1):" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "seq.pairs([1, 2, 3])", ["seq.last.__name__"], SETUP, max_changed=2)
    assert result(repo, best, "seq.pairs([1, 2, 3])", tmp_path, SETUP) == [3, 5]


def test_loop_condition_made_strict(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/seq.py", "total += xs[i]", "IndexError", "list index out of range")
    best = by_strategy(mutate.generate(ctx), "mutate-strict-loop-condition")
    assert "while i < len(xs):" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "seq.scan([1, 2])", ["seq.last.__name__"], SETUP, max_changed=2)
    assert result(repo, best, "seq.scan([1, 2, 4])", tmp_path, SETUP) == 7


def test_index_of_the_last_element(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/seq.py", "xs[len(xs)]", "IndexError", "list index out of range")
    best = by_strategy(mutate.generate(ctx), "mutate-index-last")
    assert_fixes(repo, best, tmp_path, "seq.last([1, 2])", ["seq.scan.__name__"], SETUP, max_changed=2)
    assert result(repo, best, "seq.last([1, 9])", tmp_path, SETUP) == 9


def test_loop_that_empties_its_container(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/seq.py", "stack.pop()", "IndexError", "pop from empty list")
    best = by_strategy(mutate.generate(ctx), "mutate-loop-nonempty")
    assert "while len(taken) < limit and stack:" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "seq.drain([1], 3)", ["seq.drain([1, 2, 3], 2)", "seq.drain([], 0)"], SETUP,
                 max_changed=2)


def test_missing_base_case_returns_the_identity_of_the_combination(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/seq.py", "n * fact(n - 1)", "RecursionError", "maximum recursion depth exceeded")
    best = by_strategy(mutate.generate(ctx), "mutate-base-case")
    assert "return 1" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "seq.fact(4)", ["seq.last.__name__"], SETUP, max_changed=2)
    assert result(repo, best, "seq.fact(5)", tmp_path, SETUP) == 120
    ctx = crash(repo, "app/seq.py", "[items[0]] + flatten", "RecursionError",
                "maximum recursion depth exceeded while calling a Python object")
    best = by_strategy(mutate.generate(ctx), "mutate-base-case")
    assert '"""All items, in order."""\n    if not items:\n        return []' in best.edits[0].updated
    assert result(repo, best, "seq.flatten([1, 2])", tmp_path, SETUP) == [1, 2]


def test_base_case_never_met_becomes_a_bound(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/seq.py", "n + evens(n - 2)", "RecursionError", "maximum recursion depth exceeded")
    best = by_strategy(mutate.generate(ctx), "mutate-base-case-bound")
    assert "if n <= 0:" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "seq.evens(5)", ["seq.evens(4)", "seq.evens(0)"], SETUP, max_changed=2)


def _called_from(ctx: object, repo: GitRepo, marker: str) -> None:
    """Put the repo frame that made the call in front of the fault frame, as a real traceback has it."""
    diagnosis = ctx.diagnosis  # type: ignore[attr-defined]
    line = line_of(repo, "app/seq.py", marker)
    caller = MappedFrame(frame=Frame(file="/app/app/seq.py", line=line, function="caller"), repo_path="app/seq.py")
    index = diagnosis.frames.index(diagnosis.fault_frame)
    diagnosis.frames.insert(index, caller)


def test_arguments_swapped_when_the_annotations_say_so(repo: GitRepo, tmp_path: Path) -> None:
    ctx = crash(repo, "app/seq.py", "return text + ", "TypeError",
                "can't multiply sequence by non-int of type 'str'")
    _called_from(ctx, repo, "repeat(width, title)")
    best = by_strategy(mutate.generate(ctx), "mutate-swap-arguments-text-times")
    assert "return repeat(title, width)" in best.edits[0].updated
    assert_fixes(repo, best, tmp_path, "seq.banner('ab', 2)", ["seq.repeat('x', 3)"], SETUP, max_changed=2)
    assert result(repo, best, "seq.banner('ab', 2)", tmp_path, SETUP) == "ab--"


def test_no_swap_when_the_types_do_not_say_so(repo: GitRepo) -> None:
    ctx = crash(repo, "app/seq.py", "return a - b", "TypeError", "unsupported operand type(s) for -: 'int' and 'str'")
    _called_from(ctx, repo, "same(y, x)")
    assert [c for c in mutate.generate(ctx) if c.strategy.startswith("mutate-swap")] == []
