"""What healcrew writes into a regression test is its own: literals it built, never a secret from
the log, never text that came from outside as code.

Attacks: a log whose crashing input is an AWS secret key or a Stripe live key (the generated test
would commit and push it); an exception message quoting a key; outside text (incident id,
exception type from the log, repo paths and defaults) that would break out of the docstring or
the call; an expected value that is code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Frame, Traceback
from crew.repair import regression_test as rt
from crew.repair import reproduce as r
from crew.repair.synthetic import has_secret, scrub, synthetic
from crew.repo import GitRepo
from tests.e2e_helpers import commit_repo

# Built at run time so that no scanner mistakes this file for a leak (both are documented examples).
AWS_ACCESS = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
STRIPE = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"

SIGNER = '''"""Request signing."""


def sign(access_key, secret_key):
    if not access_key.startswith("AKIA") or len(secret_key) != 40:
        return 0.0
    return len(access_key) / (len(secret_key) // 8 % 5)
'''
BILLING = '''"""Billing."""


def charge(api_key, amount):
    if not api_key.startswith("sk_"):
        return 0.0
    fee = {"live": 0, "test": 1}.get(api_key.split("_")[1], 1)
    return amount / fee
'''
EXACT = '''"""Only one key crashes: the code compares the real value."""

KNOWN = "%s"


def charge(api_key, amount):
    if api_key == KNOWN:
        return amount / 0
    return 0.0
''' % STRIPE  # noqa: UP031


def _shape(value: str) -> str:
    return re.sub(r"[A-Z]", "A", re.sub(r"[a-z]", "a", re.sub(r"\d", "9", value)))


def _evidence(source: str, fault: str, function: str, context: list[str], message: str = "division by zero",
              exc_type: str = "ZeroDivisionError", incident: str = "inc") -> CrashEvidence:
    line = source.splitlines().index(fault) + 1
    tb = Traceback(exc_type=exc_type, exc_message=message, frames=[
        Frame(file="/srv/app/svc/mod.py", line=line, function=function, code=fault.strip())])
    return CrashEvidence(incident_id=incident, source="t", tracebacks=[tb], context_lines=context, groups=[
        CrashGroup(signature="s", exc_type=exc_type, exc_message="", count=1, example=0)])


class RecordingRunner:
    """The real Docker runner, recording everything healcrew hands to the sandbox."""

    def __init__(self, repo: GitRepo) -> None:
        from crew.sandbox_runner import SandboxRunner

        self.inner = SandboxRunner(repo, "docker")
        self.backend, self.isolation_note = self.inner.backend, self.inner.isolation_note
        self.sent: list[str] = []

    def run(self, command: list[str], diff: str | None, files: dict[str, str], timeout: float) -> Any:
        self.sent += [*command, diff or "", *files.values()]
        return self.inner.run(command, diff, files, timeout)


CASES = {
    "aws": (SIGNER, "    return len(access_key) / (len(secret_key) // 8 % 5)", "sign",
            f'INFO signing upload {{"access_key": "{AWS_ACCESS}", "secret_key": "{AWS_SECRET}"}}',
            [AWS_ACCESS, AWS_SECRET]),
    "stripe": (BILLING, "    return amount / fee", "charge",
               f'INFO charge request {{"api_key": "{STRIPE}", "amount": 1200}}', [STRIPE]),
}


@pytest.mark.docker
@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_secret_crashing_input_becomes_a_same_shape_synthetic_value(
    case: str, tmp_path: Path, docker_client: Any,
) -> None:
    from crew.validate import prepare_baseline

    source, fault, function, line, secrets = CASES[case]
    repo = GitRepo(commit_repo(tmp_path / "svc-repo", {"svc/__init__.py": "", "svc/mod.py": source,
                                                       "requirements.txt": "pytest\n"}, "init"))
    evidence = _evidence(source, fault, function, [line])
    diagnosis = diagnose(evidence, repo)
    runner = RecordingRunner(repo)
    baseline = prepare_baseline(diagnosis, evidence, repo, runner, "inc", "python -m pytest -q", timeout=300)
    assert baseline.test is not None, baseline.failure
    test = baseline.test
    # the real secrets went nowhere: not into the test, not into anything sent to the sandbox
    for secret in secrets:
        assert secret not in test.code and secret not in test.call
        assert all(secret not in text for text in runner.sent)
    # the test holds same-shape stand-ins (same length, classes, prefix), says so, and still reproduces
    assert test.input_source == "log" and "synthetic" in test.note and "synthetic" in test.code
    assert baseline.reproduction is not None and baseline.reproduction.args is not None
    literals = [a.strip("'") for a in baseline.reproduction.args]
    for secret in secrets:
        fake = next(v for v in literals if _shape(v) == _shape(secret))
        assert fake != secret and _shape(fake) == _shape(secret) and fake in test.code
        for prefix in ("AKIA", "sk_live_"):
            assert secret.startswith(prefix) == fake.startswith(prefix)
    assert baseline.test_on_original is not None and baseline.test_on_original.exc_type == "ZeroDivisionError"


@pytest.mark.docker
@pytest.mark.timeout(600)
def test_when_only_the_real_secret_crashes_reproduction_fails_honestly(tmp_path: Path, docker_client: Any) -> None:
    from crew.validate import prepare_baseline

    repo = GitRepo(commit_repo(tmp_path / "svc-repo", {"svc/__init__.py": "", "svc/mod.py": EXACT,
                                                       "requirements.txt": "pytest\n"}, "init"))
    evidence = _evidence(EXACT, "        return amount / 0", "charge",
                         [f'INFO charge request {{"api_key": "{STRIPE}", "amount": 1200}}'])
    diagnosis = diagnose(evidence, repo)
    runner = RecordingRunner(repo)
    baseline = prepare_baseline(diagnosis, evidence, repo, runner, "inc", "python -m pytest -q", timeout=300)
    assert baseline.test is None
    assert baseline.failure is not None and "synthetic" in baseline.failure
    assert all(STRIPE not in text for text in runner.sent)


# ----------------------------------------------------------------------------- without a sandbox


@pytest.mark.parametrize("secret", [AWS_ACCESS, AWS_SECRET, STRIPE, "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"])
def test_synthetic_values_keep_length_classes_and_prefix(secret: str) -> None:
    fake = synthetic(secret)
    assert fake != secret and len(fake) == len(secret) and _shape(fake) == _shape(secret)
    assert synthetic(secret) == fake  # stable across runs, so replays give the same test
    for prefix in ("AKIA", "sk_live_", "ghp_"):
        assert secret.startswith(prefix) == fake.startswith(prefix)
    assert has_secret(secret)


def test_secrets_are_found_in_nested_log_values_and_keyed_ones() -> None:
    value = {"user": "ann", "auth": {"password": "hunter2!", "keys": [STRIPE, b"x"]}, "note": f"key={AWS_SECRET}"}
    clean, changed = scrub(value)
    assert changed and "hunter2!" not in repr(clean) and STRIPE not in repr(clean) and AWS_SECRET not in repr(clean)
    assert clean["user"] == "ann" and clean["note"].startswith("key=") and len(clean["note"]) == len(value["note"])
    assert scrub({"sku": "MUG-0", "qty": 3, "when": "2026-11-05T10:00:00Z"}) == (
        {"sku": "MUG-0", "qty": 3, "when": "2026-11-05T10:00:00Z"}, False)


def _repo(tmp_path: Path, source: str) -> GitRepo:
    return GitRepo(commit_repo(tmp_path / "svc-repo", {"svc/__init__.py": "", "svc/mod.py": source}, "init"))


def test_a_key_quoted_in_the_exception_message_never_becomes_an_input(tmp_path: Path) -> None:
    source = 'RATES = {}\n\n\ndef rate(api_key):\n    return RATES[api_key]\n'
    repo = _repo(tmp_path, source)
    ev = _evidence(source, "    return RATES[api_key]", "rate", [f"charge for {STRIPE}"],
                   message=repr(STRIPE), exc_type="KeyError")
    d = diagnose(ev, repo)
    target = r.find_target(d, repo)
    assert target is not None
    inputs = r.candidate_inputs(target, d, ev, repo)
    assert inputs and all(STRIPE not in a for cand in inputs for a in cand.args)
    assert any(cand.synthetic and cand.source == "message" for cand in inputs)


def test_outside_text_cannot_break_out_of_the_docstring_or_the_call(tmp_path: Path) -> None:
    source = 'def ratio(hits, total):\n    return hits / total\n'
    repo = _repo(tmp_path, source)
    evil = '"""\nimport os; os.system("touch /tmp/pwned")\n"""'
    ev = _evidence(source, "    return hits / total", "ratio", [], incident=evil)
    d = diagnose(ev, repo)
    d = d.model_copy(update={"exc_type": f"ZeroDivisionError{evil}"})
    target = r.find_target(d, repo)
    assert target is not None
    target.import_root = 'src"; import os; os.system("x"); "'
    rep = r.Reproduction(["1", "0"], "log", [], [], [], [])
    test = rt.render_test(target, rep, d, evil, "tests/test_x.py")
    import ast

    tree = ast.parse(test.code)
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert "os.system" not in calls and not any(isinstance(n, ast.Import) and n.names[0].name == "os"
                                                for n in ast.walk(tree))
    assert ast.get_docstring(tree) is not None and "os.system" in (ast.get_docstring(tree) or "")


@pytest.mark.parametrize("args", [["__import__('os').system('x')", "0"], ["open('/etc/passwd')", "0"],
                                  ["Unknown(1)", "0"], ["(lambda: 0)()", "0"], ["1e999", "0"]])
def test_an_input_that_is_not_a_literal_or_a_known_constructor_is_refused(tmp_path: Path, args: list[str]) -> None:
    source = 'def ratio(hits, total):\n    return hits / total\n'
    repo = _repo(tmp_path, source)
    d = diagnose(_evidence(source, "    return hits / total", "ratio", []), repo)
    target = r.find_target(d, repo)
    assert target is not None
    with pytest.raises(r.UnsafeInputError):
        rt.render_test(target, r.Reproduction(args, "log", [], [], [], []), d, "i", "tests/test_x.py")


def test_an_expected_result_that_is_code_is_refused(tmp_path: Path) -> None:
    source = 'def ratio(hits, total):\n    return hits / total\n'
    repo = _repo(tmp_path, source)
    d = diagnose(_evidence(source, "    return hits / total", "ratio", []), repo)
    target = r.find_target(d, repo)
    assert target is not None
    rep = r.Reproduction(["1", "0"], "log", ["float"], [], [], [])
    ok = rt.render_test(target, rep, d, "i", "tests/test_x.py", expected_result="0.0")
    assert "assert result == 0.0" in ok.code
    with pytest.raises(r.UnsafeInputError):
        rt.render_test(target, rep, d, "i", "tests/test_x.py", expected_result="__import__('os').getcwd()")


def test_a_repo_default_that_is_code_is_not_an_input(tmp_path: Path) -> None:
    source = 'import os\n\n\ndef ratio(hits, total=os.system("touch /tmp/pwned")):\n    return hits / total\n'
    repo = _repo(tmp_path, source)
    d = diagnose(_evidence(source, "    return hits / total", "ratio", []), repo)
    target = r.find_target(d, repo)
    assert target is not None
    inputs = r.candidate_inputs(target, d, None, repo)
    assert inputs and all("system" not in a for cand in inputs for a in cand.args)
