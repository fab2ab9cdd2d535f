"""Unit tests: JUnit parsing, head/tail truncation, requirement collection, apt sources, paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.api import junit_path_of
from sandbox.errors import SandboxError
from sandbox.images import collect_requirements, debian_mirror, env_key
from sandbox.junit import parse_junit
from sandbox.output import HeadTailBuffer
from sandbox.requirements import Refusal

DATA = Path(__file__).parent / "data"
LONG = (DATA / "junit_long.xml").read_bytes()

SHORT = (DATA / "junit_short.xml").read_bytes()


def test_junit_long_style_outcomes_exceptions_and_frames() -> None:
    cases = {c.test_id: c for c in parse_junit(LONG)}
    assert list(cases) == [
        "tests/test_calc.py::test_ok", "tests/test_calc.py::test_zero", "tests/test_calc.py::test_assert",
        "tests/test_calc.py::TestK::test_key", "tests/test_calc.py::test_err", "tests/test_calc.py::test_skip",
    ]
    assert cases["tests/test_calc.py::test_ok"].outcome == "passed"
    zero = cases["tests/test_calc.py::test_zero"]
    assert (zero.outcome, zero.exc_type, zero.message) == ("failed", "ZeroDivisionError", "division by zero")
    assert zero.frame == "pkg/calc.py:2"  # the raising frame, with the sandbox work dir stripped
    assert cases["tests/test_calc.py::test_assert"].exc_type == "AssertionError"
    key = cases["tests/test_calc.py::TestK::test_key"]
    assert (key.exc_type, key.message, key.frame) == ("KeyError", "'missing'", "tests/test_calc.py:15")
    err = cases["tests/test_calc.py::test_err"]
    assert (err.outcome, err.exc_type, err.message) == ("error", "ValueError", "bad fixture")
    skip = cases["tests/test_calc.py::test_skip"]
    assert (skip.outcome, skip.message, skip.exc_type) == ("skipped", "later", None)


def test_junit_short_style_takes_last_frame() -> None:
    [case] = parse_junit(SHORT)
    assert case.exc_type == "ZeroDivisionError"
    assert case.frame == "app/main.py:5"


def test_junit_node_ids_use_the_repo_copy_for_packages(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "test_mod.py").write_text("")
    xml = '<testsuites><testsuite><testcase classname="pkg.sub.test_mod.TestA" name="test_b"/></testsuite></testsuites>'
    [case] = parse_junit(xml, root=tmp_path)
    assert case.test_id == "pkg/sub/test_mod.py::TestA::test_b"


def test_junit_rejects_garbage() -> None:
    with pytest.raises(SandboxError, match="JUnit XML"):
        parse_junit(b"<testsuites><oops")


def test_head_tail_keeps_both_ends_and_counts_everything() -> None:
    buf = HeadTailBuffer(100)
    buf.write(b"HEAD" + b"x" * 46)
    for _ in range(10_000):
        buf.write(b"y" * 97)
    buf.write(b"z" * 46 + b"TAIL")
    assert buf.total == 50 + 970_000 + 50
    assert buf.truncated
    value = buf.getvalue()
    assert value.startswith(b"HEAD" + b"x" * 46)
    assert value.endswith(b"z" * 46 + b"TAIL")
    assert b"970000 bytes truncated" in value
    assert len(buf.head) == 50 and len(buf._tail) <= 100  # bounded memory


def test_head_tail_small_output_is_untouched() -> None:
    buf = HeadTailBuffer(100)
    buf.write(b"hello ")
    buf.write(b"world")
    assert not buf.truncated
    assert buf.text() == "hello world"


def test_head_tail_big_single_write() -> None:
    buf = HeadTailBuffer(10)
    buf.write(b"0123456789" * 1000)
    assert buf.getvalue().startswith(b"01234") and buf.getvalue().endswith(b"56789")
    assert buf.total == 10_000


def test_requirements_from_every_source(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "fastapi>=0.110  # web\n-r requirements-extra.txt\n-e .\n--index-url http://index.invalid/simple\n"
        "httpx==0.28.1 --hash=sha256:abc\n"
    )
    (tmp_path / "requirements-extra.txt").write_text("anyio\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "my-service"\ndependencies = ["pydantic>=2"]\n'
        '[project.optional-dependencies]\ntest = ["pytest-timeout", "my_service[extra]"]\ndocs = ["sphinx"]\n'
    )
    (tmp_path / "setup.cfg").write_text("[options]\ninstall_requires =\n    click\n")
    refused: list[Refusal] = []
    reqs = collect_requirements(tmp_path, refused)
    assert reqs == sorted(["anyio", "click", "fastapi>=0.110", "httpx==0.28.1", "pydantic>=2", "pytest",
                           "pytest-timeout"])
    assert [(r.source, r.line) for r in refused] == [("requirements.txt:3", "-e ."),
                                                     ("requirements.txt:4", "--index-url http://index.invalid/simple")]
    assert all(r.reason for r in refused)


def test_requirements_keep_a_pinned_pytest(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("pytest==8.3.0\n")
    reqs = collect_requirements(tmp_path)
    assert "pytest==8.3.0" in reqs and "pytest" not in reqs


def test_env_key_changes_only_with_inputs() -> None:
    a = env_key("sha256:1", "3.11", ["fastapi", "pytest"])
    assert a == env_key("sha256:1", "3.11", ["fastapi", "pytest"])
    assert a != env_key("sha256:1", "3.11", ["fastapi", "httpx", "pytest"])
    assert a != env_key("sha256:2", "3.11", ["fastapi", "pytest"])


def test_debian_mirror_from_deb822_and_one_line_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALCREW_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.invalid/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.invalid/debian"
    (tmp_path / "sources.list.d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [signed-by=/k.gpg] http://other.invalid/debian bookworm main\n")
    assert debian_mirror(tmp_path) == "http://other.invalid/debian"
    (tmp_path / "sources.list").write_text("# nothing\n")
    with pytest.raises(SandboxError, match="HEALCREW_DEBIAN_MIRROR"):
        debian_mirror(tmp_path)
    monkeypatch.setenv("HEALCREW_DEBIAN_MIRROR", "http://override.invalid/debian")
    assert debian_mirror(tmp_path) == "http://override.invalid/debian"


def test_junit_path_found_in_pytest_command() -> None:
    assert junit_path_of(["python", "-m", "pytest", "--junitxml=/tmp/j.xml"]) == "/tmp/j.xml"
    assert junit_path_of(["pytest", "--junitxml", "out.xml", "-q"]) == "out.xml"
    assert junit_path_of(["python", "-c", "pass"]) is None


def test_sandbox_does_not_import_crew() -> None:
    import subprocess
    import sys

    code = ("import sys, sandbox.api, sandbox.docker_backend, sandbox.process_backend, sandbox.images\n"
            "print(any(m == 'crew' or m.startswith('crew.') for m in sys.modules), 'docker' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]  # no agents, and docker is imported only when used
