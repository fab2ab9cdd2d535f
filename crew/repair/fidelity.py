"""Is a reproduction the production crash? The one matcher every "reproduces" claim goes through.

A synthesised input that raises the right exception type for another reason (production
``'NoneType' object has no attribute 'city'``, the probe ``... attribute 'name'``) is a different
crash, and a test built on it proves nothing about the fix. So a reproduction counts only when
it raises the same exception type, in the same fault frame and on the same line, with a message
that matches production's. When it does not, :class:`~crew.handoffs.Mismatch` says which part
differed (type, frame, line or message) with both values, for the report.

Messages are compared token by token, so that only what is clearly per-request may differ:

- quoted text (attribute, key and type names, literals) must be equal, except a quoted value
  that holds digits and has the same shape once its digit-bearing runs are blanked (ids,
  timestamps, amounts: ``'order-1234'`` vs ``'order-7'``), and a secret the input builder made
  synthetic (a same-shape stand-in of the logged value);
- unquoted numbers (``index 7``, ``0x7f3a…``) may differ;
- every other word and sign must be equal.

Python's own "Did you mean: …?" suffix is added by the traceback printer, not ``str(exc)``, and is
ignored on both sides. Text from the sandbox is only compared here and shown capped in reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crew.handoffs import Diagnosis, MappedFrame, Mismatch
from crew.repair.synthetic import scrub

SHOWN = 120  # characters of a value shown in a mismatch
MESSAGE_CAP = 300  # the probe and the JUnit summary cap messages at this many characters

_SUGGESTION = re.compile(r"\.? (?:Did you mean: [^?]*|Or did you forget to import [^?]*)\?$")
_TOKEN = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[A-Za-z_]\w*|\S")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.]*")
_DIGIT_RUN = re.compile(r"[0-9A-Fa-f]*\d[0-9A-Fa-f]*")


@dataclass(frozen=True)
class Observed:
    """What a reproduction raised, as the sandbox reported it (untrusted text, compared only).

    ``function`` is None when the report does not name it (a JUnit case gives ``file:line``).
    """

    exc_type: str | None
    message: str | None
    file: str | None = None
    line: int | None = None
    function: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The matcher's answer: ``mismatch`` is None when the reproduction is the production crash."""

    mismatch: Mismatch | None
    exact_message: bool = False
    parts_matched: int = 0  # type, frame, line, message in that order: how far it got

    @property
    def matched(self) -> bool:
        return self.mismatch is None


def short_type(name: str | None) -> str:
    """``pkg.errors.Boom`` → ``Boom``: the probe and JUnit report the bare class name."""
    return (name or "").rsplit(".", 1)[-1]


def _shown(text: str | None) -> str:
    flat = "".join(c if c.isprintable() else " " for c in (text or ""))
    return flat if len(flat) <= SHOWN else flat[: SHOWN - 1] + "…"


def _first_line(text: str) -> str:
    return _SUGGESTION.sub("", (text.strip().splitlines() or [""])[0].strip())


def _per_request(want: str, got: str) -> bool:
    """Two quoted values that are the same kind of per-request value (an id, a timestamp, an amount)."""
    if _IDENTIFIER.fullmatch(want) or _IDENTIFIER.fullmatch(got):
        return False  # attribute, key, module and type names are the crash's reason: never per-request
    if not re.search(r"\d", want):
        return False  # a literal without digits ('abc', '') is what the code choked on
    return _DIGIT_RUN.sub("#", want) == _DIGIT_RUN.sub("#", got)


def _quoted_match(want: str, got: str) -> bool:
    if want == got:
        return True
    inner_want, inner_got = want[1:-1], got[1:-1]
    stand_in, changed = scrub(inner_want)
    if changed and stand_in == inner_got:
        return True  # the secret in production's value was replaced by its same-shape stand-in
    return _per_request(inner_want, inner_got)


def message_score(production: str, reproduction: str | None) -> int:
    """2: the same message; 1: the same modulo per-request values; 0: a different message."""
    want, got = _first_line(production), _first_line(reproduction or "")
    if got == want:
        return 2
    if reproduction is not None and len(reproduction) >= MESSAGE_CAP and len(want) > len(got):
        want = want[: len(got)]  # the sandbox text was capped: compare what both have, but the cut token
        want_tokens, got_tokens = _TOKEN.findall(want)[:-1], _TOKEN.findall(got)[:-1]
    else:
        want_tokens, got_tokens = _TOKEN.findall(want), _TOKEN.findall(got)
    if len(want_tokens) != len(got_tokens):
        return 0
    for a, b in zip(want_tokens, got_tokens, strict=True):
        if a == b:
            continue
        if a[:1] in "'\"" and b[:1] == a[:1] and len(a) > 1 and len(b) > 1:
            if not _quoted_match(a, b):
                return 0
        elif not (_NUMBER.fullmatch(a) and _NUMBER.fullmatch(b)):
            return 0
    return 1


def _same_path(reported: str, repo_path: str) -> bool:
    reported = reported.replace("\\", "/")
    return reported == repo_path or reported.endswith("/" + repo_path) or repo_path.endswith("/" + reported)


def fault_file_frame(diagnosis: Diagnosis) -> MappedFrame | None:
    """Production's frame the probe reports against: the last one in the fault frame's file.

    The probe names the deepest frame of its traceback in that file, so this is its counterpart.
    """
    fault = diagnosis.fault_frame
    if fault is None or fault.repo_path is None:
        return None
    same_file = [m for m in diagnosis.frames if m.repo_path == fault.repo_path]
    return same_file[-1] if same_file else fault


def raising_frame(diagnosis: Diagnosis) -> MappedFrame | None:
    """Production's deepest frame when it is repo code (a JUnit report names the deepest frame);
    None when the exception came from a library, whose lines depend on its installed version."""
    if diagnosis.library_frame is not None or not diagnosis.frames:
        return None
    last = diagnosis.frames[-1]
    return last if last.repo_path else None


def judge(observed: Observed, diagnosis: Diagnosis, frame: MappedFrame | None) -> Verdict:
    """Does ``observed`` match production: type, then ``frame`` (file, function, line), then message?

    ``frame`` is production's frame to compare with (see :func:`fault_file_frame`,
    :func:`raising_frame`); None compares no frame.
    """
    want_type, got_type = short_type(diagnosis.exc_type), short_type(observed.exc_type)
    if not got_type or got_type != want_type:
        return Verdict(Mismatch(part="type", production=_shown(want_type), reproduction=_shown(got_type or "none")))
    parts = 1
    if frame is not None and frame.repo_path is not None:
        want_where = f"{frame.repo_path} in {frame.frame.function}"
        functions = {frame.frame.function, "<module>"}
        if diagnosis.fault_frame is not None:
            functions.add(diagnosis.fault_frame.frame.function)
        if diagnosis.code_context is not None and diagnosis.code_context.function:
            functions.add(diagnosis.code_context.function)
        got_where = f"{observed.file or '?'} in {observed.function or '?'}"
        if not observed.file or not _same_path(observed.file, frame.repo_path) or (
                observed.function is not None and observed.function not in functions):
            return Verdict(Mismatch(part="frame", production=_shown(want_where), reproduction=_shown(got_where)),
                           parts_matched=parts)
        parts += 1
        if not observed.line or observed.line != frame.frame.line:
            return Verdict(Mismatch(part="line", production=f"{frame.repo_path}:{frame.frame.line}",
                                    reproduction=_shown(f"{frame.repo_path}:{observed.line or '?'}")),
                           parts_matched=parts)
        parts += 1
    score = message_score(diagnosis.exc_message, observed.message)
    if score == 0:
        return Verdict(Mismatch(part="message", production=_shown(_first_line(diagnosis.exc_message)),
                                reproduction=_shown(_first_line(observed.message or ""))), parts_matched=parts)
    return Verdict(None, exact_message=score == 2, parts_matched=parts + 1)


def describe(mismatch: Mismatch) -> str:
    """One line for the report: ``message differs: production '…', reproduction '…'``."""
    return (f"{mismatch.part} differs: production {mismatch.production!r}, "
            f"reproduction {mismatch.reproduction!r}")
