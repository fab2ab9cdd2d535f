"""UTF-8 reads of legacy latin-1 data: decode UTF-8 first, latin-1 only when the bytes are not UTF-8."""

from __future__ import annotations

import ast
import difflib
from pathlib import Path

import pytest

from crew.repair.candidates import Candidate
from crew.repair.templates import encoding
from tests.repair.helpers import by_strategy, crash, crashes, make_repo, result

LOADER = '''"""Product names from the data folder."""

from pathlib import Path

DATA = Path("data")


def load_names(filename: str) -> list[str]:
    text = open(DATA / filename, encoding="utf-8").read()
    return [line.strip() for line in text.splitlines() if line.strip()]


def load_text(filename):
    return (DATA / filename).read_text(encoding='utf-8')


def load_raw(filename):
    with open(DATA / filename, "rb") as fh:
        blob = fh.read()
    return blob.decode("utf-8")


def load_mode(filename):
    return open(DATA / filename, mode="r", encoding="utf-8").read()
'''
MESSAGE = "'utf-8' codec can't decode byte 0xe9 in position 3: invalid continuation byte"
SETUP = "from catalog.loader import load_names, load_text, load_raw, load_mode"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    make_repo(root, {"catalog/__init__.py": "", "catalog/loader.py": LOADER, "data/utf8.txt": "Crème\nNaïve\n"})
    (root / "data" / "legacy.txt").write_bytes("Café crème\nPâté\n".encode("latin-1"))
    (root / "data" / "crlf.txt").write_bytes("Café\r\nPâté\r\n".encode("latin-1"))
    (root / "data" / "crlf8.txt").write_bytes("Crème\r\nNaïve\r\n".encode())
    return root


def _diff(cand: Candidate) -> tuple[list[str], list[str]]:
    edit = cand.edits[0]
    rows = list(difflib.unified_diff(edit.original.splitlines(), edit.updated.splitlines(), lineterm="", n=0))
    removed = [r[1:] for r in rows if r.startswith("-") and not r.startswith("---")]
    added = [r[1:] for r in rows if r.startswith("+") and not r.startswith("+++")]
    return removed, added


def _fallback(root: Path, marker: str) -> Candidate:
    from crew.repo import GitRepo

    ctx = crash(GitRepo(root), "catalog/loader.py", marker, "UnicodeDecodeError", MESSAGE)
    cands = encoding.generate(ctx)
    assert cands[0].strategy == "decode-utf8-then-latin1" and cands[0].score >= 0.8
    updated = cands[0].edits[0].updated
    assert 'errors="replace"' not in updated and "errors='replace'" not in updated and "ignore" not in updated
    assert "except" not in updated  # the bytes are tested, the error is never caught
    ast.parse(cands[0].edits[0].updated)
    return cands[0]


def test_open_read_decodes_utf8_first_then_latin1(catalog: Path, tmp_path: Path) -> None:
    from crew.repo import GitRepo

    repo = GitRepo(catalog)
    cand = _fallback(catalog, 'open(DATA / filename, encoding="utf-8")')
    removed, added = _diff(cand)
    assert removed == ['    text = open(DATA / filename, encoding="utf-8").read()']
    assert added == [
        "", "",
        "def _decode_file_text(data: bytes) -> str:",
        '    """A text file\'s content: UTF-8, or latin-1 for a legacy file that is not valid UTF-8."""',
        '    text = data.decode("utf-8", errors="surrogateescape")',
        '    if text.encode("utf-8", errors="surrogatepass") != data:  # some bytes are not UTF-8',
        '        text = data.decode("latin-1")',
        '    return text.replace("\\r\\n", "\\n").replace("\\r", "\\n")  # newlines as text mode reads them',
        "",
        '    text = _decode_file_text(open(DATA / filename, "rb").read())',
    ]
    assert cand.edits[0].updated.count("def _decode_file_text") == 1
    assert "from pathlib import Path\n\n\ndef _decode_file_text" in cand.edits[0].updated
    assert "\n\n\nDATA = " in cand.edits[0].updated  # two blank lines after the helper, as before the code
    assert crashes(repo, None, "load_names('legacy.txt')", tmp_path, SETUP) is not None
    assert result(repo, cand, "load_names('legacy.txt')", tmp_path, SETUP) == ["Café crème", "Pâté"]
    for name in ("utf8.txt", "crlf8.txt"):  # UTF-8 files read exactly as before, newlines too
        call = f"load_names('{name}')"
        assert result(repo, cand, call, tmp_path, SETUP) == result(repo, None, call, tmp_path, SETUP)
    assert result(repo, cand, "load_names('crlf.txt')", tmp_path, SETUP) == ["Café", "Pâté"]


def test_text_mode_newlines_are_kept(catalog: Path, tmp_path: Path) -> None:
    from crew.repo import GitRepo

    repo = GitRepo(catalog)
    cand = _fallback(catalog, "read_text(encoding='utf-8')")
    removed, added = _diff(cand)
    assert removed == ["    return (DATA / filename).read_text(encoding='utf-8')"]
    assert added[-1] == "    return _decode_file_text((DATA / filename).read_bytes())"
    assert "text = data.decode('latin-1')" in cand.edits[0].updated  # the file's quotes
    assert result(repo, cand, "load_text('crlf8.txt')", tmp_path, SETUP) == result(
        repo, None, "load_text('crlf8.txt')", tmp_path, SETUP) == "Crème\nNaïve\n"
    assert result(repo, cand, "load_text('crlf.txt')", tmp_path, SETUP) == "Café\nPâté\n"
    cand = _fallback(catalog, 'mode="r", encoding="utf-8"')
    assert _diff(cand)[1][-1] == '    return _decode_file_text(open(DATA / filename, mode="rb").read())'
    assert result(repo, cand, "load_mode('legacy.txt')", tmp_path, SETUP) == "Café crème\nPâté\n"
    assert result(repo, cand, "load_mode('utf8.txt')", tmp_path, SETUP) == "Crème\nNaïve\n"


def test_bytes_decode_and_the_helper_is_added_once(catalog: Path, tmp_path: Path) -> None:
    from crew.repo import GitRepo

    repo = GitRepo(catalog)
    cand = _fallback(catalog, 'return blob.decode("utf-8")')
    removed, added = _diff(cand)
    assert removed == ['    return blob.decode("utf-8")']
    assert added[-1] == "    return _decode_text(blob)"
    assert ".replace(" not in cand.edits[0].updated  # bytes.decode translates no newlines
    assert result(repo, cand, "load_raw('legacy.txt')", tmp_path, SETUP) == "Café crème\nPâté\n"
    assert result(repo, cand, "load_raw('crlf8.txt')", tmp_path, SETUP) == "Crème\r\nNaïve\r\n"  # bytes as they are
    # A second crash in the patched module reuses the helper instead of adding another.
    again = tmp_path / "again"
    make_repo(again, {"catalog/__init__.py": "", "catalog/loader.py": cand.edits[0].updated.replace(
        "def load_mode(filename):", "def load_other(blob):\n    return blob.decode()\n\n\ndef load_mode(filename):")})
    ctx = crash(GitRepo(again), "catalog/loader.py", "return blob.decode()", "UnicodeDecodeError", MESSAGE)
    second = by_strategy(encoding.generate(ctx), "decode-utf8-then-latin1")
    assert second.edits[0].updated.count("def _decode_text(") == 1
    removed, added = _diff(second)
    assert removed == ["    return blob.decode()"] and added == ["    return _decode_text(blob)"]


def test_data_that_is_not_text_gets_no_fallback(catalog: Path) -> None:
    from crew.repo import GitRepo

    for message in ("'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",  # UTF-16 BOM
                    "'utf-8' codec can't decode byte 0x8b in position 1: invalid start byte"):  # gzip
        ctx = crash(GitRepo(catalog), "catalog/loader.py", 'return blob.decode("utf-8")', "UnicodeDecodeError",
                    message)
        assert "decode-utf8-then-latin1" not in [c.strategy for c in encoding.generate(ctx)]


def test_the_helper_decodes_utf8_exactly_and_only_falls_back_for_invalid_bytes(catalog: Path) -> None:
    import random

    cand = _fallback(catalog, 'return blob.decode("utf-8")')
    tree = ast.parse(cand.edits[0].updated)
    helper = next(s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "_decode_text")
    space: dict[str, object] = {}
    exec(compile(ast.Module(body=[helper], type_ignores=[]), "helper", "exec"), space)
    decode = space["_decode_text"]
    assert callable(decode)
    rng = random.Random(7)
    samples = [b"", "Crème \U0001f600 \ufffd".encode(), "Café".encode("latin-1"), b"\xed\xa0\x80", b"a\xc3"]
    samples += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 12))) for _ in range(3000)]
    for data in samples:
        try:
            expected = data.decode("utf-8")
        except UnicodeDecodeError:
            expected = data.decode("latin-1")
        assert decode(data) == expected, data
