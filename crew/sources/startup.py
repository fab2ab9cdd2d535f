"""Start-up failures that print no traceback.

A service that dies before it serves often says why in one line: a settings validation
error, a missing environment variable, a CLI option it rejects, a server that cannot import
the app. The patterns are deliberately narrow (each is the literal wording of the tool that
prints it) so that an ordinary error line of a running service is not mistaken for one;
a bare ``KeyError: 'X'`` is *not* recognised, as it is as often a data bug as a config one.

Recognised, most specific first (the ``reason`` given in the ``Termination``):

- ``config_validation``  pydantic / pydantic-settings: ``1 validation error for Settings``
  (a model named like settings/config/env) followed by the field and ``Field required`` /
  ``Input should be ...``; a validation error of a data model is not a start-up failure
- ``missing_env``        ``environment variable X is not set`` / ``missing environment
  variable X`` / ``X environment variable is required`` and close variants
- ``import_error``       a lone ``ModuleNotFoundError: No module named 'x'`` or
  ``ImportError: cannot import name 'x'``
- ``asgi_app``           uvicorn ``Error loading ASGI app. ...``
- ``wsgi_app``           gunicorn ``Failed to find attribute 'app' in 'main'.``,
  ``App failed to load.``, ``Worker failed to boot.``
- ``bad_cli_option``     click/typer ``Error: Invalid value for '--port'``, ``Error: Missing
  option``, ``Error: No such option``; argparse ``prog: error: argument --port: ...``
- ``address_in_use``     ``[Errno 98] Address already in use`` (``error while attempting to bind``)
- ``exited``             ``exited with code N`` / supervisord ``exited: app (exit status N;
  not expected)`` with N != 0: the weakest signal, used only when nothing above matched;
  the lines before it are kept as the detail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from crew.handoffs import Termination
from crew.logline import LogLine

CONTEXT_BEFORE_EXIT = 5
MAX_DETAIL_LINES = 8


@dataclass(frozen=True, slots=True)
class _Pattern:
    reason: str
    regex: re.Pattern[str]


_ENV = r"[`'\"]?([A-Z][A-Z0-9_]{1,})[`'\"]?"
PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("config_validation", re.compile(
        r"\b\d+ validation errors? for [\w.]*(?:Settings|Config|Configuration|Conf|Env|Environment)\w*\b"
    )),
    _Pattern("missing_env", re.compile(
        rf"(?i:environment variable)s?:? {_ENV} (?i:is not set|not set|is missing|is required|must be set|is empty)"
        rf"|(?i:missing|required|unset) (?i:environment variable|env var)s?:? {_ENV}"
        rf"|{_ENV} (?i:environment variable|env var) (?i:is not set|not set|is missing|is required|must be set)"
    )),
    _Pattern("import_error", re.compile(
        r"\b(?:ModuleNotFoundError: No module named |ImportError: cannot import name )'[\w.]+'"
    )),
    _Pattern("asgi_app", re.compile(r"\bError loading ASGI app\b")),
    _Pattern("wsgi_app", re.compile(
        r"\bFailed to find attribute '\w+' in '[\w.]+'|\bApp failed to load\b|\bWorker failed to boot\b"
    )),
    _Pattern("bad_cli_option", re.compile(
        r"^\s*Error: (?:Invalid value for|Missing option|Missing argument|No such option|Got unexpected extra argument)"
        r"|^\S+: error: (?:argument |the following arguments are required|unrecognized arguments)"
    )),
    _Pattern("address_in_use", re.compile(
        r"\[Errno (?:98|48)\] error while attempting to bind|\bAddress already in use\b"
    )),
)
_EXITED = re.compile(r"\bexited with (?:exit )?code (-?\d+)|\bexited: \S+ \(exit status (\d+); not expected\)")


def _validation_block(lines: Sequence[LogLine], i: int) -> list[str]:
    """The pydantic error header and its field/message lines that follow it."""
    block = [lines[i].text.strip()]
    for line in lines[i + 1 : i + 1 + 2 * MAX_DETAIL_LINES]:
        text = line.text.rstrip()
        if not text.strip() or "Traceback (most recent call last)" in text:
            break
        block.append(text.strip())
        if len(block) >= MAX_DETAIL_LINES:
            break
    return block


def find_startup_failure(lines: Sequence[LogLine]) -> Termination | None:
    """The most specific start-up failure in ``lines`` (its latest occurrence), or None."""
    best: tuple[int, int] | None = None  # (pattern rank, line index)
    for index, line in enumerate(lines):
        for rank, pattern in enumerate(PATTERNS):
            if (best is None or rank <= best[0]) and pattern.regex.search(line.text):
                best = (rank, index)
                break
    if best is not None:
        rank, index = best
        pattern = PATTERNS[rank]
        if pattern.reason == "config_validation":
            detail = _validation_block(lines, index)
            if not any(re.search(r"Field required|Input should|Value error|missing", d) for d in detail[1:]):
                detail = detail[:1]
        else:
            detail = [lines[index].text.strip()]
        return Termination(kind="startup_failure", reason=pattern.reason, detail="\n".join(detail))
    return _exited(lines)


def _exited(lines: Sequence[LogLine]) -> Termination | None:
    for index in range(len(lines) - 1, -1, -1):
        m = _EXITED.search(lines[index].text)
        if m is None:
            continue
        code = int(m.group(1) or m.group(2))
        if code == 0:
            return None
        before = [ln.text.strip() for ln in lines[max(0, index - CONTEXT_BEFORE_EXIT) : index] if ln.text.strip()]
        detail = [*before, lines[index].text.strip()]
        return Termination(kind="startup_failure", reason="exited", exit_code=code, detail="\n".join(detail))
    return None
