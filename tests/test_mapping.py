"""Frame-to-repo mapping: container prefixes, library frames, name clashes."""

from __future__ import annotations

import pytest

from crew.handoffs import Frame
from crew.mapping import RepoIndex, is_library_path, map_frames

REPO = [
    "app/__init__.py", "app/main.py", "app/pricing.py", "app/utils.py", "utils.py",
    "worker/tasks.py", "tests/test_pricing.py", "README.md", "vendor/requests/api.py",
]


def frame(path: str, line: int = 1, fn: str = "f") -> Frame:
    return Frame(file=path, line=line, function=fn)


@pytest.mark.parametrize(
    "path",
    [
        "/usr/local/lib/python3.11/site-packages/starlette/routing.py",
        "/app/.venv/lib/python3.12/site-packages/fastapi/routing.py",
        "/usr/lib/python3/dist-packages/yaml/__init__.py",
        "/usr/local/lib/python3.11/_strptime.py",
        "<frozen importlib._bootstrap>",
        "<string>",
        "C:\\Python311\\Lib\\site-packages\\flask\\app.py",
        "/opt/venv/lib/python3.11/site-packages/requests/api.py",
    ],
)
def test_library_paths_are_set_aside(path: str) -> None:
    assert is_library_path(path)
    [mapped] = map_frames([frame(path)], RepoIndex(REPO))
    assert mapped.is_library and mapped.repo_path is None


@pytest.mark.parametrize(
    ("container_path", "expected"),
    [
        ("/app/app/pricing.py", "app/pricing.py"),
        ("/srv/pricing/app/pricing.py", "app/pricing.py"),
        ("/usr/src/app/app/main.py", "app/main.py"),
        ("app/main.py", "app/main.py"),
        ("/home/runner/work/svc/svc/worker/tasks.py", "worker/tasks.py"),
    ],
)
def test_container_prefixes_map_by_suffix(container_path: str, expected: str) -> None:
    [mapped] = map_frames([frame(container_path)], RepoIndex(REPO))
    assert mapped.repo_path == expected
    assert not mapped.is_library


def test_name_clash_is_resolved_by_the_prefix_learned_from_other_frames() -> None:
    frames = [frame("/srv/svc/app/main.py"), frame("/srv/svc/utils.py")]
    mapped = map_frames(frames, RepoIndex(REPO))
    assert [m.repo_path for m in mapped] == ["app/main.py", "utils.py"]
    frames = [frame("/srv/svc/app/main.py"), frame("/srv/svc/app/utils.py")]
    assert map_frames(frames, RepoIndex(REPO))[1].repo_path == "app/utils.py"


def test_name_clash_with_a_common_container_prefix() -> None:
    mapped = map_frames([frame("/app/app/main.py"), frame("/app/utils.py")], RepoIndex(REPO))
    assert [m.repo_path for m in mapped] == ["app/main.py", "utils.py"]
    assert "disambiguated" in mapped[1].note


def test_ambiguous_name_without_any_prefix_hint_picks_the_shortest_and_says_so() -> None:
    [mapped] = map_frames([frame("/opt/x/utils.py")], RepoIndex(["a/utils.py", "b/c/utils.py"]))
    assert mapped.repo_path == "a/utils.py"
    assert "ambiguous" in mapped.note


def test_unknown_file_is_neither_mapped_nor_library() -> None:
    [mapped] = map_frames([frame("/app/other/thing.py")], RepoIndex(REPO))
    assert mapped.repo_path is None and not mapped.is_library


def test_vendored_copy_in_site_packages_stays_library() -> None:
    [mapped] = map_frames(
        [frame("/usr/local/lib/python3.11/site-packages/requests/api.py")], RepoIndex(REPO)
    )
    assert mapped.is_library


def test_non_python_files_are_not_candidates() -> None:
    [mapped] = map_frames([frame("/app/README.md")], RepoIndex(REPO))
    assert mapped.repo_path is None
