"""Take secrets out of text before it leaves the process (PR body, report, prompt).

Crash logs carry whatever the service printed: request headers, connection strings, the odd
``print(os.environ)``. Everything healcrew publishes goes through :func:`redact` first.

Rules, most specific first, each replacing only the secret with ``[REDACTED:<kind>]`` (a
password inside a URL becomes ``***`` so the URL still parses):

- private key blocks, URL credentials, GitHub / Slack / AWS tokens, JWTs;
- ``Authorization`` headers and ``Bearer <token>``;
- ``password=`` / ``secret:`` / ``token=`` / ``api_key=`` pairs, in plain text, JSON (also
  JSON escaped inside a log string) and Python reprs;
- the values of the environment's secret-looking variables (``*_TOKEN``, ``*_SECRET``,
  ``*_PASSWORD``, ``*_KEY``, ``*API_KEY*``, the password of a ``DATABASE_URL``).

Ordinary code is left alone: a value that is a call, a subscript, a dotted name or the key's own
name (``password=password``) is code, not a secret. Git shas, UUIDs and paths match no rule.
Redacting twice gives the same text as redacting once.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from crew.handoffs import RunReport

__all__ = ["redact", "redact_report", "MARK"]

MARK = "[REDACTED:"

_ModelT = TypeVar("_ModelT", bound=RunReport)


def _mark(kind: str) -> str:
    return f"{MARK}{kind}]"


def _is_redacted(value: str) -> bool:
    return value.startswith(MARK) or value in ("***", "")


# --------------------------------------------------------------------------- fixed-shape secrets

_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*)PRIVATE KEY-----"
    r"(?:[\s\S]*?-----END (?P=label)PRIVATE KEY-----"  # a whole block
    r"|(?:\\[nr]|\s|[A-Za-z0-9+/=:,-])*)"  # or a truncated one: up to the first other character
)
_URL_CREDENTIALS = re.compile(
    r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^\s:/?#@\[\]\"'<>]*):(?P<pw>[^\s/?#\"'<>]+)@(?=[^\s@/]+)"
)
_TOKENS: list[tuple[str, re.Pattern[str]]] = [
    ("github-token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,255}\b")),
    ("github-token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b")),
    ("slack-webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+")),
    ("slack-token", re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{10,}")),
    ("slack-token", re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}")),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
]
_BEARER = re.compile(r"(?i)\b(?P<word>bearer)(?P<sep>\s+)(?P<tok>[A-Za-z0-9._~+/=-]{8,})")
_AUTHORIZATION = re.compile(
    r"(?i)(?P<key>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:basic|token|digest|bearer)\s+)?)"
    r"(?P<val>[A-Za-z0-9._~+/=:-]{6,})"
)
_AWS_SECRET = re.compile(
    r"(?i)(?P<key>\baws_?secret(?:_?access)?_?key[\"']?\s*[:=]\s*[\"']?)(?P<val>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)

# --------------------------------------------------------------------------- key = value pairs

# The secret word must be the last component of the key: ``db_password``, ``X-Api-Key`` and
# ``access_token`` match; ``token_count`` and ``max_tokens`` do not.
_SECRET_WORD = (
    r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key"
    r"|private[_-]?key|credentials?)"
)
_KEY = rf"(?:[A-Za-z0-9]+[_.-])*{_SECRET_WORD}"
_KV_QUOTED_KEY = re.compile(
    rf"(?i)(?P<kq>\\?[\"'])(?P<key>{_KEY})(?P=kq)(?P<sep>\s*[:=]\s*)"
    r"(?:(?P<esc>\\\")(?P<eval>(?:(?!\\\").){1,500})\\\"|\"(?P<dval>(?:\\.|[^\"\\\n]){1,500})\""
    r"|'(?P<sval>(?:\\.|[^'\\\n]){1,500})')"
)
_KV_TEXT = re.compile(
    rf"(?i)(?<![A-Za-z0-9_.\-\"'])(?P<key>{_KEY})(?P<sep>[ \t]*[:=][ \t]*)"
    r"(?:\"(?P<dval>(?:\\.|[^\"\\\n]){1,500})\"|'(?P<sval>(?:\\.|[^'\\\n]){1,500})'"
    r"|(?P<bare>[^\s,;&\"'<>(){}\[\]\\]{1,500})(?P<after>[(\[]?))"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_CODE_WORDS = frozenset(
    {
        "none",
        "null",
        "true",
        "false",
        "nil",
        "undefined",
        "self",
        "cls",
        "os",
        "env",
        "str",
        "bytes",
        "int",
        "float",
        "bool",
        "dict",
        "list",
        "tuple",
        "set",
        "optional",
        "any",
        "secretstr",
        "required",
        "string",
    }
)


def _kind_of_key(key: str) -> str:
    k = key.lower()
    if re.search(r"pass|pwd", k):
        return "password"
    if re.search(r"api[_-]?key|apikey", k):
        return "api-key"
    if "token" in k:
        return "token"
    if "secret" in k:
        return "secret"
    if "private" in k or "access" in k:
        return "key"
    return "credential"


def _looks_like_code(value: str, after: str, key: str) -> bool:
    """A bare value that is a call, subscript, dotted name or keyword is code, not a secret."""
    if after:  # ``token=get_token(`` / ``password=os.environ[``
        return True
    low = value.lower()
    if low in _CODE_WORDS or _DOTTED.fullmatch(value):
        return True
    if not _IDENTIFIER.fullmatch(value):
        return False
    # ``password=password``, ``token=access_token``, ``api_key=API_KEY``, ``secret=secret_value``
    key_low = key.lower().replace("-", "_")
    word = re.split(r"[_.]", key_low)[-1]
    return low in (key_low, word) or low.endswith("_" + word) or low.startswith(word + "_")


def _sub_quoted_kv(m: re.Match[str]) -> str:
    key = m.group("key")
    for name, quote in (("eval", '\\"'), ("dval", '"'), ("sval", "'")):
        value = m.group(name)
        if value is not None:
            if _is_redacted(value):
                return m.group(0)
            return f"{m.group('kq')}{key}{m.group('kq')}{m.group('sep')}{quote}{_mark(_kind_of_key(key))}{quote}"
    return m.group(0)


def _sub_text_kv(m: re.Match[str]) -> str:
    key, sep = m.group("key"), m.group("sep")
    kind = _mark(_kind_of_key(key))
    if m.group("dval") is not None:
        return m.group(0) if _is_redacted(m.group("dval")) else f'{key}{sep}"{kind}"'
    if m.group("sval") is not None:
        return m.group(0) if _is_redacted(m.group("sval")) else f"{key}{sep}'{kind}'"
    value, after = m.group("bare"), m.group("after")
    if _is_redacted(value) or value.startswith(("*", "<", "$", "%", "{")) or _looks_like_code(value, after, key):
        return m.group(0)
    return f"{key}{sep}{kind}{after}"


# --------------------------------------------------------------------------- environment values

_SECRET_ENV_NAME = re.compile(
    r"(?i)(?:TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|_KEY$|^KEY$|API_?KEY|CREDENTIALS?$|PRIVATE_KEY|_PAT$)"
)
_URL_ENV_NAME = re.compile(r"(?i)(?:_URL|_URI|_DSN)$|^(?:DATABASE|REDIS|AMQP|BROKER|MONGO)")
_MIN_ENV_VALUE = 6


def _env_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """Secret value -> variable name, for the variables whose names look like secrets."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if not value or len(value) < _MIN_ENV_VALUE:
            continue
        if _URL_ENV_NAME.search(name):
            m = _URL_CREDENTIALS.search(value)
            if m and len(m.group("pw")) >= _MIN_ENV_VALUE - 2 and not _is_redacted(m.group("pw")):
                found.setdefault(m.group("pw"), name)
            if not _SECRET_ENV_NAME.search(name):
                continue
        if not _SECRET_ENV_NAME.search(name):
            continue
        if value.startswith(("/", "~/", "./")) or value.lower() in ("true", "false", "enabled", "disabled"):
            continue  # a path to a key file, or a switch: not the secret itself
        found.setdefault(value, name)
    return found


@functools.lru_cache(maxsize=16)
def _env_pattern(items: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    secrets = dict(items)
    if not secrets:
        return None, {}
    alternation = "|".join(re.escape(v) for v in sorted(secrets, key=len, reverse=True))
    # Existing marks are matched first and kept, so a value such as "secret" cannot eat a mark.
    return re.compile(
        rf"(?P<mark>\[REDACTED:[^\]\s]*\])|(?<![A-Za-z0-9])(?P<val>{alternation})(?![A-Za-z0-9])"
    ), secrets


def _redact_env(text: str, env: Mapping[str, str]) -> str:
    pattern, names = _env_pattern(tuple(sorted(_env_secrets(env).items())))
    if pattern is None:
        return text

    def sub(m: re.Match[str]) -> str:
        if m.group("mark"):
            return m.group(0)
        return _mark(f"env:{names[m.group('val')]}")

    return pattern.sub(sub, text)


# --------------------------------------------------------------------------- API


def _sub_private_key(m: re.Match[str]) -> str:
    return _mark("private-key")


def _sub_url(m: re.Match[str]) -> str:
    if m.group("pw") == "***" or m.group("pw").startswith(MARK):
        return m.group(0)
    return f"{m.group('scheme')}{m.group('user')}:***@"


def _keep_key(kind: str) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        return f"{m.group('key')}{_mark(kind)}"

    return sub


def _sub_bearer(m: re.Match[str]) -> str:
    tok = m.group("tok")
    # "bearer tokens" in prose is not a credential: a token has a digit or a symbol in it.
    if not re.search(r"[0-9._~+/=-]", tok):
        return m.group(0)
    return f"{m.group('word')}{m.group('sep')}{_mark('bearer')}"


def _sub_authorization(m: re.Match[str]) -> str:
    if m.group("val").lower() in ("bearer", "basic", "token", "digest", "none", "null"):
        return m.group(0)
    return f"{m.group('key')}{_mark('authorization')}"


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """Return ``text`` with every secret it holds replaced by ``[REDACTED:<kind>]``.

    ``env`` (default ``os.environ``) supplies the values of secret-looking variables, which are
    redacted wherever they appear, whatever their shape.
    """
    if not text:
        return text
    out = _PRIVATE_KEY.sub(_sub_private_key, text)
    out = _URL_CREDENTIALS.sub(_sub_url, out)
    for kind, pattern in _TOKENS:
        out = pattern.sub(_mark(kind), out)
    out = _BEARER.sub(_sub_bearer, out)
    out = _AUTHORIZATION.sub(_sub_authorization, out)
    out = _AWS_SECRET.sub(_keep_key("aws-secret-key"), out)
    out = _KV_QUOTED_KEY.sub(_sub_quoted_kv, out)
    out = _KV_TEXT.sub(_sub_text_kv, out)
    return _redact_env(out, os.environ if env is None else env)


def _walk(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return redact(value, env)
    if isinstance(value, dict):
        return {k: _walk(v, env) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            return _redact_lines(value, env)
        return [_walk(v, env) for v in value]
    if isinstance(value, tuple):
        return tuple(_walk(v, env) for v in value)
    return value


_KEY_BEGIN = re.compile(r"-----BEGIN (?P<label>[A-Z0-9 ]*)PRIVATE KEY-----")


def _redact_lines(lines: list[str], env: Mapping[str, str]) -> list[str]:
    """Redact a list of log lines, including a private key block spread over several of them.

    The list keeps its length: every line of the block becomes a mark.
    """
    out: list[str] = []
    end: str | None = None  # the END line we are waiting for, inside a block
    for line in lines:
        if end is not None:
            if end in line:
                out.append(_mark("private-key") + redact(line[line.index(end) + len(end) :], env))
                end = None
            else:
                out.append(_mark("private-key"))
            continue
        begins = list(_KEY_BEGIN.finditer(line))
        last = begins[-1] if begins else None
        if last is not None and f"-----END {last.group('label')}PRIVATE KEY-----" not in line[last.end() :]:
            end = f"-----END {last.group('label')}PRIVATE KEY-----"
        out.append(redact(line, env))
    return out


def redact_report(report: _ModelT, env: Mapping[str, str] | None = None) -> _ModelT:
    """A copy of ``report`` with :func:`redact` applied to every string in it, at any depth."""
    data = _walk(report.model_dump(), os.environ if env is None else env)
    return type(report).model_validate(data)
