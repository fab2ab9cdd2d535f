"""Take secrets out of text before it leaves the process (PR body, report, prompt).

Crash logs carry whatever the service printed: request headers, connection strings, the odd
``print(os.environ)``. Everything healcrew publishes goes through :func:`redact` first.

Rules, most specific first, each replacing only the secret with ``[REDACTED:<kind>]`` (a
password inside a URL becomes ``***`` so the URL still parses):

- private key blocks, URL credentials, GitHub / Slack / AWS tokens, JWTs;
- every fixed-shape detector of the maintained ``detect-secrets`` library (Stripe, SendGrid,
  GitLab, Azure storage, npm, PyPI, Twilio, Discord, Telegram, Mailchimp, Square, Artifactory...),
  run over the whole text so that the cost stays linear; its keyword and vendor-keyword
  detectors are left out (slow, and the key/value rule below covers them) and so is its public-IP
  detector (an address is evidence, not a secret);
- what the library lacks: OpenAI ``sk-proj-``, Anthropic ``sk-ant-``, bare ``npm_`` tokens,
  Google ``AIza`` keys, Stripe keys of any length, Azure ``AccountKey``/``SharedAccessKey`` and
  SAS ``sig=``, GCP ``private_key_id``, ``Cookie:``/``Set-Cookie:`` values and a bare AWS secret
  access key (40 base64 characters with high entropy, the library's Shannon entropy);
- ``Authorization`` headers and ``Bearer <token>``;
- ``password=`` / ``secret:`` / ``token=`` / ``api_key=`` pairs (also camelCase keys such as
  ``clientSecret``), in plain text, JSON (also JSON escaped inside a log string) and Python
  reprs, and high-entropy values of keys such as ``signing_key`` or ``session``;
- the values of the environment's secret-looking variables (``*_TOKEN``, ``*_SECRET``,
  ``*_PASSWORD``, ``*_KEY``, ``*API_KEY*``, the password of a ``DATABASE_URL``).

Ordinary code is left alone: a value that is a call, a subscript, a dotted name or the key's own
name (``password=password``) is code, not a secret. Git shas, UUIDs and paths match no rule.
Redacting twice gives the same text as redacting once. :func:`find_secrets` returns the
values :func:`redact` would take out, so callers can tell whether a given text holds one.
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["redact", "redact_report", "find_secrets", "MARK"]

MARK = "[REDACTED:"

_ModelT = TypeVar("_ModelT", bound=BaseModel)


def _mark(kind: str) -> str:
    return f"{MARK}{kind}]"


def _is_redacted(value: str) -> bool:
    return value.startswith(MARK) or value in ("***", "")


# The values taken out by the current :func:`find_secrets` call (value -> kind), if any.
_FOUND: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("redact_found", default=None)


def _took(value: str, kind: str) -> str:
    """Note that ``value`` is a secret of ``kind``; return its mark."""
    found = _FOUND.get()
    if found is not None and value and not _is_redacted(value):
        found.setdefault(value, kind)
    return _mark(kind)


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character (the measure detect-secrets' entropy detectors use)."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


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
# What detect-secrets lacks (or matches too narrowly), most specific first.
_EXTRA_TOKENS: list[tuple[str, re.Pattern[str]]] = [
    ("anthropic-key", re.compile(r"\bsk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_-]{20,300}")),
    ("openai-key", re.compile(r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,300}")),
    ("stripe-key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,255}\b")),
    ("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")),
    ("sendgrid-key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}")),
    ("gitlab-token", re.compile(r"\bgl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_-]{20,1024}(?![\w-])")),
]
# ``AccountKey=…``, ``SharedAccessKey=…`` (Azure connection strings) and a SAS URL's ``sig=``.
_AZURE_KEY = re.compile(
    r"(?i)(?P<key>\b(?:AccountKey|SharedAccessKey|SharedSecret)\s*=\s*)(?P<val>[A-Za-z0-9+/]{20,255}={0,2})"
)
_AZURE_SAS = re.compile(r"(?P<key>[?&;]sig=)(?P<val>[A-Za-z0-9%+/=_-]{16,255})")
_GCP_KEY_ID = re.compile(r"(?i)(?P<key>[\\\"']*private_key_id[\\\"']*\s*[:=]\s*[\\\"']*)(?P<val>[0-9a-f]{40})")
# ``Cookie:`` / ``Set-Cookie:`` headers, in text or as a JSON/dict entry: every pair's value goes
# except the attributes of Set-Cookie.
_COOKIE = re.compile(r"(?i)(?P<key>\b(?:set-)?cookie[\\\"']*\s*[:=]\s*[\\\"']*)(?P<val>[^\n\"'\\]{1,4000})")
_COOKIE_PAIR = re.compile(r"(?P<name>[^=;,\s]+)=(?P<val>[^;,\s]*)")
_COOKIE_ATTRIBUTES = frozenset({"path", "domain", "expires", "max-age", "samesite", "priority", "version"})
# A bare AWS secret access key: 40 characters of base64, not a hex digest, with high entropy.
_BARE_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=_.-])(?P<val>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=_.-])")
_MIN_AWS_ENTROPY = 4.3


def _library_detectors() -> list[tuple[str, re.Pattern[str]]]:
    """The fixed-shape detectors of detect-secrets, with a readable mark for each."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    left_out = {"IPPublicDetector", "CloudantDetector", "IbmCosHmacDetector", "IbmCloudIamDetector",
                "SoftlayerDetector"}
    out: list[tuple[str, re.Pattern[str]]] = []
    mapping: dict[str, type] = get_mapping_from_secret_type_to_class()
    for secret_type, cls in sorted(mapping.items()):
        if not issubclass(cls, RegexBasedDetector) or cls.__name__ in left_out:
            continue
        kind = re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")
        kind = {"aws-access-key": "aws-access-key", "json-web-token": "jwt", "basic-auth-credentials": "password",
                "stripe-access-key": "stripe-key", "sendgrid-api-key": "sendgrid-key", "npm-tokens": "npm-token",
                "azure-storage-account-access-key": "azure-key", "openai-token": "openai-key"}.get(kind, kind)
        out.extend((kind, pattern) for pattern in getattr(cls, "denylist", ()))
    return out


@functools.lru_cache(maxsize=1)
def _library() -> list[tuple[str, re.Pattern[str]]]:
    return _library_detectors()


def _sub_library(kind: str) -> Callable[[re.Match[str]], str]:
    """Replace the detector's capture group (its secret) or, without one, the whole match."""

    def sub(m: re.Match[str]) -> str:
        groups = [i for i in range(1, (m.re.groups or 0) + 1) if m.group(i)]
        i = groups[-1] if groups else 0
        value = m.group(i)
        if _is_redacted(value) or MARK in value or value.startswith("*"):
            return m.group(0)
        start, end = m.start(i) - m.start(0), m.end(i) - m.start(0)
        whole = m.group(0)
        return whole[:start] + _took(value, kind) + whole[end:]

    return sub


def _sub_token(kind: str) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        return _took(m.group(0), kind)

    return sub


def _sub_keyed(kind: str) -> Callable[[re.Match[str]], str]:
    def sub(m: re.Match[str]) -> str:
        if _is_redacted(m.group("val")):
            return m.group(0)
        return f"{m.group('key')}{_took(m.group('val'), kind)}"

    return sub


def _sub_cookie(m: re.Match[str]) -> str:
    def pair(p: re.Match[str]) -> str:
        name, value = p.group("name"), p.group("val")
        if name.lower() in _COOKIE_ATTRIBUTES or len(value) < 4 or _is_redacted(value):
            return p.group(0)
        return f"{name}={_took(value, 'cookie')}"

    return m.group("key") + _COOKIE_PAIR.sub(pair, m.group("val"))


def _sub_bare_aws(m: re.Match[str]) -> str:
    value = m.group("val")
    classes = sum(bool(re.search(c, value)) for c in (r"[A-Z]", r"[a-z]", r"[0-9]"))
    if classes < 3 or re.fullmatch(r"[0-9a-fA-F]+", value) or value.startswith("/") or "//" in value:
        return value
    if _entropy(value) < _MIN_AWS_ENTROPY:
        return value
    return _took(value, "aws-secret")


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
# camelCase keys too: ``clientSecret``, ``apiKey``, ``accessToken`` (the word is still last).
# One optional prefix (never a repeated group, so matching stays linear on long words).
_PREFIX = r"(?:[A-Za-z0-9_.-]*[_.-]|[A-Za-z0-9_.-]*[a-z0-9](?-i:(?=[A-Z])))?"
_KEY = rf"{_PREFIX}{_SECRET_WORD}"
# Keys that are not always secrets (``cache_key``, ``session_count``): only a high-entropy value is.
_MAYBE_KEY = rf"{_PREFIX}(?:key|auth|session(?:[_-]?id)?|sid|signature|salt)"
_KV_ENTROPY = re.compile(
    rf"(?i)(?<![A-Za-z0-9_.\-])(?P<key>[\\\"']*{_MAYBE_KEY}[\\\"']*[ \t]*[:=][ \t]*[\\\"']*)"
    r"(?P<val>[A-Za-z0-9+/=_-]{16,500})(?![A-Za-z0-9+/=_-])"
)
_MIN_KEY_ENTROPY = 3.5
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
            return f"{m.group('kq')}{key}{m.group('kq')}{m.group('sep')}{quote}{_took(value, _kind_of_key(key))}{quote}"
    return m.group(0)


def _sub_text_kv(m: re.Match[str]) -> str:
    key, sep = m.group("key"), m.group("sep")
    kind = _kind_of_key(key)
    if m.group("dval") is not None:
        return m.group(0) if _is_redacted(m.group("dval")) else f'{key}{sep}"{_took(m.group("dval"), kind)}"'
    if m.group("sval") is not None:
        return m.group(0) if _is_redacted(m.group("sval")) else f"{key}{sep}'{_took(m.group('sval'), kind)}'"
    value, after = m.group("bare"), m.group("after")
    if _is_redacted(value) or value.startswith(("*", "<", "$", "%", "{")) or _looks_like_code(value, after, key):
        return m.group(0)
    return f"{key}{sep}{_took(value, kind)}{after}"


def _sub_entropy_kv(m: re.Match[str]) -> str:
    value = m.group("val")
    if (_entropy(value) < _MIN_KEY_ENTROPY or not re.search(r"[0-9]", value) or not re.search(r"[A-Za-z]", value)
            or re.fullmatch(r"[0-9a-f]+", value)):
        return m.group(0)  # a readable name, a number or a hex digest: evidence, not a secret
    key = m.group("key")
    word = re.sub(r"[^a-z]+$", "", key.lower())
    kind = "key" if word.endswith("key") else ("cookie" if "sess" in word or word.endswith("sid") else "secret")
    return f"{key}{_took(value, kind)}"


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
        return _took(m.group("val"), f"env:{names[m.group('val')]}")

    return pattern.sub(sub, text)


# --------------------------------------------------------------------------- API


def _sub_private_key(m: re.Match[str]) -> str:
    return _took(m.group(0), "private-key")


def _sub_url(m: re.Match[str]) -> str:
    if m.group("pw") == "***" or m.group("pw").startswith(MARK):
        return m.group(0)
    _took(m.group("pw"), "password")
    return f"{m.group('scheme')}{m.group('user')}:***@"


def _sub_bearer(m: re.Match[str]) -> str:
    tok = m.group("tok")
    # "bearer tokens" in prose is not a credential: a token has a digit or a symbol in it.
    if not re.search(r"[0-9._~+/=-]", tok):
        return m.group(0)
    return f"{m.group('word')}{m.group('sep')}{_took(tok, 'bearer')}"


def _sub_authorization(m: re.Match[str]) -> str:
    if m.group("val").lower() in ("bearer", "basic", "token", "digest", "none", "null"):
        return m.group(0)
    return f"{m.group('key')}{_took(m.group('val'), 'authorization')}"


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """Return ``text`` with every secret it holds replaced by ``[REDACTED:<kind>]``.

    ``env`` (default ``os.environ``) supplies the values of secret-looking variables, which are
    redacted wherever they appear, whatever their shape.
    """
    if not text:
        return text
    out = _PRIVATE_KEY.sub(_sub_private_key, text)
    out = _URL_CREDENTIALS.sub(_sub_url, out)
    for kind, pattern in (*_TOKENS, *_EXTRA_TOKENS):
        out = pattern.sub(_sub_token(kind), out)
    out = _AZURE_KEY.sub(_sub_keyed("azure-key"), out)
    out = _AZURE_SAS.sub(_sub_keyed("azure-sas"), out)
    out = _GCP_KEY_ID.sub(_sub_keyed("gcp-private-key-id"), out)
    for kind, pattern in _library():
        out = pattern.sub(_sub_library(kind), out)
    out = _BEARER.sub(_sub_bearer, out)
    out = _AUTHORIZATION.sub(_sub_authorization, out)
    out = _AWS_SECRET.sub(_sub_keyed("aws-secret-key"), out)
    out = _COOKIE.sub(_sub_cookie, out)
    out = _KV_QUOTED_KEY.sub(_sub_quoted_kv, out)
    out = _KV_TEXT.sub(_sub_text_kv, out)
    out = _KV_ENTROPY.sub(_sub_entropy_kv, out)
    out = _BARE_AWS_SECRET.sub(_sub_bare_aws, out)
    return _redact_env(out, os.environ if env is None else env)


def find_secrets(text: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The secret values in ``text`` (value -> kind): exactly what :func:`redact` takes out."""
    found: dict[str, str] = {}
    token = _FOUND.set(found)
    try:
        redact(text, env)
    finally:
        _FOUND.reset(token)
    return found


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
