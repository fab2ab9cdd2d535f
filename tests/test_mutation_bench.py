"""The mutation benchmark's transformations and site search, on small in-memory sources (no network)."""

from __future__ import annotations

import ast
import io
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import mutation  # noqa: E402

SOURCE = '''
import json


class Meter:
    def __init__(self, name, unit="ms"):
        self.name = name
        self.unit = unit
        self.samples = []

    def label(self):
        return self.name.upper() + " " + self.unit


def parse_count(text, options):
    """Read a count; an empty text is zero."""
    if not text:
        return 0
    width = options.get("width", 8)
    value = int(text.strip())
    parts = text.split(":", 1)
    for i in range(len(parts) - 1):
        if i < width:
            value += float(parts[i])
    try:
        extra = json.loads(options["extra"])
    except KeyError:
        extra = {}
    return max(value, len(str(extra)), getattr(options, "floor", 0))
'''

EXPECTED_SITES = {
    "removed guard": 2,  # the early return, the try
    "removed default": 2,  # .get(k, v), getattr(o, n, v)
    "renamed attribute": 8,
    "dropped conversion": 4,  # int, float, str, and len(str(...)) counts str once
    "wrong argument order": 4,
    "off-by-one bound": 3,  # range end, "- 1", "<"
    "early-return initialisation": 3,
    "stricter parse": 3,  # int(text.strip()), float(...), split(":", 1)
}


@pytest.mark.parametrize("kind", sorted(mutation.KINDS))
def test_each_kind_changes_the_tree_and_still_parses(kind: str) -> None:
    sites = mutation.find_sites({"pkg/mod.py": SOURCE}, kind)
    assert sites, kind
    original = ast.dump(ast.parse(SOURCE))
    for site in sites:
        mutated = mutation.apply_edit(SOURCE, site.edit)
        assert ast.dump(ast.parse(mutated)) != original, (kind, site)
        assert mutated.count("\n") >= SOURCE.count("\n") - 12
        assert site.kind == kind and site.path == "pkg/mod.py"


def test_site_counts_per_kind() -> None:
    counts = {k: len(mutation.find_sites({"m.py": SOURCE}, k)) for k in mutation.KINDS}
    assert counts["removed guard"] == EXPECTED_SITES["removed guard"]
    assert counts["removed default"] == EXPECTED_SITES["removed default"]
    assert counts["stricter parse"] == EXPECTED_SITES["stricter parse"]
    assert counts["early-return initialisation"] == EXPECTED_SITES["early-return initialisation"]
    assert counts["off-by-one bound"] == EXPECTED_SITES["off-by-one bound"]
    assert all(counts.values())


def test_edits_are_what_each_kind_says() -> None:
    def mutated(kind: str) -> list[str]:
        return [mutation.apply_edit(SOURCE, s.edit) for s in mutation.find_sites({"m.py": SOURCE}, kind)]

    assert any("if not text" not in m for m in mutated("removed guard"))
    assert any("except KeyError" not in m and "extra = json.loads(options['extra'])" in m
               for m in mutated("removed guard"))
    assert any("options['width']" in m for m in mutated("removed default"))
    assert any("getattr(options, 'floor')" in m for m in mutated("removed default"))
    assert any("self.nam.upper()" in m for m in mutated("renamed attribute"))
    assert any("value = (text.strip())" in m for m in mutated("dropped conversion"))
    assert any("max(len(str(extra)), value," in m for m in mutated("wrong argument order"))
    assert any("range(len(parts) - 1 + 1)" in m for m in mutated("off-by-one bound"))
    assert any("(i <= width)" in m for m in mutated("off-by-one bound"))
    init = mutated("early-return initialisation")
    assert any("        return\n        self.unit = unit" in m for m in init)
    assert any("int((text))" in m for m in mutated("stricter parse"))
    assert any("value += int(parts[i])" in m for m in mutated("stricter parse"))
    assert any("text.split(':')" in m for m in mutated("stricter parse"))


def test_nested_functions_are_their_own_sites() -> None:
    src = "def outer(d):\n    def inner(x):\n        return d.get(x, 0)\n    return inner\n"
    sites = mutation.find_sites({"m.py": src}, "removed default")
    assert [s.function for s in sites] == ["outer.inner"]


def test_site_order_is_deterministic_for_a_seed() -> None:
    sources = {"a.py": SOURCE, "b.py": SOURCE.replace("Meter", "Gauge")}
    for kind in mutation.KINDS:
        first = [s.key() for s in mutation.ordered_sites(sources, kind, seed=3)]
        again = [s.key() for s in mutation.ordered_sites(dict(reversed(list(sources.items()))), kind, seed=3)]
        assert first == again
        assert sorted(first) == sorted(s.key() for s in mutation.find_sites(sources, kind))
    orders = {tuple(s.key() for s in mutation.ordered_sites(sources, "renamed attribute", seed=n)) for n in range(5)}
    assert len(orders) > 1


def test_first_traceback_and_qualification() -> None:
    output = (
        "....F\n"
        "Traceback (most recent call last):\n"
        '  File "/work/tests/test_m.py", line 3, in test_label\n'
        "    Meter('x').label()\n"
        '  File "/work/pkg/mod.py", line 12, in label\n'
        '    return self.name.upper() + " " + self.unit\n'
        "AttributeError: 'Meter' object has no attribute 'unit'\n"
        "FAILED tests/test_m.py::test_label\n"
    )
    crash = mutation.first_traceback(output)
    assert crash is not None
    assert (crash.exc_type, crash.exc_message) == ("AttributeError", "'Meter' object has no attribute 'unit'")
    assert crash.frames[-1] == ("/work/pkg/mod.py", 12, "label")
    sources = {"pkg/mod.py": SOURCE}
    init = next(s for s in mutation.find_sites(sources, "early-return initialisation") if s.edit.line == 8)
    assert mutation.qualifies(init, crash, {"pkg/mod.py"}, sources)
    rename = next(s for s in mutation.find_sites(sources, "renamed attribute") if s.function == "parse_count")
    assert not mutation.qualifies(rename, crash, {"pkg/mod.py"}, sources)
    assertion = mutation.Crash("", "AssertionError", "", [("/work/pkg/mod.py", 12, "label")])
    label = next(s for s in mutation.find_sites(sources, "renamed attribute") if s.function == "Meter.label")
    assert not mutation.qualifies(label, assertion, {"pkg/mod.py"}, sources)
    assert mutation.qualifies(label, crash, {"pkg/mod.py"}, sources)


def _tar(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    path = tmp_path / "evil-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def test_unpack_refuses_paths_out_and_skips_links(tmp_path: Path) -> None:
    link = tarfile.TarInfo("pkg-1.0/link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    ok = _tar(tmp_path, [(tarfile.TarInfo("pkg-1.0/a.py"), b"x = 1\n"), (link, b"")])
    top = mutation.unpack(ok, tmp_path / "out")
    assert (top / "a.py").read_text() == "x = 1\n"
    assert not (top / "link").exists() and not (top / "link").is_symlink()
    for bad in ("../escape.py", "/abs.py", "pkg-1.0/../../up.py"):
        archive = _tar(tmp_path, [(tarfile.TarInfo(bad), b"x")])
        with pytest.raises(ValueError, match="unsafe path"):
            mutation.unpack(archive, tmp_path / f"out-{abs(hash(bad))}")
    assert not (tmp_path / "escape.py").exists() and not Path("/abs.py").exists()


def test_report_figures_read_from_the_run_report() -> None:
    report = {"timings": [{"stage": "sandbox", "seconds": 4.5}, {"stage": "reflection", "seconds": 1.0},
                          {"stage": "sandbox: baseline", "seconds": 2.0}],
              "candidates": [{"verdict": "accepted"}, {"verdict": "test still fails"}], "candidates_considered": 7,
              "attempts": [{}]}
    assert mutation.sandbox_seconds(report) == 4.5
    assert mutation.candidates_tried(report) == 2
    assert mutation.candidates_tried({"candidates": [], "candidates_considered": 7}) == 7
    assert mutation.candidates_tried({"attempts": [{}, {}]}) == 2


def test_summary_counts_per_kind() -> None:
    rows = [{"kind": "removed guard", "reproduced": "test", "validated": True, "fixed": True, "candidates": 3,
             "sandbox_seconds": 2.0},
            {"kind": "removed guard", "reproduced": "", "validated": False, "declined": "no fix", "candidates": 1,
             "sandbox_seconds": 1.5},
            {"kind": "stricter parse", "reproduced": "test", "validated": True, "fixed": False,
             "wrong": "still failing: t", "false_claim": "ValueError: x", "candidates": 4, "sandbox_seconds": 3.0}]
    by = {s["kind"]: s for s in mutation.summarise(rows)}
    assert by["removed guard"] | {} == {"kind": "removed guard", "cases": 2, "reproduced": 1, "fixed": 1,
                                         "declined": 1, "wrong": 0, "false_claims": 0, "errors": 0,
                                         "candidates": 4, "sandbox_seconds": 3.5}
    assert (by["stricter parse"]["wrong"], by["stricter parse"]["false_claims"]) == (1, 1)
    assert by["all"]["cases"] == 3 and by["off-by-one bound"]["cases"] == 0


def test_base_repo_leaves_out_git_metadata_and_links(tmp_path: Path) -> None:
    sdist = tmp_path / "pkg-1.0"
    (sdist / "pkg" / ".git").mkdir(parents=True)
    (sdist / "pkg" / ".git" / "config").write_text("[core]\n\tfsmonitor = touch /tmp/pwned\n")
    (sdist / "pkg" / ".gitattributes").write_text("* filter=x\n")
    (sdist / "pkg" / "__init__.py").write_text("def f(d):\n    return d.get('a', 1)\n")
    (sdist / "pkg" / "leak.py").symlink_to("/etc/hostname")
    (sdist / "tests").mkdir()
    (sdist / "tests" / "test_f.py").write_text("from pkg import f\n\ndef test_f():\n    assert f({}) == 1\n")
    package = mutation.Package("pkg", "1.0", code=("pkg",), tests=("tests",))
    repo = tmp_path / "repo"
    mutation.base_repo(package, sdist, repo)
    assert sorted(mutation.code_sources(package, repo)) == ["pkg/__init__.py"]
    for name in (".git", ".gitattributes", "leak.py"):
        assert not (repo / "pkg" / name).exists() and not (repo / "pkg" / name).is_symlink()
    assert (repo / "tests" / "test_f.py").is_file() and (repo / ".git").is_dir()


def test_first_traceback_starts_at_the_repo() -> None:
    output = (
        "Traceback (most recent call last):\n"
        '  File "/opt/venv/lib/python3.11/site-packages/_pytest/runner.py", line 361, in from_call\n'
        "    result = func()\n"
        '  File "/work/test_m.py", line 4, in test_x\n'
        "    f('1')\n"
        '  File "/work/m.py", line 2, in f\n'
        "    return abs(x)\n"
        "TypeError: bad operand type for abs(): 'str'\n"
    )
    crash = mutation.first_traceback(output)
    assert crash is not None
    assert [f[0] for f in crash.frames] == ["/work/test_m.py", "/work/m.py"]
    assert "_pytest" not in crash.text and crash.text.startswith("Traceback (most recent call last):\n")
    assert crash.text.endswith("TypeError: bad operand type for abs(): 'str'")


def test_first_traceback_follows_a_chain_to_its_last_exception() -> None:
    output = (
        "Traceback (most recent call last):\n"
        '  File "/work/m.py", line 3, in f\n'
        "    return d['k']\n"
        "KeyError: 'k'\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/work/test_m.py", line 4, in test_x\n'
        "    f({})\n"
        '  File "/work/m.py", line 5, in f\n'
        "    raise ValueError('no k')\n"
        "ValueError: no k\n"
        "FAILED test_m.py::test_x\n"
    )
    crash = mutation.first_traceback(output)
    assert crash is not None
    assert (crash.exc_type, crash.exc_message) == ("ValueError", "no k")
    assert crash.frames[-1] == ("/work/m.py", 5, "f")
    assert "KeyError: 'k'" in crash.text and "During handling" in crash.text


def test_decline_reason_names_the_real_reason() -> None:
    assert mutation.decline_reason({"declined": "no safe repair"}) == "no safe repair"
    assert mutation.decline_reason({"error": "boom"}) == "boom"
    report = {"outcome": "no_fix", "attempts": [{"rejected_because": "2 tests newly fail"}]}
    assert mutation.decline_reason(report) == "no fix (no_fix): 2 tests newly fail"
    assert mutation.decline_reason({"outcome": "no_fix", "candidates": [{"verdict": "test still fails"}]}) == (
        "no fix (no_fix): test still fails")
    assert mutation.decline_reason({}) == "no fix (no outcome)"
