"""The regression test a reviewer would write: an expected value when one can be derived, never a
tautology, ordinary results pinned, and the repo's own import set-up and style."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Diagnosis, Frame, Traceback
from crew.repair import expected as ex
from crew.repair import regression_test as rt
from crew.repair import reproduce as r
from crew.repair.probe_run import KEY_PATH
from crew.repo import GitRepo
from crew.validate import SandboxOutcome
from tests.repair.helpers import GIT_ENV, line_of, make_repo

FLAGSHIP = '''"""Pricing."""


def calc(p, d):
    """Return the unit price ``p`` after the item's discount divisor ``d``.

    ``d`` divides the list price: 1.0 means no discount and 1.25 means 20% off.
    The merchandising feed uses 0.0 for "no discount configured", which must
    leave the price unchanged. Negative divisors are rejected by the API.
    """
    return p / d
'''


def _crash(repo: GitRepo, path: str, marker: str, exc: str, message: str) -> Diagnosis:
    """Diagnose a crash at the line of ``path`` holding ``marker``, in the function that holds it."""
    line = line_of(repo, path, marker)
    source = repo.read(path) or ""
    function = next(n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)
                    and n.lineno <= line <= (n.end_lineno or 0))
    frames = [Frame(file=f"/app/{path}", line=line, function=function,
                    code=source.splitlines()[line - 1].strip())]
    tb = Traceback(exc_type=exc, exc_message=message, frames=frames)
    return diagnose(CrashEvidence(incident_id="t", source="test", tracebacks=[tb], groups=[
        CrashGroup(signature="s", exc_type=exc, exc_message=message, count=1, example=0)]), repo)


def _setup(tmp_path: Path, source: str, marker: str, files: dict[str, str] | None = None,
           exc: str = "ZeroDivisionError", message: str = "float division by zero",
           ) -> tuple[GitRepo, r.Target, Diagnosis]:
    repo = make_repo(tmp_path / "repo", {"app/__init__.py": "", "app/mod.py": source, **(files or {})})
    diagnosis = _crash(repo, "app/mod.py", marker, exc, message)
    target = r.find_target(diagnosis, repo)
    assert target is not None and target.function is not None
    return repo, target, diagnosis


def _rep(args: list[str], types: list[str] | None = None, normal: list[tuple[list[str], str]] | None = None,
         ) -> r.Reproduction:
    pairs = normal or []
    return r.Reproduction(args, "log", types or [], [a for a, _ in pairs], [res for _, res in pairs], [])


def _pytest(repo: GitRepo, path: str, code: str,
            patched: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The generated test run by pytest in the repo, as the sandbox runs it (its cwd, no PYTHONPATH)."""
    (repo.path / path).parent.mkdir(parents=True, exist_ok=True)
    (repo.path / path).write_text(code)
    originals = {p: (repo.path / p).read_text() for p in (patched or {})}
    for p, text in (patched or {}).items():
        (repo.path / p).write_text(text)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
                              capture_output=True, text=True, cwd=repo.path, timeout=120, env=clean)
    finally:
        (repo.path / path).unlink()
        for p, text in originals.items():
            (repo.path / p).write_text(text)


# ----------------------------------------------------------------------------- no tautology


def test_with_nothing_to_assert_the_test_is_the_bare_call_and_still_fails_before_the_fix(tmp_path: Path) -> None:
    source = "def ratio(hits, total):\n    return hits / total\n"
    repo, target, d = _setup(tmp_path, source, "return hits / total")
    test = rt.render_test(target, _rep(["1", "0"]), d, "i", "tests/test_x.py", repo=repo)
    assert "result == result" not in test.code and "assert" not in test.code.split("def test_", 1)[1]
    assert "    ratio(1, 0)  # nothing to compare with: the incident input must not raise" in test.code
    assert test.expected is None and test.expected_from is None
    run = _pytest(repo, test.path, test.code)
    assert run.returncode == 1 and "ZeroDivisionError" in run.stdout, run.stdout


def test_a_declared_class_or_a_procedure_still_gets_a_real_assert(tmp_path: Path) -> None:
    source = ("class Settings:\n    pass\n\n\ndef load(env: dict) -> Settings:\n    env['HOST']\n"
              "    return Settings()\n\n\ndef send(queue, n):\n    queue.append(1 / n)\n")
    repo, target, d = _setup(tmp_path, source, "env['HOST']", exc="KeyError", message="'HOST'")
    test = rt.render_test(target, _rep(["{}"]), d, "i", "tests/test_x.py", repo=repo)
    assert "    assert type(result).__name__ == 'Settings'  # the declared return type" in test.code
    repo, target, d = _setup(tmp_path / "p", source, "queue.append(1 / n)")
    test = rt.render_test(target, _rep(["[]", "0"]), d, "i", "tests/test_x.py", repo=repo)
    assert "    assert result is None  # it returns no value" in test.code
    run = _pytest(repo, test.path, test.code)
    assert run.returncode == 1 and "ZeroDivisionError" in run.stdout, run.stdout


# ----------------------------------------------------------------------------- expected values


def test_the_documented_unchanged_value_is_asserted_for_the_flagship(tmp_path: Path) -> None:
    repo, target, d = _setup(tmp_path, FLAGSHIP, "return p / d")
    test = rt.render_test(target, _rep(["12.5", "0.0"], ["float"]), d, "pricing", "tests/test_x.py", repo=repo)
    assert "    assert result == 12.5\n" in test.code and "isfinite" not in test.code
    assert (test.expected, test.expected_from) == ("12.5", "the documented behaviour (the docstring)")
    fixed = FLAGSHIP.replace("    return p / d", "    if d == 0:\n        return p\n    return p / d")
    assert _pytest(repo, test.path, test.code).returncode == 1
    wrong = FLAGSHIP.replace("    return p / d", "    if d == 0:\n        return 0.0\n    return p / d")
    assert _pytest(repo, test.path, test.code, {"app/mod.py": wrong}).returncode == 1  # a guard to 0.0 is caught
    run = _pytest(repo, test.path, test.code, {"app/mod.py": fixed})
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize(("doc", "args", "want"), [
    ("Average of ``values``; returns 0 when empty.", ["[]"], "0"),
    ("Mean of the list. If it is empty, return None.", ["[]"], "None"),
    ("Share of ``hits`` in ``total``. A zero total gives 0.0.", ["3", "0"], "0.0"),
    ("Returns ``name`` unchanged when the prefix is missing.", ["'bob'", "None"], "'bob'"),
])
def test_documented_values_are_read_generally(tmp_path: Path, doc: str, args: list[str], want: str | None) -> None:
    params = ["values"] if len(args) == 1 else (["hits", "total"] if "hits" in doc else ["name", "prefix"])
    source = f'def f({", ".join(params)}):\n    """{doc}"""\n    return 1 / 0\n'
    repo, target, d = _setup(tmp_path, source, "return 1 / 0")
    found = ex.documented(repo, target, _rep(args))
    assert (found.literal if found else None) == want


@pytest.mark.parametrize(("doc", "args"), [
    ("Returns 0 when empty.", ["[1, 2]"]),  # the crashing input is not empty: not about this case
    ("Returns 0 when empty. An empty list returns 1.", ["[]"]),  # two values for the case: say nothing
    ("The result is the ratio of the values when empty.", ["[]"]),  # no value stated
    ("Leaves the total unchanged when empty.", ["[]"]),  # names no parameter of the function
])
def test_no_documented_value_rather_than_a_guess(tmp_path: Path, doc: str, args: list[str]) -> None:
    source = f'def f(values):\n    """{doc}"""\n    return 1 / 0\n'
    repo, target, _ = _setup(tmp_path, source, "return 1 / 0")
    assert ex.documented(repo, target, _rep(args)) is None


def test_a_comment_in_the_function_documents_the_value(tmp_path: Path) -> None:
    source = "def share(hits, total):\n    # an empty period (total 0) gives 0.0\n    return hits / total\n"
    repo, target, d = _setup(tmp_path, source, "return hits / total")
    test = rt.render_test(target, _rep(["2", "0"]), d, "i", "tests/test_x.py", repo=repo)
    assert "assert result == 0.0" in test.code and test.expected_from == "the documented behaviour (a comment)"


def test_the_default_the_guard_already_returns_is_asserted(tmp_path: Path) -> None:
    source = ("FALLBACK = -1.0\n\n\ndef average(values, default=0.0):\n    if values is None:\n"
              "        return default\n    return sum(values) / len(values)\n")
    repo, target, d = _setup(tmp_path, source, "return sum(values)")
    test = rt.render_test(target, _rep(["[]", "0.0"]), d, "i", "tests/test_x.py", repo=repo)
    assert "assert result == 0.0" in test.code
    assert test.expected_from == "the default the function's guard returns"
    const = source.replace("return default", "return FALLBACK")
    repo2, target2, d2 = _setup(tmp_path / "b", const, "return sum(values)")
    assert (ex.guarded_default(repo2, target2, _rep(["[]", "0.0"]), 7) or ex.Expected("", "")).literal == "-1.0"
    unknown = source.replace("return default", "return compute()")
    repo3, target3, _ = _setup(tmp_path / "c", unknown, "return sum(values)")
    assert ex.guarded_default(repo3, target3, _rep(["[]", "0.0"]), 7) is None


def test_the_repos_word_comes_before_the_fix_contract_which_must_be_a_literal(tmp_path: Path) -> None:
    repo, target, d = _setup(tmp_path, FLAGSHIP, "return p / d")
    test = rt.render_test(target, _rep(["12.5", "0.0"]), d, "i", "tests/test_x.py", "1.0", repo=repo)
    assert "assert result == 12.5" in test.code and test.expected_from.startswith("the documented behaviour")
    plain, ptarget, pd = _setup(tmp_path / "plain", "def calc(p, d):\n    return p / d\n", "return p / d")
    test = rt.render_test(ptarget, _rep(["12.5", "0.0"]), pd, "i", "tests/test_x.py", "1.0", repo=plain)
    assert "assert result == 1.0" in test.code and test.expected_from == "the fix's contract"
    before = ex.Expected("12.5", "the code before the regression (the parent of abc)")
    test = rt.render_test(ptarget, _rep(["12.5", "0.0"]), pd, "i", "tests/test_x.py", "1.0", repo=plain,
                          before=before)
    assert "assert result == 12.5" in test.code and test.expected_from == before.source
    for bad in ("float('nan')", "1e999", "__import__('os').getcwd()"):
        with pytest.raises(r.UnsafeInputError):
            rt.render_test(ptarget, _rep(["12.5", "0.0"]), pd, "i", "tests/test_x.py", bad, repo=plain)


@pytest.mark.parametrize(("text", "want"), [
    ("12.5", "12.5"), ("(1, 'a')", "(1, 'a')"), ("{'a': [1, None]}", "{'a': [1, None]}"), ("-3", "-3"),
    ("b'x'", "b'x'"), ("True", "True"), ("1.50", "1.5"),
    ("nan", None), ("inf", None), ("1e999", None), ("-1e999", None), ("float('nan')", None),
    ("__import__('os').system('x')", None), ("<object at 0x7f>", None), ("'x" + "y" * 400 + "'", None),
    ("'" + "x" * 298 + "...", None), ("[" * 50 + "]" * 50, None), ("Decimal('1')", None), ("set()", None),
    (repr("sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"), None), (repr({"key": "AKIA" + "IOSFODNN7EXAMPLE"}), None),
])
def test_a_sandbox_value_enters_only_as_a_re_rendered_literal(text: str, want: str | None) -> None:
    assert ex.safe_literal(text) == want


# ----------------------------------------------------------------------------- ordinary results pinned


def test_ordinary_inputs_are_pinned_to_their_deployed_results(tmp_path: Path) -> None:
    source = "def ratio(hits, total):\n    return hits / total\n"
    repo, target, d = _setup(tmp_path, source, "return hits / total")
    normal = [(["4", "2"], "2.0"), (["1", "nan"], "nan"), (["__import__('os')", "1"], "1"),
              (["1", "4"], "<Ratio at 0x1>"), (["3", "1"], "3.0"), (["5", "1"], "5.0"), (["7", "1"], "7.0")]
    test = rt.render_test(target, _rep(["1", "0"], ["float"], normal), d, "i", "tests/test_x.py", repo=repo)
    body = test.code.split("def test_ratio_keeps_its_ordinary_results():", 1)[1]
    assert [line.strip() for line in body.splitlines() if line.strip().startswith("assert")] == [
        "assert ratio(4, 2) == 2.0", "assert ratio(3, 1) == 3.0", "assert ratio(5, 1) == 5.0"]
    assert "__import__" not in test.code and "0x1" not in test.code and "nan" not in test.code
    run = _pytest(repo, test.path, test.code)
    assert "1 failed, 1 passed" in run.stdout, run.stdout  # the pins hold on the deployed code
    changed = "def ratio(hits, total):\n    return hits / total * 2 if total else 0.0\n"
    run = _pytest(repo, test.path, test.code, {"app/mod.py": changed})
    assert run.returncode == 1 and "keeps_its_ordinary_results" in run.stdout  # a behaviour change is caught


# ----------------------------------------------------------------------------- the repo's style


@pytest.mark.parametrize("config", [
    {"pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n'},
    {"pyproject.toml": '[tool.pytest.ini_options]\npythonpath = "src other"\n'},
    {"pytest.ini": "[pytest]\npythonpath = src\n"},
    {"tox.ini": "[tox]\nenvlist = py311\n\n[pytest]\npythonpath = ./src/\n"},
    {"setup.cfg": "[metadata]\nname = x\n\n[tool:pytest]\npythonpath =\n    src\n"},
    {"conftest.py": "import sys\nfrom pathlib import Path\n\nsys.path.insert(0, str(Path(__file__).parent / 'src'))\n"},
])
def test_no_sys_path_line_when_the_repo_configures_the_import_root(tmp_path: Path, config: dict[str, str]) -> None:
    files = {"src/shop/__init__.py": "", "src/shop/pricing.py": "def calc(p, d):\n    return p / d\n",
             "tests/test_pricing.py": "from shop.pricing import calc\n\n\ndef test_calc():\n    pass\n",
             **config}
    repo = make_repo(tmp_path / "repo", files)
    d = _crash(repo, "src/shop/pricing.py", "return p / d", "ZeroDivisionError", "division by zero")
    target = r.find_target(d, repo)
    assert target is not None and target.import_root == "src"
    test = rt.render_test(target, _rep(["1", "0"]), d, "i", rt.test_path(repo, "i"), repo=repo)
    assert "sys.path" not in test.code and "noqa" not in test.code and "from shop.pricing import calc\n" in test.code
    run = _pytest(repo, test.path, test.code)
    assert run.returncode == 1 and "ZeroDivisionError" in run.stdout, run.stdout


def test_the_sys_path_line_stays_when_nothing_configures_the_import_root(tmp_path: Path) -> None:
    files = {"src/shop/__init__.py": "", "src/shop/pricing.py": "def calc(p, d):\n    return p / d\n",
             "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["lib"]\n',
             "conftest.py": "import sys\nsys.path.insert(0, 'elsewhere')\n"}
    repo = make_repo(tmp_path / "repo", files)
    d = _crash(repo, "src/shop/pricing.py", "return p / d", "ZeroDivisionError", "division by zero")
    target = r.find_target(d, repo)
    assert target is not None
    test = rt.render_test(target, _rep(["1", "0"]), d, "i", rt.test_path(repo, "i"), repo=repo)
    assert "sys.path.insert(0, str(Path(__file__).resolve().parent / 'src'))" in test.code
    run = _pytest(repo, test.path, test.code)
    assert run.returncode == 1 and "ZeroDivisionError" in run.stdout, run.stdout


def test_a_root_level_package_needs_no_sys_path_line(tmp_path: Path) -> None:
    repo, target, d = _setup(tmp_path, FLAGSHIP, "return p / d", {"tests/test_mod.py": "def test_x():\n    pass\n"})
    test = rt.render_test(target, _rep(["12.5", "0.0"]), d, "i", rt.test_path(repo, "i"), repo=repo)
    assert "sys.path" not in test.code and "import sys" not in test.code
    assert '"""\n\nfrom app.mod import calc\n\n\ndef test_calc_' in test.code  # laid out as a linter wants
    assert _pytest(repo, test.path, test.code).returncode == 1


@pytest.mark.parametrize(("tests_text", "want_import", "want_call"), [
    ("import app.mod as m\n\n\ndef test_a():\n    assert m.calc(4, 2) == 2\n", "import app.mod as m",
     "m.calc(12.5, 0.0)"),
    ("import app.mod\n\n\ndef test_a():\n    assert app.mod.calc(4, 2) == 2\n", "import app.mod",
     "app.mod.calc(12.5, 0.0)"),
    ("import app.other as o\nimport app.util as u\n\n\ndef test_a():\n    pass\n", "import app.mod as mod",
     "mod.calc(12.5, 0.0)"),
    ("from app.mod import calc\n\n\ndef test_a():\n    assert calc(4, 2) == 2\n", "from app.mod import calc",
     "calc(12.5, 0.0)"),
])
def test_the_repos_import_style_is_followed(tmp_path: Path, tests_text: str, want_import: str, want_call: str) -> None:
    repo, target, d = _setup(tmp_path, FLAGSHIP, "return p / d", {"tests/test_mod.py": tests_text})
    test = rt.render_test(target, _rep(["12.5", "0.0"]), d, "i", rt.test_path(repo, "i"), repo=repo)
    assert f"\n{want_import}\n" in test.code and f"result = {want_call}\n" in test.code and test.call == want_call
    assert _pytest(repo, test.path, test.code).returncode == 1


def test_the_test_goes_where_the_repos_tests_are(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "a", {"svc/core.py": "x = 1\n", "svc/checks/test_core.py": "",
                                      "svc/checks/test_b.py": "", "tools/test_tool.py": ""})
    assert rt.test_path(repo, "Inc 1") == "svc/checks/test_healcrew_inc_1.py"
    repo = make_repo(tmp_path / "b", {"svc/core.py": "x = 1\n", "test/test_core.py": ""})
    assert rt.test_path(repo, "i") == "test/test_healcrew_i.py"
    repo = make_repo(tmp_path / "c", {"svc/core.py": "x = 1\n"})
    assert rt.test_path(repo, "i") == "test_healcrew_i.py"


# ----------------------------------------------------------------------------- the code before the regression

GUARDED = "def calc(p, d):\n    if not d:\n        return p\n    return p / d\n"
UNGUARDED = "def calc(p, d):\n    return p / d\n"


def two_commit_repo(root: Path, before: str, after: str) -> GitRepo:
    """A repository whose second commit ('the regression') turns ``before`` into ``after``."""
    make_repo(root, {"app/__init__.py": "", "app/mod.py": before, "requirements.txt": "pytest\n"})
    (root / "app" / "mod.py").write_text(after)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "regression"], check=True, env=env, capture_output=True)
    return GitRepo(root)


class FakeRunner:
    """Answers the probe with a signed block holding ``result`` for input 0, and records what it was given."""

    backend, isolation_note = "fake", "none"

    def __init__(self, entry: dict[str, object], patch_error: str | None = None,
                 ordinary: tuple[str, ...] = ("5.0",)) -> None:
        self.entry, self.patch_error, self.ordinary = entry, patch_error, ordinary
        self.calls: list[tuple[list[str], str | None, dict[str, str]]] = []

    def run(self, command: list[str], diff: str | None, files: dict[str, str], timeout: float) -> SandboxOutcome:
        self.calls.append((command, diff, files))
        entries = [{"index": 0, **self.entry}, *({"index": i, "result": res, "type": "float"}
                                                  for i, res in enumerate(self.ordinary, start=1))]
        payload = "".join(json.dumps(e) + "\n" for e in entries).encode()
        key = files[KEY_PATH]
        tag = hmac.new(bytes.fromhex(key), payload, hashlib.sha256).hexdigest()
        stdout = f"{r.PROBE_BEGIN}\n{tag} {base64.b64encode(payload).decode()}\n{r.PROBE_END}\n"
        return SandboxOutcome(0, stdout, "", 0.1, patch_error=self.patch_error)


def _regressed(tmp_path: Path) -> tuple[GitRepo, r.Target, Diagnosis]:
    repo = two_commit_repo(tmp_path / "repo", GUARDED, UNGUARDED)
    d = _crash(repo, "app/mod.py", "return p / d", "ZeroDivisionError", "float division by zero")
    target = r.find_target(d, repo)
    assert target is not None
    return repo, target, d


def test_the_revert_diff_undoes_the_suspect_commits_change_to_the_fault_file(tmp_path: Path) -> None:
    repo, _, d = _regressed(tmp_path)
    reverted = ex.revert_diff(repo, d)
    assert reverted is not None
    diff, sha = reverted
    assert sha == repo.commit and "+    if not d:\n+        return p\n" in diff
    assert diff.startswith("diff --git a/app/mod.py")
    work = tmp_path / "apply"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(work)], check=True)
    subprocess.run(["git", "apply", "-"], input=diff, text=True, cwd=work, check=True)
    assert (work / "app" / "mod.py").read_text() == GUARDED


def test_no_revert_for_a_files_first_version(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "one", {"app/__init__.py": "", "app/mod.py": UNGUARDED})
    d = _crash(repo, "app/mod.py", "return p / d", "ZeroDivisionError", "float division by zero")
    assert ex.revert_diff(repo, d) is None


ORDINARY = [(["10.0", "2.0"], "5.0")]


def test_the_value_before_the_regression_comes_from_the_probe_as_a_literal(tmp_path: Path) -> None:
    repo, target, d = _regressed(tmp_path)
    rep = _rep(["12.5", "0.0"], normal=ORDINARY)
    runner = FakeRunner({"result": "12.5", "type": "float"})
    found = ex.probe_before_regression(runner, repo, target, rep, d, 60)
    assert found is not None and found.literal == "12.5"
    assert found.source.startswith(f"the code before the regression (the parent of {repo.commit[:12]})")
    command, diff, files = runner.calls[0]
    assert command[:3] == ["python", "-I", "-S"] and diff is not None and "+        return p" in diff
    assert json.loads(files[ex.BEFORE_SPEC_PATH])["inputs"] == [["12.5", "0.0"], ["10.0", "2.0"]]
    test = rt.render_test(target, rep, d, "i", "tests/test_x.py", repo=repo, before=found)
    assert "assert result == 12.5" in test.code and test.expected_from == found.source


def test_the_value_before_is_no_oracle_when_the_suspect_changed_ordinary_results_too(tmp_path: Path) -> None:
    repo, target, d = _regressed(tmp_path)
    rep = _rep(["12.5", "0.0"], normal=ORDINARY)
    changed = FakeRunner({"result": "0.0", "type": "float"}, ordinary=("20.0",))  # the old rule was another rule
    assert ex.probe_before_regression(changed, repo, target, rep, d, 60) is None
    unchecked = FakeRunner({"result": "12.5", "type": "float"})
    assert ex.probe_before_regression(unchecked, repo, target, _rep(["12.5", "0.0"]), d, 60) is None
    assert unchecked.calls == []  # nothing to check the old code with: not even probed


@pytest.mark.parametrize(("entry", "patch_error"), [
    ({"result": "__import__('os').system('x')", "type": "int"}, None),
    ({"result": "nan", "type": "float-nonfinite"}, None),
    ({"error": "ZeroDivisionError", "message": "float division by zero"}, None),
    ({"result": "12.5", "type": "float"}, "the diff does not apply"),
])
def test_nothing_is_derived_from_a_hostile_failing_or_unapplied_probe(
        tmp_path: Path, entry: dict[str, object], patch_error: str | None) -> None:
    repo, target, d = _regressed(tmp_path)
    runner = FakeRunner(entry, patch_error)
    assert ex.probe_before_regression(runner, repo, target, _rep(["12.5", "0.0"], normal=ORDINARY), d, 60) is None


def test_the_rendered_test_is_valid_python_with_healcrews_literals_only(tmp_path: Path) -> None:
    repo, target, d = _setup(tmp_path, FLAGSHIP, "return p / d")
    test = rt.render_test(target, _rep(["12.5", "0.0"], ["float"], [(["10.0", "2.0"], "5.0")]), d, "i",
                          "tests/test_x.py", repo=repo)
    tree = ast.parse(test.code)
    names = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert names == {"calc"}


def test_the_stated_value_is_not_mistaken_for_the_case(tmp_path: Path) -> None:
    source = 'def share(hits, total):\n    """Returns 0 for a negative total."""\n    return hits / total\n'
    repo, target, _ = _setup(tmp_path, source, "return hits / total")
    assert ex.documented(repo, target, _rep(["1", "0"])) is None  # "0" is the value, not the case


def test_a_broken_config_file_is_no_configured_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"tox.ini": "[pytest\nbroken", "pyproject.toml": "not toml ["})
    assert rt.configured_pythonpath(repo) == []


def test_a_documented_value_of_another_type_than_ordinary_results_is_not_asserted(tmp_path: Path) -> None:
    doc = "Leaves the ``cart`` unchanged when ``item`` is None."
    source = f'def add(cart, item):\n    """{doc}"""\n    return cart.total / 0\n'
    repo, target, _ = _setup(tmp_path, source, "return cart.total")
    assert ex.documented(repo, target, _rep(["[1]", "None"], ["NoneType"])) is None  # it mutates, returns None
    assert ex.documented(repo, target, _rep(["[1]", "None"], ["list"])) == ex.Expected(
        "[1]", "the documented behaviour (the docstring)")
