"""Requests, responses and the backend registry of the model-call layer."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from model_calls.redaction import redact_text

# Content part types a message may carry besides text; their value is a local file path.
MEDIA_PART_TYPES = ("image", "video", "audio")


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a media file's bytes (memoised on path, size and mtime)."""
    stat = os.stat(path)  # not Path(): a build names thousands of clips, pathlib interns every part
    return _file_digest(str(path), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class ModelRequest:
    """One chat request.

    ``messages`` are OpenAI-style chat messages; a message ``content`` is a string or a list
    of parts ``{"type": "text", "text": ...}`` / ``{"type": "video"|"audio"|"image", <type>: path}``
    (plus optional ``start``/``end`` seconds on video/audio parts, or ``spans`` + ``gap`` on an audio
    part: ``model_calls.media.Spans``). ``sampling`` holds generation settings (``temperature``,
    ``max_tokens``, ``seed``, ...). ``json_schema``, when
    set, asks the backend for JSON matching it (guided decoding where supported).
    """

    model: str
    messages: tuple[dict[str, Any], ...]
    prompt_version: str = "unversioned"
    sampling: dict[str, Any] = field(default_factory=dict)
    json_schema: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    def media_paths(self) -> list[str]:
        """Every local media file the request refers to, in message order."""
        paths = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list):
                paths.extend(str(part[part["type"]]) for part in content if part.get("type") in MEDIA_PART_TYPES)
        return paths

    def key(self, media_id: Callable[[str], str] = file_digest) -> str:
        """Stable cache/replay key: model, prompt version, messages, sampling, schema and media.

        ``metadata`` (item ids, bookkeeping) is not part of the key. Media are named by
        ``media_id`` — by default the sha256 of their bytes, so a moved TVQA root keeps its cache.
        """
        messages = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, list):
                content = [
                    {**part, part["type"]: media_id(str(part[part["type"]]))}
                    if part.get("type") in MEDIA_PART_TYPES
                    else part
                    for part in content
                ]
            messages.append({**message, "content": content})
        payload = {
            "model": self.model,
            "prompt_version": self.prompt_version,
            "messages": messages,
            "sampling": self.sampling,
            "json_schema": self.json_schema,
        }
        canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class ModelResponse:
    """A backend's answer to one request: ``text`` on success, ``error`` on failure (never both empty)."""

    key: str
    model: str
    text: str | None = None
    error: str | None = None
    cached: bool = False
    usage: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.error:  # an error message may quote the server's URL with its password: kept out of every file
            self.error = redact_text(self.error)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Backend(Protocol):
    """A batched model caller. ``generate`` returns one response per request, in order.

    Errors of single requests come back as responses with ``error`` set; only a failure of
    the backend itself (cannot load the model, server unreachable after retries) raises.
    """

    name: str
    calls: int  # number of batched backend invocations made (the batching property is tested on it)

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]: ...
