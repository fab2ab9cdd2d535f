"""Untrusted text (log lines, exception messages, file names) made inert where it is shown.

One function per place: the terminal (Rich), Markdown (the PR body) and HTML. Every one of
them first drops control characters: escape sequences (CSI, OSC hyperlinks and titles, DCS)
would otherwise drive the reader's terminal, a carriage return or backspace would overwrite
what is shown, and bidirectional overrides would reorder it (Trojan Source). Tab and newline
stay; the rest of the text is kept as written, only made literal.
"""

from __future__ import annotations

import html
import re

from rich.markup import escape as _rich_escape

__all__ = [
    "html_text", "markdown_code", "markdown_fence", "markdown_inline", "markdown_prose", "strip_controls", "terminal",
]

# ESC-introduced sequences as ECMA-48 defines them: CSI (ESC [ ... final), the string
# controls OSC/DCS/SOS/PM/APC (ESC ] P X ^ _ ... up to BEL or ST), and two-character
# escapes. Their C1 single-byte forms (U+009B CSI, U+009D OSC, ...) likewise. What a
# pattern misses loses its ESC below, which is what makes it inert.
_SEQUENCE_RE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]{0,4096}(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_KEEP = {"\t", "\n"}
# C0 and C1 controls, DEL, and the bidirectional embedding/override/isolate marks.
_CONTROLS = {
    cp: None
    for cp in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    if chr(cp) not in _KEEP
}
_WORD_JOINER = "\u2060"
# Markdown punctuation that can start emphasis, links, images, HTML, code, strikethrough,
# tables, entities or math anywhere in a line; CommonMark lets each be backslash-escaped.
_MD_SPECIAL_RE = re.compile(r"([\\`*_\[\]<>|~&$])")
# What only counts at the start of a line: headings, quotes, lists, thematic breaks, setext.
_MD_LINE_START_RE = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")
_MENTION_RE = re.compile(r"@(?=[\w-])")
_ISSUE_REF_RE = re.compile(r"#(?=\d)")
_AUTOLINK_RE = re.compile(r"(?i)(://|\bwww\.)")
_BACKTICKS_RE = re.compile(r"`+")


def strip_controls(text: str) -> str:
    """``text`` without escape sequences and control characters (tab and newline kept)."""
    if text.isprintable():
        return text
    return _SEQUENCE_RE.sub("", text).translate(_CONTROLS)


def terminal(text: object, *, markup: bool = True) -> str:
    """For the terminal: no control sequences; Rich markup escaped unless printed with ``markup=False``."""
    clean = strip_controls(str(text))
    return _rich_escape(clean) if markup else clean


def markdown_inline(text: object) -> str:
    """For Markdown prose: one line, every Markdown/HTML character literal, no @mention, no autolink.

    Mentions, issue references and bare links get a word joiner after their first character:
    invisible to a reader, but GitHub no longer notifies, cross-references or links them.
    """
    clean = " ".join(strip_controls(str(text)).split())
    clean = _AUTOLINK_RE.sub(lambda m: m.group(1)[0] + _WORD_JOINER + m.group(1)[1:], clean)
    clean = _MENTION_RE.sub("@" + _WORD_JOINER, clean)
    clean = _ISSUE_REF_RE.sub("#" + _WORD_JOINER, clean)
    clean = _MD_SPECIAL_RE.sub(r"\\\1", clean)
    return _MD_LINE_START_RE.sub(_escape_line_start, clean)


def _escape_line_start(m: re.Match[str]) -> str:
    mark = m.group(2)
    return m.group(1) + (mark[:-1] + "\\" + mark[-1] if mark[0].isdigit() else "\\" + mark)


def markdown_prose(text: object) -> str:
    """Like :func:`markdown_inline`, but the text's own single-backtick ``code`` spans stay code spans.

    healcrew's sentences quote code that way; each span is re-delimited by :func:`markdown_code`
    and everything between spans is made literal, so either way nothing renders.
    """
    parts = " ".join(strip_controls(str(text)).split()).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no spans at all
        return markdown_inline(text)
    return "".join(markdown_code(p) if i % 2 else _spaced(p) for i, p in enumerate(parts))


def _spaced(text: str) -> str:
    """``markdown_inline`` keeping the blanks that separate the text from the code spans around it."""
    if not text.strip():
        return text
    return (" " if text[0] == " " else "") + markdown_inline(text) + (" " if text[-1] == " " else "")


def markdown_code(text: object) -> str:
    """An inline code span around ``text`` (one line) that no backtick inside it can close."""
    clean = " ".join(strip_controls(str(text)).split())
    longest = max((len(m) for m in _BACKTICKS_RE.findall(clean)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if clean.startswith("`") or clean.endswith("`") or not clean.strip() else ""
    return f"{ticks}{pad}{clean}{pad}{ticks}"


def markdown_fence(text: object, lang: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside ``text``."""
    clean = strip_controls(str(text)).rstrip()
    longest = max((len(m) for m in _BACKTICKS_RE.findall(clean)), default=0)
    ticks = "`" * max(3, longest + 1)
    lang = re.sub(r"[^\w+-]", "", lang)
    return f"{ticks}{lang}\n{clean}\n{ticks}"


def html_text(text: object) -> str:
    """For HTML element content or an attribute value: no controls, ``<>&"'`` escaped."""
    return html.escape(strip_controls(str(text)), quote=True)
