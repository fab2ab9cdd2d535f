"""Normalised dedup, the evidence ranking, the bound that lets reflection start early, and the
batch's tagged blocks (no sandbox: the Docker tests are in test_search_batch_docker.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib

from crew.handoffs import ValidationReport
from crew.repair import batch
from crew.repair.candidates import Candidate, SourceEdit
from crew.repair.search import dedup, evidence, is_noop, normalised_size, order_key, provably_first, rank, verdict

ORIGINAL = "def f(a, b):\n    return a / b\n"
GUARD = "def f(a, b):\n    if b == 0:\n        return 0.0\n    return a / b\n"


def cand(name: str, updated: str, score: float, path: str = "m.py") -> Candidate:
    return Candidate(name, (SourceEdit(path, ORIGINAL, updated),), "r", score)


def report(fixed: bool = True, newly: int = 0, changed: int = 0, inputs: int = 9) -> ValidationReport:
    return ValidationReport(backend="fake", reproduces=True, fixed=fixed, no_regressions=not newly,
                            newly_failing=[f"tests/t.py::t{i}" for i in range(newly)],
                            differential_inputs=inputs, differential_mismatches=[f"f({i})" for i in range(changed)],
                            passed=fixed and not newly and not changed)


def test_candidates_that_differ_only_in_comments_and_layout_are_one_keeping_the_higher_prior() -> None:
    same = "def f(a, b):\n    # the divisor may be zero\n    if b == 0:   \n\n        return 0.0\n    return a / b\n"
    also = "def f(a,b):\n    if (b == 0):\n        return 0.0\n    return (a / b)\n"
    other = "def f(a, b):\n    if b == 0:\n        return 0\n    return a / b\n"  # 0, not 0.0: another program
    found = dedup([cand("low", GUARD, 0.4), cand("high", same, 0.9), cand("paren", also, 0.5),
                   cand("int", other, 0.3)])
    assert [c.strategy for c in found] == ["high", "int"]


def test_the_same_text_in_another_file_is_another_candidate() -> None:
    assert len(dedup([cand("a", GUARD, 0.5), cand("b", GUARD, 0.5, path="n.py")])) == 2


def test_a_file_that_is_not_python_is_compared_by_its_lines() -> None:
    one = Candidate("a", (SourceEdit("k8s.yaml", "x: 1\n", "x: 2\n"),), "r", 0.5)
    two = Candidate("b", (SourceEdit("k8s.yaml", "x: 1\n", "x: 2   \n\n"),), "r", 0.6)
    three = Candidate("c", (SourceEdit("k8s.yaml", "x: 1\n", "x:  2\n"),), "r", 0.6)
    assert [c.strategy for c in dedup([one, two, three])] == ["b", "c"]


def test_a_comment_only_change_is_a_no_op() -> None:
    assert is_noop(cand("c", "def f(a, b):  # b may be 0\n    return a / b\n", 0.9))
    assert not is_noop(cand("g", GUARD, 0.9))


def test_size_is_counted_after_normalisation() -> None:
    assert normalised_size(cand("g", GUARD, 0.5)) == 2  # the two lines of the guard
    noisy = GUARD.replace("if b == 0:", "if b == 0:  # a comment\n\n")
    assert normalised_size(cand("n", noisy, 0.5)) == 2


def test_ranking_follows_the_evidence_order_then_size_then_prior() -> None:
    big = GUARD.replace("return 0.0", "x = 0.0\n        return x")
    pairs = [
        (cand("prior-only", GUARD, 0.99), report(fixed=False)),  # the regression test still fails
        (cand("newly", GUARD, 0.9), report(newly=1)),
        (cand("changed-2", GUARD, 0.9), report(changed=2)),
        (cand("changed-1", GUARD, 0.8), report(changed=1)),
        (cand("clean-big", big, 0.95), report()),
        (cand("clean-small-low", GUARD, 0.5), report()),
        (cand("clean-small-high", GUARD, 0.6), report()),
    ]
    assert [c.strategy for c, _ in rank(pairs)] == [
        "clean-small-high", "clean-small-low", "clean-big", "changed-1", "changed-2", "newly", "prior-only"]


def test_a_clean_candidate_first_in_validation_order_is_provably_first() -> None:
    best = (cand("g", GUARD, 0.6), report())
    bigger = cand("big", GUARD.replace("return 0.0", "x = 0.0\n        return x"), 0.99)
    same_size_lower = cand("low", GUARD.replace("0.0", "0.5"), 0.5)
    same_size_higher = cand("high", GUARD.replace("0.0", "0.5"), 0.7)
    assert order_key(bigger) > order_key(best[0])
    assert provably_first(best, [bigger, same_size_lower])
    assert not provably_first(best, [same_size_higher])  # it might come back clean, and wins on prior
    assert not provably_first((best[0], report(changed=1)), [bigger])  # not clean: a later one may be


def test_verdicts_name_the_stage() -> None:
    assert verdict(report(changed=2)) == "differential: 2 of 9 outputs changed"
    assert verdict(report(newly=1)) == "newly failing: tests/t.py::t0"
    assert verdict(report()) == "passed"
    failing = report(fixed=False).model_copy(update={"failure": "the regression test still fails: X"})
    assert verdict(failing) == "the regression test still fails: X"
    assert evidence(cand("g", GUARD, 0.5), report()).clean


def _block(key: str, payload: object) -> str:
    data = zlib.compress(json.dumps(payload).encode())
    tag = hmac.new(bytes.fromhex(key), data, hashlib.sha256).hexdigest()
    return f"\n{batch.BEGIN}\n{tag} {base64.b64encode(data).decode()}\n{batch.END}\n"


def test_only_blocks_tagged_under_the_batch_key_are_read() -> None:
    key, _ = batch.new_keys(2)
    other, _ = batch.new_keys(1)
    step = {"exit_code": 0, "timed_out": False, "seconds": 1.5, "stdout": "", "stderr": "", "junit": None}
    forged = _block(other, {"index": 1, "steps": {"test": step}})
    real = _block(key, {"index": 0, "steps": {"test": step}})
    out_of_range = _block(key, {"index": 7, "steps": {"test": step}})
    found = batch.parse_blocks("noise" + forged + real + out_of_range + "<<<HEALCREW-BATCH\nzz !!\n", key, 2)
    assert list(found) == [0]
    assert found[0].steps is not None and found[0].steps["test"].seconds == 1.5
    assert found[0].copy == batch.copy_of(0)


def test_a_block_with_fields_of_the_wrong_type_drops_those_fields() -> None:
    key, _ = batch.new_keys(1)
    bad = {"exit_code": "0", "seconds": 1.0}
    text = _block(key, {"index": 0, "steps": {"test": bad, "suite": {"exit_code": 1, "seconds": float("inf")}}})
    found = batch.parse_blocks(text, key, 1)
    assert found[0].steps == {}


def test_a_block_that_inflates_beyond_the_cap_is_refused() -> None:
    key, _ = batch.new_keys(1)
    data = zlib.compress(b"[" + b" " * (batch.MAX_BLOCK + 10) + b"]")
    tag = hmac.new(bytes.fromhex(key), data, hashlib.sha256).hexdigest()
    text = f"{batch.BEGIN}\n{tag} {base64.b64encode(data).decode()}\n{batch.END}"
    assert batch.parse_blocks(text, key, 1) == {}
