"""The tools a role may call: read-only views of the repository at the deployed commit, and a
test run through the existing sandbox runner (never on the host). Every result is repository text,
so it goes back to the model quoted as untrusted data and is scanned for injected instructions."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from crew.llm.untrusted import injections, quote
from crew.repo import GitRepo

MAX_RESULT = 12_000
MAX_HITS = 40


def _spec(name: str, description: str, **props: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": {k: {"type": "string", "description": v} for k, v in props.items()},
        "required": list(props)}}}


class Toolbox:
    """The tools over one repository; ``run_test`` only when a sandbox runner is given."""

    def __init__(self, repo: GitRepo, runner: Any = None, on_injection: Callable[[str], None] | None = None) -> None:
        self.repo, self.runner = repo, runner
        self.on_injection = on_injection or (lambda _: None)
        self.calls: list[str] = []

    def specs(self) -> list[dict[str, Any]]:
        specs = [
            _spec("read_file", "Read a file of the repository at the deployed commit.", path="repo-relative path"),
            _spec("search_code", "Lines of the repository's Python files containing a literal text.",
                  text="the text to find"),
            _spec("list_callers", "Where a function or method is called, by name.", symbol="function name"),
        ]
        if self.runner is not None:
            specs.append(_spec("run_test", "Run one pytest file against the deployed code in the sandbox.",
                               path="tests/....py", code="the test file"))
        return specs

    def run(self, name: str, args: dict[str, Any]) -> str:
        self.calls.append(name)
        try:
            if name == "read_file":
                text = self._read(str(args.get("path", "")))
            elif name == "search_code":
                text = self._search(str(args.get("text", "")))
            elif name == "list_callers":
                text = self._callers(str(args.get("symbol", "")))
            elif name == "run_test" and self.runner is not None:
                text = self._run_test(str(args.get("path", "")), str(args.get("code", "")))
            else:
                return f"unknown tool {name!r}"
        except ValueError as exc:
            return f"error: {exc}"
        for hit in injections(f"tool {name}", text):
            self.on_injection(hit)
        return quote(f"tool:{name}", text[:MAX_RESULT])

    def _python_files(self) -> list[str]:
        return [p for p in self.repo.tracked_files if p.endswith(".py")]

    def _read(self, path: str) -> str:
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise ValueError("give a repo-relative path")
        text = self.repo.read(path)
        if text is None:
            raise ValueError(f"{path} is not in the repository at the deployed commit")
        return text

    def _search(self, needle: str) -> str:
        if not needle:
            raise ValueError("give a text to search for")
        hits = []
        for path in self._python_files():
            for number, line in enumerate((self.repo.read(path) or "").splitlines(), 1):
                if needle in line:
                    hits.append(f"{path}:{number}: {line.strip()}")
                    if len(hits) >= MAX_HITS:
                        return "\n".join(hits)
        return "\n".join(hits) or "no match"

    def _callers(self, symbol: str) -> str:
        name = symbol.rsplit(".", 1)[-1]
        if not name.isidentifier():
            raise ValueError("give a function name")
        hits = []
        for path in self._python_files():
            try:
                tree = ast.parse(self.repo.read(path) or "")
            except (SyntaxError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    func = node.func
                    called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(
                        func, ast.Attribute) else None
                    if called == name:
                        hits.append(f"{path}:{node.lineno}: {ast.unparse(node)[:160]}")
        return "\n".join(hits[:MAX_HITS]) or f"no call of {name}"

    def _run_test(self, path: str, code: str) -> str:
        from crew.validate import _summaries, _test_command

        if not (path.startswith("tests/") and path.endswith(".py")) or ".." in path.split("/"):
            raise ValueError("the test path must be tests/....py")
        outcome = self.runner.run(_test_command(path), None, {path: code}, 60.0)
        summary, _ = _summaries(outcome, path)
        if summary is None:
            return f"the test did not run (exit {outcome.exit_code})"
        exc = f"; raised {summary.exc_type}: {summary.exc_message}" if summary.exc_type else ""
        return f"passed {summary.passed}, failed {summary.failed}, errors {summary.errors}{exc}"
