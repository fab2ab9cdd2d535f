"""Crash reproduction: input binding from logs, typed search, the probe, the generated test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Diagnosis, Frame, Traceback
from crew.payloads import dicts_in
from crew.repair import regression_test as rt
from crew.repair import reproduce as r
from crew.repo import GitRepo

PRICING = '''"""Pricing."""


def calc(p, d):
    """Price after the divisor d (1.0 = no discount)."""
    return p / d


def parse_qty(value: str) -> int:
    return int(value)
'''
MAIN = '''from shop.pricing import calc


def quote(item):
    return calc(item["price"], item["discount"])
'''


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    root = tmp_path_factory.mktemp("repo")
    (root / "src" / "shop").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "shop" / "__init__.py").write_text("")
    (root / "src" / "shop" / "pricing.py").write_text(PRICING)
    (root / "src" / "shop" / "main.py").write_text(MAIN)
    (root / "tests" / "test_pricing.py").write_text(
        "from shop.pricing import calc\n\ndef test_calc():\n    assert calc(10, 2) == 5\n"
    )
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init"]):
        subprocess.run(["git", *cmd], cwd=root, check=True)
    return GitRepo(root)


def _evidence(context: list[str]) -> CrashEvidence:
    frames = [
        Frame(file="/app/src/shop/main.py", line=5, function="quote",
              code='return calc(item["price"], item["discount"])'),
        Frame(file="/app/src/shop/pricing.py", line=6, function="calc", code="return p / d"),
    ]
    tb = Traceback(exc_type="ZeroDivisionError", exc_message="float division by zero", frames=frames)
    return CrashEvidence(
        incident_id="inc", source="t", tracebacks=[tb], context_lines=context,
        groups=[CrashGroup(signature="s", exc_type="ZeroDivisionError", exc_message="", count=1, example=0)],
    )


def _run_probe(spec: dict[str, object], cwd: Path, tmp_path: Path) -> list[r.ProbeResult]:
    """The probe as validation runs it (isolated interpreter, a key file it deletes), on the host."""
    key = r.new_probe_key()
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "probe.key").write_text(key)
    proc = subprocess.run([sys.executable, "-I", "-S", str(r.PROBE_SCRIPT), str(tmp_path / "spec.json"),
                           str(tmp_path / "probe.key")], capture_output=True, text=True, cwd=cwd, timeout=60)
    assert not (tmp_path / "probe.key").exists()
    results = r.parse_probe_output(proc.stdout, key)
    assert results, proc.stderr
    return results


def test_module_for_follows_init_files_and_src_layout(repo: GitRepo) -> None:
    tracked = set(repo.tracked_files)
    assert r.module_for("src/shop/pricing.py", tracked) == ("src", "shop.pricing")
    assert r.module_for("tests/test_pricing.py", tracked) == ("tests", "test_pricing")
    assert r.module_for("tool.py", {"tool.py"}) == ("", "tool")


def test_dicts_are_found_in_json_and_python_reprs() -> None:
    assert dicts_in('INFO quote request: {"items": [{"price": 12.5, "discount": 0.0}]} end') == [
        {"items": [{"price": 12.5, "discount": 0.0}]}
    ]
    assert dicts_in("payload={'customerId': 7, 'total': 3}") == [{"customerId": 7, "total": 3}]
    assert dicts_in("no data here") == []


def test_log_input_binds_call_site_arguments_to_the_logged_body(repo: GitRepo) -> None:
    ev = _evidence(['quote request: {"items": [{"sku": "MUG-0", "price": 12.5, "discount": 0.0}]}'])
    d = diagnose(ev, repo)
    target = r.find_target(d, repo)
    assert target is not None
    assert (target.module, target.function, target.import_root) == ("shop.pricing", "calc", "src")
    inputs = r.candidate_inputs(target, d, ev, repo)
    assert (inputs[0].args, inputs[0].source) == (["12.5", "0.0"], "log")
    assert all(len(cand.args) == 2 for cand in inputs)
    assert any(cand.source == "search" for cand in inputs)


def test_probe_finds_the_crash_in_the_fault_frame_and_the_test_reproduces(repo: GitRepo, tmp_path: Path) -> None:
    ev = _evidence([])
    d = diagnose(ev, repo)
    target = r.find_target(d, repo)
    assert target is not None
    inputs = r.candidate_inputs(target, d, ev, repo)
    spec = r.probe_spec(target, [c.args for c in inputs], d)
    spec["sys_path"] = [str(repo.path / "src")]
    results = _run_probe(spec, repo.path, tmp_path)
    rep = r.pick_reproduction(results, inputs, d)
    assert rep.args is not None and float(rep.args[1]) == 0
    assert "float" in rep.normal_types and rep.normal_inputs
    test = rt.render_test(target, rep, d, "pricing-zero-division", rt.test_path(repo, "pricing-zero-division"))
    assert test.path == "tests/test_healcrew_pricing_zero_division.py"
    assert "math.isfinite(result)" in test.code and f"calc({', '.join(rep.args)})" in test.code
    (repo.path / test.path).write_text(test.code)
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.path],
                             capture_output=True, text=True, cwd=repo.path, timeout=120)
    finally:
        (repo.path / test.path).unlink()
    assert run.returncode == 1 and "ZeroDivisionError" in run.stdout


def test_message_values_are_quoted_literals() -> None:
    assert r.message_values("invalid literal for int() with base 10: ''") == ["''"]
    assert r.message_values("KeyError 'customer_id'") == ["'customer_id'"]


CART = '''"""Carts."""
from dataclasses import dataclass, field


@dataclass
class Cart:
    owner: str
    items: list = field(default_factory=list)

    def average_price(self) -> float:
        return sum(self.items) / len(self.items)


async def fetch_ratio(hits: int, total: int) -> float:
    return hits / total
'''


def _repo_with(tmp_path: Path, source: str) -> GitRepo:
    root = tmp_path / "svc"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "cart.py").write_text(source)
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "i"]):
        subprocess.run(["git", *cmd], cwd=root, check=True)
    return GitRepo(root)


def _probe_and_test(repo: GitRepo, frames: list[Frame], tmp_path: Path) -> tuple[r.Target, str]:
    tb = Traceback(exc_type="ZeroDivisionError", exc_message="division by zero", frames=frames)
    ev = CrashEvidence(incident_id="i", source="t", tracebacks=[tb],
                       groups=[CrashGroup(signature="s", exc_type="ZeroDivisionError", exc_message="", count=1,
                                          example=0)])
    d = diagnose(ev, repo)
    target = r.find_target(d, repo)
    assert target is not None
    inputs = r.candidate_inputs(target, d, ev, repo)
    spec = r.probe_spec(target, [c.args for c in inputs], d)
    results = _run_probe(spec, repo.path, tmp_path)
    rep = r.pick_reproduction(results, inputs, d)
    assert rep.args is not None
    test = rt.render_test(target, rep, d, "i", rt.test_path(repo, "i"))
    (repo.path / test.path).write_text(test.code)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test.path],
                         capture_output=True, text=True, cwd=repo.path, timeout=120)
    assert run.returncode == 1 and "ZeroDivisionError" in run.stdout, run.stdout
    return target, test.code


def test_a_method_is_called_on_an_instance_built_from_its_fields(tmp_path: Path) -> None:
    repo = _repo_with(tmp_path, CART)
    frames = [Frame(file="/app/shop/cart.py", line=11, function="average_price",
                    code="return sum(self.items) / len(self.items)")]
    target, code = _probe_and_test(repo, frames, tmp_path)
    assert target.function == "Cart.average_price"
    assert "from shop.cart import Cart" in code and ".average_price()" in code


def test_a_coroutine_is_run_to_completion(tmp_path: Path) -> None:
    repo = _repo_with(tmp_path, CART)
    frames = [Frame(file="/app/shop/cart.py", line=15, function="fetch_ratio", code="return hits / total")]
    target, code = _probe_and_test(repo, frames, tmp_path)
    assert target.is_async and "asyncio.run(fetch_ratio(" in code


def _diagnosis_for(repo: GitRepo, exc_type: str, message: str, frames: list[Frame]) -> Diagnosis:
    tb = Traceback(exc_type=exc_type, exc_message=message, frames=frames)
    ev = CrashEvidence(incident_id="i", source="t", tracebacks=[tb],
                       groups=[CrashGroup(signature="s", exc_type=exc_type, exc_message="", count=1, example=0)])
    return diagnose(ev, repo)


def test_pythons_did_you_mean_suggestion_does_not_count_against_the_message(tmp_path: Path) -> None:
    repo = _repo_with(tmp_path, "import math\n\n\ndef diagonal(w: float) -> float:\n    return math.sqroot(w)\n")
    d = _diagnosis_for(repo, "AttributeError", "module 'math' has no attribute 'sqroot'. Did you mean: 'sqrt'?",
                       [Frame(file="/app/shop/cart.py", line=5, function="diagonal", code="return math.sqroot(w)")])
    entry = r.ProbeResult(index=0, error="AttributeError", message="module 'math' has no attribute 'sqroot'",
                          frame=r.ProbeFrame(file="/w/shop/cart.py", line=5, function="diagonal"))
    assert r.message_fitness(entry, d) == 2
    assert r.pick_reproduction([entry], [r.CandidateInput(["1.0"], "search")], d).args == ["1.0"]
    # another attribute is another crash (issue 9): it is not a reproduction at all
    other = entry.model_copy(update={"index": 1, "message": "module 'math' has no attribute 'floor2'"})
    assert r.message_fitness(other, d) == 0
    assert r.pick_reproduction([other], [r.CandidateInput(["1.0"], "search")] * 2, d).args is None


def test_a_crash_inside_a_comprehension_matches_its_own_frame(tmp_path: Path) -> None:
    source = "def normalize(scores: list) -> list:\n    top = max(scores, default=0)\n" \
             "    return [s / top for s in scores]\n"
    repo = _repo_with(tmp_path, source)
    d = _diagnosis_for(repo, "ZeroDivisionError", "float division by zero", [
        Frame(file="/app/shop/cart.py", line=3, function="normalize", code="return [s / top for s in scores]"),
        Frame(file="/app/shop/cart.py", line=3, function="<listcomp>", code="return [s / top for s in scores]"),
    ])
    hit = r.ProbeResult(index=0, error="ZeroDivisionError", message="float division by zero",
                        frame=r.ProbeFrame(file="/w/shop/cart.py", line=3, function="<listcomp>"))
    assert r.matches_fault(hit, d)
    elsewhere = hit.model_copy(update={"frame": r.ProbeFrame(file="/w/shop/cart.py", line=9, function="unrelated")})
    assert not r.matches_fault(elsewhere, d)


def test_payloads_inside_json_log_records_are_found() -> None:
    line = '{"ts": "2026-11-20T02:00:01Z", "msg": "vote payload {\\"up\\": 0, \\"down\\": 0}"}'
    found = dicts_in(line)
    assert {"up": 0, "down": 0} in found and found[-1]["ts"] == "2026-11-20T02:00:01Z"


def test_suite_command_always_yields_a_junit_report() -> None:
    from crew.validate import JUNIT_PATH, _suite_command

    assert _suite_command("python -m pytest -q tests")[:5] == ["python", "-m", "pytest", "-q", "tests"]
    assert _suite_command("python -m unittest discover")[:3] == ["python", "-m", "pytest"]
    assert _suite_command("make test 'unbalanced")[:3] == ["python", "-m", "pytest"]
    assert all(cmd[-1] == f"--junitxml={JUNIT_PATH}" for cmd in (_suite_command("pytest"), _suite_command("")))
