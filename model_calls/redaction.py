"""Keep secrets out of what the project writes: build.json, release.json, report.*, run.json, cards, logs.

Backend options are where users put credentials (``api_key``, ``headers``, ``token``...). Every
writer of settings passes them through ``redact`` first; the value is replaced, the key is kept so
a reader still sees that one was set. Text carries them too: the password of a URL
(``http://user:pw@host``), a query parameter named like a secret (``?api_key=...``), a ``KEY=VALUE``
or ``Bearer ...`` in a message. ``redact_text`` replaces those, and ``redact`` applies it to every
string it meets.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
SHOWN_CHARS = 80  # the most of a value an error message shows
# A key is secret when one of its words is one of these (``max_tokens`` is not: its word is "tokens").
SECRET_WORDS = frozenset(
    {
        "token",
        "authorization",
        "auth",
        "headers",
        "header",
        "password",
        "passwd",
        "pwd",
        "secret",
        "cookie",
        "credentials",
    }
)
# ... or when it contains one of these word pairs (``api_key``, ``x-api-key``, ``aws_secret_access_key``).
SECRET_PAIRS = ("api_key", "apikey", "access_key", "private_key", "secret_key", "session_key", "bearer")
# Words that make a URL query parameter (or a KEY=VALUE in text) secret besides those: ``?key=``, ``&sig=``,
# ``X-Amz-Signature``, ``X-Amz-Credential``, ``?pass=``.
QUERY_SECRET_WORDS = frozenset({"key", "sig", "signature", "credential", "pass", "sas"})
# scheme://USERINFO@host: the userinfo runs to the last "@" of the authority (what URL parsers send);
# a userinfo with a colon ends at the last "@" before any space or "?" (a password holding "/" or "#").
# Every part is bounded or split at a fixed character, so the patterns stay linear on hostile text.
_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://)(?P<userinfo>[^\s/?#]*@|[^\s@?=:]*:[^\s@?=]*@)"
)
_KEY_VALUE = re.compile(
    r"(?P<name>(?<![\w.-])[A-Za-z_][\w.-]*)(?P<eq>=|%3[dD])(?P<value>'[^']*'?|\"[^\"]*\"?|[^\s&#;'\"]+)"
)
# a quoted mapping entry in a message ('api_key': 'sk-...', "token": "...")
_QUOTED_ITEM = re.compile(
    r"(?P<q>['\"])(?P<name>[A-Za-z_][\w.-]*)(?P=q)(?P<sep>\s*:\s*)(?P<vq>['\"])(?:\\.|(?!(?P=vq))[^\\]){0,2000}(?P=vq)"
)
_BEARER = re.compile(r"(?P<scheme>\b(?:Bearer|Basic|Token)\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})", re.IGNORECASE)


def is_secret_key(key: Any) -> bool:
    """Whether a settings key names a credential (case-insensitive; ``-``, ``.`` and camelCase split words)."""
    if not isinstance(key, str):
        return False
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
    words = [word for word in re.split(r"[^a-z0-9]+", snake) if word]
    joined = "_".join(words)
    return any(word in SECRET_WORDS for word in words) or any(pair in joined or pair in snake for pair in SECRET_PAIRS)


def _words(key: str) -> list[str]:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
    return [word for word in re.split(r"[^a-z0-9]+", snake) if word]


def is_secret_parameter(name: str) -> bool:
    """Whether a URL query parameter (or a ``KEY=VALUE`` in text) names a credential: a secret key, or
    one of whose words is in ``QUERY_SECRET_WORDS`` (``key``, ``sig``, ``X-Amz-Signature``...)."""
    return is_secret_key(name) or any(word in QUERY_SECRET_WORDS for word in _words(name))


def _key_value(match: re.Match[str]) -> str:
    if not is_secret_parameter(match["name"]):
        return match[0]
    quote = match["value"][0] if match["value"][0] in "'\"" else ""
    return f"{match['name']}{match['eq']}{quote}{REDACTED}{quote}"


def _quoted_item(match: re.Match[str]) -> str:
    if not is_secret_parameter(match["name"]):
        return match[0]
    return f"{match['q']}{match['name']}{match['q']}{match['sep']}{match['vq']}{REDACTED}{match['vq']}"


def redact_text(text: str) -> str:
    """``text`` with the credentials it carries replaced: URL userinfo (``http://<redacted>@host``), secret
    query parameters and ``KEY=VALUE`` pairs (``?api_key=<redacted>``), ``Bearer``/``Basic`` values.

    >>> redact_text("http://bob:pw@host:8000/v1?api_key=sk-1&model=m")
    'http://<redacted>@host:8000/v1?api_key=<redacted>&model=m'
    """
    if "@" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    if "=" in text or "%3" in text:
        text = _KEY_VALUE.sub(_key_value, text)
    if ":" in text and ("'" in text or '"' in text):
        text = _QUOTED_ITEM.sub(_quoted_item, text)
    if " " in text or "\t" in text:
        text = _BEARER.sub(lambda m: f"{m['scheme']}{REDACTED}", text)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` (mappings, lists, tuples at any depth) with every secret key's value replaced and
    every string passed through ``redact_text``."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: REDACTED if is_secret_key(key) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value) if isinstance(value, tuple) else [redact(v) for v in value]
    return value


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters and redacted, for error messages: a value read from a file
    may be huge (with YAML aliases, a structure that would take gigabytes to print) or hold a credential."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = limit
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 8
    short.maxlevel = 4
    try:
        text = short.repr(value)
    except RecursionError:
        text = f"<a recursive {type(value).__name__}>"
    text = redact_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
