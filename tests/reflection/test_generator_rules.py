"""Reflection that knows the generators: each rule fires on a crafted proposal and stays quiet on a clean one."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crew.agents.reflection import ReflectionPolicy, critique, rank_penalty
from crew.handoffs import (
    CodeContext,
    Critique,
    Diagnosis,
    Frame,
    MappedFrame,
    RegressionTest,
    RepairProposal,
    RootCause,
    SuspectCommit,
    ValidationReport,
)
from crew.repair.candidates import SourceEdit
from crew.repair.diffs import unified_diff
from crew.repo import GitRepo

PATH = "app/pricing.py"
TEST = RegressionTest(path="tests/test_regression_inc1.py", call="f(1)", input_source="log",
                      code="from app.pricing import f\n\n\ndef test_f():\n    assert f(1) == 1\n")


def _diag(source: str, function: str, fault_line: int, *, exc: str = "ZeroDivisionError",
          message: str = "division by zero", root: RootCause = RootCause.DIVISION_BY_ZERO,
          culprit: str | None = None, suspects: list[SuspectCommit] | None = None) -> Diagnosis:
    lines = source.splitlines()
    start = next(i for i, ln in enumerate(lines, 1) if ln.lstrip().startswith(f"def {function}("))
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "\t"))):
        end += 1
    fault = MappedFrame(frame=Frame(file=f"/srv/{PATH}", line=fault_line, function=function,
                                    code=lines[fault_line - 1].strip()), repo_path=PATH)
    return Diagnosis(
        incident_id="inc1", exc_type=exc, exc_message=message, root_cause=root, frames=[fault], fault_frame=fault,
        code_context=CodeContext(path=PATH, function=function, start_line=start, end_line=end, fault_line=fault_line,
                                 lines=lines[start - 1:end]),
        suspect_commits=suspects or [], culprit=culprit, hypothesis="h", confidence=0.9,
    )


def _proposal(before: str, after: str, strategy: str, rationale: str = "r", attempt: int = 1) -> RepairProposal:
    return RepairProposal(incident_id="inc1", attempt=attempt, strategy=strategy,
                          diff=unified_diff([SourceEdit(PATH, before, after)]), touched_files=[PATH], test=TEST,
                          rationale=rationale)


def _passed() -> ValidationReport:
    return ValidationReport(backend="docker", reproduces=True, fixed=True, no_regressions=True, passed=True,
                            differential_ok=True)


def _critique(p: RepairProposal, d: Diagnosis, repo: GitRepo | None = None, attempt: int = 1) -> Critique:
    return critique(p, _passed(), d, ReflectionPolicy(), attempt, 3, repo=repo)


def _rules(c: Critique) -> dict[str, str]:
    return {f.rule: f.severity for f in c.findings}


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com",
                           "-c", "commit.gpgsign=false", *args], cwd=cwd, capture_output=True, text=True,
                          check=True, timeout=30)
    return proc.stdout.strip()


def _repo(tmp_path: Path, commits: list[tuple[str, dict[str, str]]]) -> tuple[GitRepo, list[str]]:
    """A git repository with one commit per (message, files) and the shas, oldest first."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    shas = []
    for message, files in commits:
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
            _git(root, "add", rel)
        _git(root, "commit", "-q", "-m", message)
        shas.append(_git(root, "rev-parse", "HEAD"))
    return GitRepo(root), shas


def _suspect(sha: str, summary: str) -> SuspectCommit:
    return SuspectCommit(sha=sha, author="Dev <dev@example.com>", date=datetime(2026, 1, 2, tzinfo=UTC),
                         summary=summary, reason="changed the fault function")


# --------------------------------------------------------------------------- revert

BEFORE = '''def price(amount, qty):
    return amount / qty
'''
TIERED = '''def price(amount, qty, tier="basic"):
    if tier == "gold":
        amount = apply_discount(amount)
    return amount / (qty - 1)
'''
TIDIED = '''def price(amount, qty):
    return amount / (qty - 1)
'''


def _revert_rationale(sha: str, subject: str) -> str:
    return f"Undo the hunk of commit {sha[:12]} ({subject}) at the fault in `price`: the lines as production ran."


def test_a_revert_that_removes_a_feature_is_ranked_down_with_its_reason() -> None:
    sha = "a" * 40
    d = _diag(TIERED, "price", 4, suspects=[_suspect(sha, "Add tiered pricing")])
    c = _critique(_proposal(TIERED, BEFORE, "revert-suspect-hunk", _revert_rationale(sha, "Add tiered pricing")), d)
    assert _rules(c)["revert-intended-change"] == "warning"
    msg = next(f.message for f in c.findings if f.rule == "revert-intended-change")
    assert "aaaaaaaaaaaa" in msg and "Add tiered pricing" in msg
    assert "new parameter `tier`" in msg and "new branch" in msg and "`apply_discount()`" in msg
    assert c.verdict == "accept"  # a warning ranks down, it does not decline
    assert rank_penalty(c) == 1


def test_a_revert_whose_hunk_shows_a_feature_is_flagged_even_with_a_plain_message() -> None:
    sha = "b" * 40
    d = _diag(TIERED, "price", 4, suspects=[_suspect(sha, "Pricing changes")])
    c = _critique(_proposal(TIERED, BEFORE, "revert-suspect-hunk", _revert_rationale(sha, "Pricing changes")), d)
    msg = next(f.message for f in c.findings if f.rule == "revert-intended-change")
    assert "says it adds" not in msg and "new parameter `tier`" in msg


def test_a_revert_of_the_crash_line_only_is_quiet() -> None:
    sha = "c" * 40
    d = _diag(TIDIED, "price", 2, suspects=[_suspect(sha, "Simplify the price computation")])
    c = _critique(_proposal(TIDIED, BEFORE, "revert-suspect-hunk",
                            _revert_rationale(sha, "Simplify the price computation")), d)
    assert c.verdict == "accept"
    assert c.findings == []
    assert rank_penalty(c) == 0


def test_the_revert_rule_only_judges_reverts() -> None:
    d = _diag(TIERED, "price", 4, suspects=[_suspect("a" * 40, "Add tiered pricing")])
    c = _critique(_proposal(TIERED, BEFORE, "guard-zero-divisor-qty"), d)
    assert "revert-intended-change" not in _rules(c)


def test_a_revert_that_removes_what_the_tests_use_is_declined(tmp_path: Path) -> None:
    repo, shas = _repo(tmp_path, [
        ("Start", {PATH: BEFORE, "app/__init__.py": ""}),
        ("Add tiered pricing", {PATH: TIERED, "app/tiers.py": "GOLD = 0.9\n",
                                "tests/test_pricing.py": "from app.pricing import price\n\n\ndef test_gold():\n"
                                                         "    assert price(10, 2, tier='gold')\n"}),
    ])
    sha = shas[1]
    d = _diag(TIERED, "price", 4, suspects=[_suspect(sha, "Add tiered pricing")])
    p = _proposal(TIERED, BEFORE, "revert-suspect-hunk", _revert_rationale(sha, "Add tiered pricing"))
    c = _critique(p, d, repo)
    found = _rules(c)
    assert found["revert-tested-change"] == "blocker"
    assert found["revert-partial-commit"] == "warning"
    msgs = {f.rule: f.message for f in c.findings}
    assert "`tier` (tests/test_pricing.py)" in msgs["revert-tested-change"]
    assert "app/tiers.py" in msgs["revert-partial-commit"] and "tests/test_pricing.py" in msgs["revert-partial-commit"]
    assert c.verdict == "revise"
    # the decline keeps naming the real reason, up to the last attempt
    last = _critique(p.model_copy(update={"attempt": 3}), d, repo, attempt=3)
    assert last.verdict == "reject"
    assert "tested change" in last.feedback


def test_a_revert_of_a_single_file_untested_commit_is_quiet_with_the_repo(tmp_path: Path) -> None:
    repo, shas = _repo(tmp_path, [
        ("Start", {PATH: BEFORE, "tests/test_other.py": "def test_x():\n    assert 1\n"}),
        ("Simplify the price computation", {PATH: TIDIED}),
    ])
    d = _diag(TIDIED, "price", 2, suspects=[_suspect(shas[1], "Simplify the price computation")])
    c = _critique(_proposal(TIDIED, BEFORE, "revert-suspect-hunk",
                            _revert_rationale(shas[1], "Simplify the price computation")), d, repo)
    assert c.findings == [] and c.verdict == "accept"


# --------------------------------------------------------------------------- guard

DOCUMENTED = '''def unit_price(price, qty):
    """Price per unit.

    Raises ZeroDivisionError when qty is zero: an order without items is a bug upstream.
    """
    return price / qty
'''
PLAIN = '''def unit_price(price, qty):
    return price / qty
'''
STRICT_ELSEWHERE = '''def unit_price(price, qty):
    if price < 0:
        raise ValueError("negative price")
    return price / qty
'''


def _guarded(source: str) -> str:
    guard = "    if qty == 0:\n        return price\n"
    return source.replace("    return price / qty\n", guard + "    return price / qty\n")


def _line(source: str, text: str) -> int:
    return next(i for i, ln in enumerate(source.splitlines(), 1) if ln.strip() == text)


def test_a_guard_against_a_docstring_that_says_raise_is_declined() -> None:
    d = _diag(DOCUMENTED, "unit_price", _line(DOCUMENTED, "return price / qty"))
    c = _critique(_proposal(DOCUMENTED, _guarded(DOCUMENTED), "guard-zero-divisor-qty"), d)
    assert _rules(c)["guard-contract-raises"] == "blocker"
    assert c.verdict == "revise"
    assert "docstring says it raises ZeroDivisionError" in c.feedback


def test_a_guard_that_raises_a_clear_error_is_quiet_under_the_same_docstring() -> None:
    d = _diag(DOCUMENTED, "unit_price", _line(DOCUMENTED, "return price / qty"))
    guard = "    if qty == 0:\n        raise ZeroDivisionError('no items')\n"
    raising = DOCUMENTED.replace("    return price / qty\n", guard + "    return price / qty\n")
    c = _critique(_proposal(DOCUMENTED, raising, "guard-zero-divisor-qty"), d)
    assert "guard-contract-raises" not in _rules(c)


def test_a_guard_in_a_function_that_raises_for_other_bad_inputs_is_ranked_down() -> None:
    d = _diag(STRICT_ELSEWHERE, "unit_price", 4)
    c = _critique(_proposal(STRICT_ELSEWHERE, _guarded(STRICT_ELSEWHERE), "guard-zero-divisor-qty"), d)
    assert _rules(c) == {"guard-contract-raises": "warning"}
    assert "raises ValueError for other bad inputs" in c.findings[0].message
    assert c.verdict == "accept" and rank_penalty(c) == 1


def test_a_guard_without_a_raising_contract_is_quiet() -> None:
    d = _diag(PLAIN, "unit_price", 2)
    c = _critique(_proposal(PLAIN, _guarded(PLAIN), "guard-zero-divisor-qty"), d)
    assert c.findings == [] and c.verdict == "accept"


@pytest.mark.parametrize("caller", [
    "from app.pricing import unit_price\n\n\ndef show(p, q):\n    try:\n        return unit_price(p, q)\n"
    "    except ArithmeticError:\n        return 'n/a'\n",
    "import pytest\n\nfrom app.pricing import unit_price\n\n\ndef test_zero():\n"
    "    with pytest.raises(ZeroDivisionError):\n        unit_price(1, 0)\n",
])
def test_a_guard_where_a_caller_or_test_expects_the_raise_is_declined(tmp_path: Path, caller: str) -> None:
    where = "tests/test_units.py" if "pytest" in caller else "app/view.py"
    repo, _ = _repo(tmp_path, [("Start", {PATH: PLAIN, where: caller})])
    d = _diag(PLAIN, "unit_price", 2)
    c = _critique(_proposal(PLAIN, _guarded(PLAIN), "guard-zero-divisor-qty"), d, repo)
    assert _rules(c)["guard-contract-raises"] == "blocker"
    assert f"{where}:" in c.findings[0].message and "expect `unit_price` to raise" in c.findings[0].message


def test_callers_that_catch_another_exception_do_not_count(tmp_path: Path) -> None:
    caller = ("from app.pricing import unit_price\n\n\ndef show(p, q):\n    try:\n        return unit_price(p, q)\n"
              "    except KeyError:\n        return 'n/a'\n")
    repo, _ = _repo(tmp_path, [("Start", {PATH: PLAIN, "app/view.py": caller})])
    c = _critique(_proposal(PLAIN, _guarded(PLAIN), "guard-zero-divisor-qty"), _diag(PLAIN, "unit_price", 2), repo)
    assert c.findings == []


NAMED = '''def greet(customer):
    return "Hello " + customer.name
'''


def _none_diag() -> Diagnosis:
    return _diag(NAMED, "greet", 2, exc="AttributeError", message="'NoneType' object has no attribute 'name'",
                 root=RootCause.NONE_DEREFERENCE, culprit="customer")


@pytest.mark.parametrize("guard", ["    if not customer:\n        return ''\n",
                                   "    customer = customer or Guest()\n"])
def test_a_none_guard_that_swallows_every_falsy_value_is_ranked_down(guard: str) -> None:
    after = NAMED.replace("    return \"Hello", guard + "    return \"Hello")
    c = _critique(_proposal(NAMED, after, "guard-none-return"), _none_diag())
    assert _rules(c)["guard-falsy"] == "warning"
    assert "customer is None" in c.feedback or c.verdict == "accept"
    assert "falsy `customer`" in next(f.message for f in c.findings if f.rule == "guard-falsy")


def test_a_none_guard_that_tests_is_none_is_quiet() -> None:
    after = NAMED.replace("    return \"Hello", "    if customer is None:\n        return ''\n    return \"Hello")
    c = _critique(_proposal(NAMED, after, "guard-none-return"), _none_diag())
    assert "guard-falsy" not in _rules(c)


# --------------------------------------------------------------------------- coercion

QUANTITY = '''def quantity(row):
    return int(row["qty"])
'''
TOLERANT = QUANTITY.replace('    return int(row["qty"])\n',
                            '    text = str(row["qty"]).strip()\n    return int(text) if text.isdigit() else 0\n')


def _parse_diag(source: str, function: str, message: str) -> Diagnosis:
    return _diag(source, function, 2, exc="ValueError", message=message, root=RootCause.VALUE_PARSE_ERROR)


def test_a_coercion_of_text_that_is_no_number_is_declined() -> None:
    d = _parse_diag(QUANTITY, "quantity", "invalid literal for int() with base 10: 'N/A'")
    c = _critique(_proposal(QUANTITY, TOLERANT, "coerce-int-default"), d)
    assert _rules(c)["coerce-data-error"] == "blocker"
    assert "'N/A' is no number or date" in c.feedback
    assert c.verdict == "revise"


@pytest.mark.parametrize("message", [
    "could not convert string to float: 'unknown'",
    "time data 'yesterday' does not match format '%Y-%m-%d'",
    "Invalid isoformat string: 'soon'",
])
def test_other_conversions_quote_the_text_too(message: str) -> None:
    c = _critique(_proposal(QUANTITY, TOLERANT, "parse-tolerant-number"), _parse_diag(QUANTITY, "quantity", message))
    assert _rules(c)["coerce-data-error"] == "blocker"


def test_a_coercion_of_a_number_in_another_spelling_is_quiet() -> None:
    d = _parse_diag(QUANTITY, "quantity", "invalid literal for int() with base 10: ' 12 '")
    c = _critique(_proposal(QUANTITY, TOLERANT, "coerce-int-strip"), d)
    assert c.findings == []


def test_the_coercion_rules_do_not_judge_a_guard() -> None:
    d = _parse_diag(QUANTITY, "quantity", "invalid literal for int() with base 10: 'N/A'")
    assert "coerce-data-error" not in _rules(_critique(_proposal(QUANTITY, TOLERANT, "guard-empty-qty"), d))


@pytest.mark.parametrize(("source", "function"), [
    (QUANTITY.replace("def quantity(", "def validate_quantity("), "validate_quantity"),
    (QUANTITY.replace("def quantity(row):\n", 'def quantity(row):\n    """Parse the quantity strictly."""\n'),
     "quantity"),
])
def test_a_coercion_inside_a_validation_function_is_declined(source: str, function: str) -> None:
    line = _line(source, 'return int(row["qty"])')
    after = source.replace('    return int(row["qty"])\n',
                           '    text = str(row["qty"]).strip()\n    return int(text) if text.isdigit() else 0\n')
    d = _diag(source, function, line, exc="ValueError", message="invalid literal for int() with base 10: ' 12 '",
              root=RootCause.VALUE_PARSE_ERROR)
    c = _critique(_proposal(source, after, "coerce-int-strip"), d)
    assert _rules(c)["coerce-in-validator"] == "blocker"
    assert f"`{function}`, a validation function" in c.findings[0].message


# --------------------------------------------------------------------------- with the real diagnosis and generator


def test_the_real_revert_candidate_is_judged_with_its_commit(tmp_path: Path) -> None:
    from crew.repair.templates import revert
    from tests.repair.helpers import crash

    tests = "from app.pricing import price\n\n\ndef test_gold():\n    assert price(10, 3, tier='gold')\n"
    repo, shas = _repo(tmp_path, [
        ("Start", {PATH: BEFORE, "app/__init__.py": "", "tests/test_other.py": "def test_x():\n    assert 1\n"}),
        ("Add tiered pricing", {PATH: TIERED, "app/tiers.py": "GOLD = 0.9\n", "tests/test_pricing.py": tests}),
    ])
    ctx = crash(repo, PATH, "return amount / (qty - 1)", "ZeroDivisionError", "division by zero")
    cand = next(c for c in revert.generate(ctx) if c.strategy == "revert-suspect-hunk")
    p = RepairProposal(incident_id="inc1", attempt=1, strategy=cand.strategy, diff=unified_diff(cand.edits),
                       touched_files=cand.touched_files, test=TEST, rationale=cand.rationale)
    c = critique(p, _passed(), ctx.diagnosis, ReflectionPolicy(), 1, 3, repo=repo)
    msgs = {f.rule: f.message for f in c.findings}
    assert shas[1][:12] in msgs["revert-intended-change"] and "Add tiered pricing" in msgs["revert-intended-change"]
    assert "revert-tested-change" in msgs and "revert-partial-commit" in msgs
    assert c.verdict == "revise"


def test_a_name_the_file_still_uses_is_not_a_tested_change(tmp_path: Path) -> None:
    helper = "def rate(x):\n    return x\n\n\ndef twice(x):\n    return rate(x) * 2\n\n\n"
    before = helper + "def price(amount, qty):\n    return amount / qty\n"
    after = helper + "def price(amount, qty):\n    total = rate(amount)\n    return total / (qty - 1)\n"
    test = "from app.pricing import rate\n\n\ndef test_rate():\n    assert rate(2) == 2\n"
    repo, shas = _repo(tmp_path, [("Start", {PATH: before, "tests/test_rate.py": test}),
                                  ("Simplify the price computation", {PATH: after})])
    d = _diag(after, "price", _line(after, "return total / (qty - 1)"),
              suspects=[_suspect(shas[1], "Simplify the price computation")])
    p = _proposal(after, before, "revert-suspect-hunk", _revert_rationale(shas[1], "Simplify the price computation"))
    found = _rules(_critique(p, d, repo))
    assert "revert-tested-change" not in found  # `rate` stays in the file; `total` is in no test


def test_reading_the_reverted_commit_runs_no_repo_configured_command(tmp_path: Path) -> None:
    from tests.security.test_git_config import APP, hostile_repo

    root, marker = hostile_repo(tmp_path)
    repo = GitRepo(root)
    sha = _git(root, "rev-parse", "HEAD")
    after = APP + "\n# second\n"
    d = _diag(after, "div", 2, suspects=[_suspect(sha, "second")])
    p = RepairProposal(incident_id="inc1", attempt=1, strategy="revert-suspect-hunk",
                       diff=unified_diff([SourceEdit("app.py", after, APP)]), touched_files=["app.py"], test=TEST,
                       rationale=f"Undo the hunk of commit {sha[:12]} (second) at the fault in `div`: ...")
    c = critique(p, _passed(), d, ReflectionPolicy(), 1, 3, repo=repo)
    assert c.verdict in ("accept", "revise")
    from crew.agents.reflection import _commit_facts

    assert _commit_facts(repo, sha) == ("second", ["app.py"])  # the log really ran, through safegit
    assert not marker.exists(), marker.read_text()


@pytest.mark.parametrize("blank", ["''", "'   '"])
def test_an_empty_value_is_a_missing_value_not_a_data_error(blank: str) -> None:
    d = _parse_diag(QUANTITY, "quantity", f"invalid literal for int() with base 10: {blank}")
    c = _critique(_proposal(QUANTITY, TOLERANT, "parse-tolerant-int"), d)
    assert "coerce-data-error" not in _rules(c)
