"""Attack: symbolic links in a repository, a patch or an example tree reach host files.

healcrew reads and writes repo paths on the host as root. A link the repository (or a patch)
controls must never make it write a host file, read one into the copy, commit one, or crash.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from crew.errors import BadInputError
from crew.history import materialize
from sandbox.errors import PatchError, WorkspaceError
from sandbox.workspace import make_workspace
from tests.e2e_helpers import commit_repo

HOST_SECRET = "root:$6$host-secret-hash:19000:0:99999:7:::\n"
HISTORY = "commits:\n  - message: first\n    author: Dev <dev@example.com>\n    date: 2024-01-02T03:04:05+00:00\n"


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    """Stands in for /etc/shadow: a file outside every repo that nothing may read or change."""
    secret = tmp_path / "host" / "shadow"
    secret.parent.mkdir()
    secret.write_text(HOST_SECRET)
    return secret


def _link_patch(path: str, target: str) -> str:
    return (f"diff --git a/{path} b/{path}\nnew file mode 120000\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n")


def _all_text(root: Path) -> str:
    out = []
    for top, _, files in os.walk(root):
        for name in files:
            path = Path(top) / name
            if path.is_file():
                out.append(path.read_text(errors="replace"))
    return "".join(out)


def test_extra_files_are_never_written_through_a_link_the_patch_created(tmp_path: Path, host_file: Path) -> None:
    repo = commit_repo(tmp_path / "svc", {"app.py": "x = 1\n"}, "first")
    patch = _link_patch("tests/test_regression.py", str(host_file))
    with pytest.raises(PatchError, match="symbolic link"):
        make_workspace(repo, commit="HEAD", patch=patch, files={"tests/test_regression.py": "PWNED\n"})
    assert host_file.read_text() == HOST_SECRET


def test_a_patch_may_not_add_a_link_even_inside_the_tree(tmp_path: Path) -> None:
    repo = commit_repo(tmp_path / "svc", {"app.py": "x = 1\n"}, "first")
    with pytest.raises(PatchError, match="symbolic link"):
        make_workspace(repo, commit="HEAD", patch=_link_patch("alias.py", "app.py"))


def test_extra_files_are_never_written_through_a_linked_folder(tmp_path: Path, host_file: Path) -> None:
    repo = commit_repo(tmp_path / "svc", {"app.py": "x = 1\n", "tests/__init__.py": ""}, "first")
    os.symlink("tests", repo / "checks")  # an in-tree link: kept, but never written through
    subprocess.run(["git", "-C", str(repo), "add", "checks"], check=True)
    with make_workspace(repo) as ws:
        assert os.readlink(ws.path / "checks") == "tests"
        with pytest.raises(WorkspaceError, match="symbolic link"):
            from sandbox.workspace import write_files

            write_files(ws.path, {"checks/test_x.py": "x = 1\n"})
        assert not (ws.path / "tests" / "test_x.py").exists()


def test_a_tracked_absolute_link_is_skipped_with_a_note_not_a_crash(tmp_path: Path, host_file: Path) -> None:
    repo = tmp_path / "svc"
    repo.mkdir()
    os.symlink(host_file, repo / "setup.cfg")
    os.symlink("../../host/shadow", repo / "escape.txt")
    os.symlink("app.py", repo / "alias.py")
    commit_repo(repo, {"app.py": "x = 1\n"}, "first")
    with make_workspace(repo, commit="HEAD") as ws:
        assert not os.path.lexists(ws.path / "setup.cfg") and not os.path.lexists(ws.path / "escape.txt")
        assert os.readlink(ws.path / "alias.py") == "app.py"  # a link inside the tree stays a link
        assert any("setup.cfg" in note and "outside" in note for note in ws.notes)
        assert HOST_SECRET not in _all_text(ws.path)
        assert HOST_SECRET.encode() not in ws.tar_file().read_bytes()


@pytest.mark.docker
def test_a_skipped_link_is_told_in_the_run_report(tmp_path: Path, host_file: Path, docker_client: object) -> None:
    """The reviewer learns that the sandbox ran without a file the repository links to."""
    from crew.repo import GitRepo
    from crew.sandbox_runner import open_runner

    repo = tmp_path / "svc"
    repo.mkdir()
    os.symlink(host_file, repo / "setup.cfg")
    commit_repo(repo, {"app.py": "x = 1\n"}, "first")
    runner = open_runner(GitRepo(repo), "docker")
    outcome = runner.run(["python", "-c", "import app"], None, {}, timeout=60)
    assert outcome.exit_code == 0
    assert any("sandbox copy" in d and "setup.cfg" in d and "outside" in d for d in runner.policy_decisions)
    assert all(HOST_SECRET.strip() not in d for d in runner.policy_decisions)


def test_a_link_that_escapes_through_another_link_is_dropped(tmp_path: Path, host_file: Path) -> None:
    repo = tmp_path / "svc"
    (repo / "sub").mkdir(parents=True)
    os.symlink(".", repo / "sub" / "here")            # inside
    os.symlink("here/../../host/shadow", repo / "sub" / "leak")  # looks like ../host/shadow... resolves out
    commit_repo(repo, {"sub/app.py": "x = 1\n"}, "first")
    with make_workspace(repo, commit="HEAD") as ws:
        assert not os.path.lexists(ws.path / "sub" / "leak")
        assert HOST_SECRET not in _all_text(ws.path)


@pytest.mark.parametrize("mode", ["work tree", "plain directory"])
def test_links_to_host_files_do_not_reach_the_copy_of_a_work_tree(tmp_path: Path, host_file: Path,
                                                                  mode: str) -> None:
    repo = tmp_path / "svc"
    repo.mkdir()
    if mode == "work tree":
        commit_repo(repo, {"app.py": "x = 1\n", "pkg/mod.py": "y = 2\n"}, "first")
        subprocess.run(["rm", "-rf", str(repo / "pkg")], check=True)
        os.symlink(host_file.parent, repo / "pkg")  # a tracked folder swapped for a link to the host
        os.symlink(host_file.parent / "shadow", repo / "pkg2")
    else:
        (repo / "app.py").write_text("x = 1\n")
        os.symlink(host_file.parent, repo / "pkg")
    os.symlink(host_file, repo / "setup.cfg")
    with make_workspace(repo) as ws:
        assert (ws.path / "app.py").is_file()
        for name in ("setup.cfg", "pkg", "pkg2"):
            assert not os.path.lexists(ws.path / name)
        assert HOST_SECRET not in _all_text(ws.path)


def test_history_trees_never_copy_or_commit_host_files_through_links(tmp_path: Path, host_file: Path) -> None:
    tree = tmp_path / "example"
    tree.mkdir()
    (tree / ".history.yaml").write_text(HISTORY)
    (tree / "app.py").write_text("x = 1\n")
    os.symlink(host_file, tree / "leak.txt")
    with pytest.raises(BadInputError, match="leak.txt .*points outside the tree"):
        materialize(tree, tmp_path / "cache")
    os.unlink(tree / "leak.txt")
    os.symlink(host_file.parent, tree / "hostdir")  # a link to /root copied gigabytes
    with pytest.raises(BadInputError, match="hostdir .*points outside the tree"):
        materialize(tree, tmp_path / "cache")


def test_history_keeps_links_inside_the_tree_as_links(tmp_path: Path) -> None:
    tree = tmp_path / "example"
    tree.mkdir()
    (tree / ".history.yaml").write_text(HISTORY)
    (tree / "app.py").write_text("x = 1\n")
    os.symlink("app.py", tree / "alias.py")
    repo = materialize(tree, tmp_path / "cache")
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "HEAD", "alias.py"], capture_output=True,
                             text=True, check=True).stdout
    assert listing.startswith("120000 ")


def test_history_file_that_is_a_link_is_refused(tmp_path: Path, host_file: Path) -> None:
    tree = tmp_path / "example"
    tree.mkdir()
    os.symlink(host_file, tree / ".history.yaml")
    with pytest.raises(BadInputError, match="symbolic link") as caught:
        materialize(tree, tmp_path / "cache")
    assert "host-secret" not in str(caught.value)
