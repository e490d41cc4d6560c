"""Keep secrets out of what the project writes: build.json, release.json, report.*, run.json, cards, logs.

Backend options are where users put credentials (``api_key``, ``headers``, ``token``...). Every
writer of settings passes them through ``redact`` first; the value is replaced, the key is kept so
a reader still sees that one was set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
# A key is secret when one of its words is one of these (``max_tokens`` is not: its word is "tokens").
SECRET_WORDS = frozenset(
    {"token", "authorization", "auth", "headers", "header", "password", "passwd", "secret", "cookie", "credentials"}
)
# ... or when it contains one of these word pairs (``api_key``, ``x-api-key``, ``aws_secret_access_key``).
SECRET_PAIRS = ("api_key", "apikey", "access_key", "private_key", "secret_key", "session_key", "bearer")


def is_secret_key(key: Any) -> bool:
    """Whether a settings key names a credential (case-insensitive; ``-``, ``.`` and camelCase split words)."""
    if not isinstance(key, str):
        return False
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
    words = [word for word in re.split(r"[^a-z0-9]+", snake) if word]
    joined = "_".join(words)
    return any(word in SECRET_WORDS for word in words) or any(pair in joined or pair in snake for pair in SECRET_PAIRS)


def redact(value: Any) -> Any:
    """A copy of ``value`` (mappings, lists, tuples at any depth) with every secret key's value replaced."""
    if isinstance(value, Mapping):
        return {key: REDACTED if is_secret_key(key) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(item) for item in value) if isinstance(value, tuple) else [redact(v) for v in value]
    return value
