"""Entries for reproduction: the fault function first, then its callers up to the outermost repo frame."""

from __future__ import annotations

from pathlib import Path

from crew.agents.diagnostic import diagnose
from crew.handoffs import CrashEvidence, CrashGroup, Frame, Traceback
from crew.repair.entry_points import find_targets
from crew.repo import GitRepo
from tests.repair.helpers import line_of, make_repo

ORDERS = '''def fmt(amount: float, currency: str) -> str:
    return f"{amount:.2f} {currency}"


def footer(order: dict) -> str:
    return "total " + fmt(order["currency"], order["amount"])


def render(order: dict) -> str:
    return footer(order).upper()


def handle(order: dict) -> str:
    return render(order)


def by_field(name: str):
    def key(record: dict) -> str:
        return record[name].lower()
    return key
'''
MAIN = "from app.orders import handle\n\nhandle({'currency': 'EUR', 'amount': 2.5})\n"
GUARDED = ("from app.orders import handle\n\n"
           "if __name__ == '__main__':\n    handle({'currency': 'EUR', 'amount': 2.5})\n")


def _diagnose(repo: GitRepo, frames: list[tuple[str, str, str]]):
    built = [Frame(file=f"/app/{path}", line=line_of(repo, path, marker), function=function, code=marker)
             for path, function, marker in frames]
    message = "Unknown format code 'f' for object of type 'str'"
    raw = "Traceback (most recent call last):\n" + "\n".join(
        f'  File "{f.file}", line {f.line}, in {f.function}' for f in built) + f"\nValueError: {message}"
    tb = Traceback(exc_type="ValueError", exc_message=message, frames=built, raw=raw)
    group = CrashGroup(signature="s", exc_type="ValueError", exc_message=message, count=1, example=0)
    evidence = CrashEvidence(incident_id="t", source="test", tracebacks=[tb], groups=[group],
                             log_excerpt=raw.splitlines())
    return diagnose(evidence, repo)


CHAIN = [("app/orders.py", "handle", "return render(order)"), ("app/orders.py", "render", "return footer(order)"),
         ("app/orders.py", "footer", 'return "total "'), ("app/orders.py", "fmt", "return f\"{amount")]


def test_the_fault_function_first_then_the_outermost_caller_then_the_ones_between(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app/__init__.py": "", "app/orders.py": ORDERS, "main.py": MAIN})
    diagnosis = _diagnose(repo, [("main.py", "<module>", "handle({"), *CHAIN])
    targets = find_targets(diagnosis, repo)
    assert [(t.function, t.depth) for t in targets] == [("fmt", 0), ("handle", 3), ("footer", 1), (None, 4)]
    assert targets[-1].module == "main"  # last: importing the module whose top-level code started the chain


def test_a_limit_keeps_the_nearest_and_the_outermost(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app/__init__.py": "", "app/orders.py": ORDERS, "main.py": MAIN})
    diagnosis = _diagnose(repo, [("main.py", "<module>", "handle({"), *CHAIN])
    assert [t.function for t in find_targets(diagnosis, repo, limit=2)] == ["fmt", "handle", None]
    assert [t.function for t in find_targets(diagnosis, repo, limit=1)] == ["fmt", None]


def test_a_script_guarded_by_main_is_not_an_entry(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app/__init__.py": "", "app/orders.py": ORDERS, "main.py": GUARDED})
    diagnosis = _diagnose(repo, [("main.py", "<module>", "    handle({"), *CHAIN])
    assert all(t.function is not None for t in find_targets(diagnosis, repo))


def test_a_closure_is_entered_through_its_caller(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app/__init__.py": "", "app/orders.py": ORDERS})
    diagnosis = _diagnose(repo, [("app/orders.py", "render", "return footer(order)"),
                                 ("app/orders.py", "key", "return record[name]")])
    assert [(t.function, t.depth) for t in find_targets(diagnosis, repo)] == [("render", 1)]


def test_an_import_time_crash_is_entered_by_importing_the_module(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"app/__init__.py": "", "app/orders.py": ORDERS, "main.py": MAIN})
    diagnosis = _diagnose(repo, [("main.py", "<module>", "handle({")])
    targets = find_targets(diagnosis, repo)
    assert [(t.module, t.function) for t in targets] == [("main", None)]
