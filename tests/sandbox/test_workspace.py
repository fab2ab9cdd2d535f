"""The repo copy: at a commit, with a patch and extra files; the checkout itself is never touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import PatchError, WorkspaceError
from sandbox.workspace import make_workspace

from .conftest import tree_digest

PATCH = """\
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,4 @@
 def div(a, b):
+    if b == 0:
+        return 0
     return a / b
"""


def test_commit_is_archived_not_the_work_tree(git_repo: tuple[Path, str]) -> None:
    repo, first = git_repo
    with make_workspace(repo, commit=first) as ws:
        assert (ws.path / "calc.py").read_text() == "def div(a, b):\n    return 0\n"
        assert not (ws.path / "tests").exists()
        assert not (ws.path / ".git").exists()


def test_patch_and_extra_files_apply_to_the_copy_only(git_repo: tuple[Path, str]) -> None:
    repo, _ = git_repo
    before = tree_digest(repo)
    extra = {"tests/test_new.py": "def test_x():\n    pass\n"}
    with make_workspace(repo, commit="HEAD", patch=PATCH, files=extra) as ws:
        assert "if b == 0" in (ws.path / "calc.py").read_text()
        assert (ws.path / "tests" / "test_new.py").is_file()
        copy = ws.path
    assert not copy.exists()  # removed on close
    assert tree_digest(repo) == before


def test_patch_that_does_not_apply_is_a_clear_error(git_repo: tuple[Path, str]) -> None:
    repo, first = git_repo
    with pytest.raises(PatchError, match="patch does not apply"):
        make_workspace(repo, commit=first, patch=PATCH)  # calc.py differs at the first commit


def test_garbage_patch_is_a_clear_error(plain_repo: Path) -> None:
    with pytest.raises(PatchError, match="patch does not apply"):
        make_workspace(plain_repo, patch="this is not a diff\n")


def test_plain_directory_is_copied_without_caches_or_venvs(plain_repo: Path) -> None:
    (plain_repo / "__pycache__").mkdir()
    (plain_repo / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (plain_repo / "venv").mkdir()
    (plain_repo / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    with make_workspace(plain_repo, patch=PATCH) as ws:
        assert sorted(p.name for p in ws.path.iterdir()) == ["calc.py", "tests"]
        assert "if b == 0" in (ws.path / "calc.py").read_text()
    assert "if b == 0" not in (plain_repo / "calc.py").read_text()


def test_git_work_tree_without_commit_includes_uncommitted_changes(git_repo: tuple[Path, str]) -> None:
    repo, _ = git_repo
    (repo / "new.py").write_text("x = 1\n")
    (repo / ".gitignore").write_text("ignored.txt\n")
    (repo / "ignored.txt").write_text("no\n")
    with make_workspace(repo) as ws:
        assert (ws.path / "new.py").is_file() and not (ws.path / "ignored.txt").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repo": "/nonexistent/healcrew-repo"}, "does not exist"),
        ({"commit": "0" * 40}, "is not in the repository"),
        ({"files": {"../escape.py": "x"}}, "inside the repo"),
        ({"files": {"/etc/passwd": "x"}}, "inside the repo"),
    ],
)
def test_bad_input_is_a_workspace_error(git_repo: tuple[Path, str], kwargs: dict[str, object], message: str) -> None:
    repo, _ = git_repo
    args: dict[str, object] = {"repo": repo, **kwargs}
    with pytest.raises(WorkspaceError, match=message):
        make_workspace(**args)  # type: ignore[arg-type]


def test_commit_on_a_plain_directory_is_refused(plain_repo: Path) -> None:
    with pytest.raises(WorkspaceError, match="needs a git repository"):
        make_workspace(plain_repo, commit="HEAD")


def test_the_container_tar_is_a_file_holding_the_copy(git_repo: tuple[Path, str]) -> None:
    import tarfile

    repo, _ = git_repo
    with make_workspace(repo, commit="HEAD") as ws:
        tar = ws.tar_file()
        assert tar.is_file() and ws.tar_file() == tar  # made once
        with tarfile.open(tar) as archive:
            assert sorted(archive.getnames()) == ["calc.py", "tests", "tests/test_calc.py"]
            assert all(m.uid == 0 and not m.uname for m in archive.getmembers())
    assert not tar.exists()


def test_executable_bits_survive_the_blob_by_blob_copy(git_repo: tuple[Path, str]) -> None:
    from .conftest import git

    repo, _ = git_repo
    (repo / "run.sh").write_text("#!/bin/sh\n")
    (repo / "run.sh").chmod(0o755)
    git(repo, "add", "run.sh")
    git(repo, "commit", "-qm", "script")
    with make_workspace(repo, commit="HEAD") as ws:
        assert (ws.path / "run.sh").stat().st_mode & 0o111
        assert not (ws.path / "calc.py").stat().st_mode & 0o111


def test_the_size_limit_is_a_parameter_too(git_repo: tuple[Path, str]) -> None:
    repo, _ = git_repo
    with pytest.raises(WorkspaceError, match="larger than the 100 byte limit"):
        make_workspace(repo, commit="HEAD", max_bytes=100)
