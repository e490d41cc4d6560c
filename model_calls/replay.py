"""The ``replay`` backend (answers from a recorded JSONL file) and the recorder that writes one.

A recording line: ``{"key", "alt_key", "model", "prompt_version", "text", "error"}``. ``key`` is
``ModelRequest.key()`` (media keyed by their bytes); ``alt_key`` keys media by their file name
instead (a clip's ``<vid_name>.mp4``), so a replay still matches when the sample's media were
re-encoded by another ffmpeg/espeak-ng build, or a clip was muxed from its frames into the build's
media folder (same clip, other bytes and folder). A request with no recording comes back as a failed
response (recorded by the stage), never as an invented answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model_calls.base import Backend, ModelRequest, ModelResponse


def _file_name(path: str) -> str:
    return Path(path).name


def alt_key(request: ModelRequest) -> str:
    """A key that names media files by their file name instead of hashing their bytes."""
    return request.key(media_id=_file_name)


class ReplayBackend:
    """Answer each request with the reply recorded for its key (or alternative key)."""

    name = "replay"
    reads_media = False  # answers by key: never opens a media file

    def __init__(self, path: str | Path | None = None, **_: Any) -> None:
        if path is None:
            raise ValueError("the replay backend needs a recording: -o path=FILE.jsonl")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"replay file {self.path} not found (record one with `crossomni build --record`)")
        self.calls = 0
        self.by_key: dict[str, dict[str, Any]] = {}
        self.by_alt: dict[str, dict[str, Any]] = {}
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    self.by_key[entry["key"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise ValueError(f"{self.path}:{number}: not a replay record") from None
                if entry.get("alt_key"):
                    self.by_alt[entry["alt_key"]] = entry
        self.misses = 0

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        self.calls += 1
        responses = []
        for request in requests:
            key = request.key()
            entry = self.by_key.get(key) or self.by_alt.get(alt_key(request))
            if entry is None:
                self.misses += 1
                responses.append(
                    ModelResponse(key, request.model, error=f"replay: no recorded reply ({request.prompt_version})")
                )
            else:
                responses.append(ModelResponse(key, request.model, text=entry.get("text"), error=entry.get("error")))
        return responses


class RecordingBackend:
    """Pass requests to ``backend`` and add every reply to a replay file (merged with what it
    already holds, rewritten sorted on ``close``; delete the file first to record afresh)."""

    def __init__(self, backend: Backend, path: str | Path) -> None:
        self.backend = backend
        self.path = Path(path)
        self.name = f"recording-{backend.name}"
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            from model_calls.store import iter_records

            self.entries = {entry["key"]: entry for entry in iter_records(self.path)}

    @property
    def calls(self) -> int:
        return self.backend.calls

    @property
    def hits(self) -> int:
        return getattr(self.backend, "hits", 0)

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        responses = self.backend.generate(requests)
        for request, response in zip(requests, responses, strict=True):
            self.entries[response.key] = {
                "key": response.key,
                "alt_key": alt_key(request),
                "model": request.model,
                "prompt_version": request.prompt_version,
                "text": response.text,
                "error": response.error,
            }
        return responses

    def close(self) -> None:
        from model_calls.store import dumps, write_atomic

        write_atomic(
            self.path, [dumps(e) for e in sorted(self.entries.values(), key=lambda e: (e["prompt_version"], e["key"]))]
        )
