"""Secrets in inputs taken from a log become synthetic values of the same shape.

A crashing input found in a log (a request body, a value quoted in the exception message) can
hold a credential; written as a literal into the regression test, it would be committed and
pushed. Before such a value goes anywhere (the probe spec, the test, the report), every secret in
it is replaced by a stand-in of the same shape: the same length, the same character class at
each position (upper, lower, digit; other characters kept), and the same well-known prefix
(``sk_live_``, ``AKIA``, ``ghp_`` ...), so code that only checks the shape still crashes the same
way. When the crash needed the real value, the synthetic one does not reproduce and the
reproduction fails honestly; the real secret is never kept as a fallback.

Where a secret is: what :func:`crew.delivery.redact.redact` replaces (with the value's key as
context when it sits in a dict), plus token-shaped strings of high entropy that mix upper case,
lower case and digits. The second rule is generous on purpose: here a false positive costs only
a same-shape stand-in, a miss costs a leaked credential.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from typing import Any

from crew.delivery.redact import redact

__all__ = ["has_secret", "scrub", "synthetic"]

# Shape markers code checks with ``startswith`` (vendor key prefixes), longest first.
_PREFIXES = sorted(
    [
        "sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_", "pk_test_", "whsec_",
        "sk-ant-api03-", "sk-ant-", "sk-proj-", "sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
        "github_pat_", "glpat-", "npm_", "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-",
        "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA", "AIza",
        "SG.", "eyJ",
    ],
    key=len, reverse=True,
)
_MARK = re.compile(r"\[REDACTED:[^\]\s]*\]|\*\*\*")
_TOKEN = re.compile(r"[A-Za-z0-9+/_.\-]{20,}={0,2}")  # "=" only as base64 padding, not key=value
_MAX_TEXT = 4000  # longer strings are replaced whole when they hold a secret


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _high_entropy(token: str) -> bool:
    """Random-looking: upper, lower and digits mixed, near the entropy of random text its length."""
    if not (re.search(r"[A-Z]", token) and re.search(r"[a-z]", token) and re.search(r"\d", token)):
        return False
    return _entropy(token) >= min(4.2, 0.9 * math.log2(len(token)))


def _redacted_spans(text: str) -> list[tuple[int, int]]:
    """Where in ``text`` the redactor replaced something (its marks located in the original)."""
    red = redact(text)
    if red == text:
        return []
    pieces = _MARK.split(red)
    if not 1 < len(pieces) <= 20:  # changed but not by a mark, or too many to place: all of it
        return [(0, len(text))]
    pattern = "(.+?)".join(re.escape(p) for p in pieces)
    match = re.fullmatch(pattern, text, re.DOTALL)
    if match is None:
        return [(0, len(text))]
    return [match.span(i) for i in range(1, len(pieces))]


def _spans(text: str) -> list[tuple[int, int]]:
    spans = _redacted_spans(text)
    spans += [m.span() for m in _TOKEN.finditer(text) if _high_entropy(m.group())]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def has_secret(text: str) -> bool:
    """True when ``text`` holds something the redactor or the entropy rule calls a secret."""
    return bool(_spans(text))


def synthetic(secret: str) -> str:
    """A stand-in of the same shape; it depends on the shape only, so it says nothing of the secret."""
    prefix = next((p for p in _PREFIXES if secret.startswith(p) and len(secret) > len(p)), "")
    body = secret[len(prefix):]
    shape = "".join("A" if c.isupper() else "a" if c.isalpha() else "9" if c.isdigit() else c for c in body)
    rng = random.Random(hashlib.sha256(f"healcrew-synthetic:{prefix}:{shape}".encode()).digest())
    out = []
    for kind in shape:
        if kind == "A":
            out.append(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        elif kind == "a":
            out.append(rng.choice("abcdefghijklmnopqrstuvwxyz"))
        elif kind == "9":
            out.append(rng.choice("0123456789"))
        else:
            out.append(kind)
    fake = prefix + "".join(out)
    if fake == secret:  # nothing to vary (only symbols), or a one-in-a-huge-number draw
        fake = prefix + "x" * len(body)
    return fake if fake != secret else "x" * len(secret)


def _scrub_text(text: str, key: str | None) -> tuple[str, bool]:
    if len(text) > _MAX_TEXT:
        return (synthetic(text), True) if has_secret(text) else (text, False)
    spans = _spans(text)
    if not spans and key is not None and text:
        context = json.dumps({key: text})
        if redact(context) != context and redact(json.dumps({key: ""})) == json.dumps({key: ""}):
            spans = [(0, len(text))]  # ``"password": "hunter2"``: the key says the whole value is secret
    if not spans:
        return text, False
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], synthetic(text[start:end])]
        last = end
    out.append(text[last:])
    return "".join(out), True


def scrub(value: Any, key: str | None = None, depth: int = 0) -> tuple[Any, bool]:
    """``value`` with every secret in its strings (dict keys too) made synthetic; and whether any was.

    ``key`` is the dict key the value sits under, which can make a plain value a secret.
    """
    if depth > 20:
        return value, False
    if isinstance(value, str):
        return _scrub_text(value, key)
    if isinstance(value, bytes):
        text, changed = _scrub_text(value.decode("latin-1"), key)
        return (text.encode("latin-1"), True) if changed else (value, False)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = False
        for k, v in value.items():
            new_k, k_changed = scrub(k, None, depth + 1)
            new_v, v_changed = scrub(v, str(k), depth + 1)
            out[new_k] = new_v
            changed = changed or k_changed or v_changed
        return out, changed
    if isinstance(value, list | tuple):
        items = [scrub(v, key, depth + 1) for v in value]
        changed = any(c for _, c in items)
        new = [v for v, _ in items]
        return (type(value)(new) if isinstance(value, tuple) else new), changed
    return value, False
