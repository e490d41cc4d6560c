"""A sqlite response cache and the backend wrapper that consults it before calling a model."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from model_calls.base import Backend, ModelRequest, ModelResponse


class CacheError(OSError):
    """The response cache file cannot be opened, read or written (a folder, a device, not sqlite, a full disk)."""


class ResponseCache:
    """Responses keyed by ``ModelRequest.key()``; failures are stored too (with their error).

    A path that cannot hold the cache, or a write that fails (a full disk), raises ``CacheError`` naming it;
    what was stored before stays stored."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        if self.path.is_dir():
            raise CacheError(f"response cache {self.path} is a folder; pass a file path (such as FOLDER/cache.sqlite)")
        if self.path.exists() and not self.path.is_file():
            raise CacheError(f"response cache {self.path} is not a regular file; pass a file path")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
        except (OSError, sqlite3.Error) as err:
            raise CacheError(f"response cache {self.path}: cannot open it ({_reason(err)})") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, response TEXT NOT NULL)"
            )
            self._db.commit()
        except sqlite3.Error as err:
            self._db.close()
            raise CacheError(f"response cache {self.path}: not a usable sqlite file ({_reason(err)})") from None

    def get(self, key: str) -> ModelResponse | None:
        try:
            with self._lock:
                row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as err:
            raise CacheError(f"response cache {self.path}: cannot read it ({_reason(err)})") from None
        if row is None:
            return None
        response = ModelResponse(**json.loads(row[0]))
        response.cached = True
        return response

    def put_many(self, responses: Sequence[ModelResponse]) -> None:
        rows = [(r.key, r.model, json.dumps({**r.to_json(), "cached": False})) for r in responses]
        try:
            with self._lock:
                self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", rows)
                self._db.commit()
        except sqlite3.Error as err:
            with self._lock:
                self._db.rollback()
            raise CacheError(
                f"response cache {self.path}: cannot store {len(rows)} replies ({_reason(err)}); "
                "finished work is kept, free space (or pass another --cache) and run again"
            ) from None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class CachedBackend:
    """Wrap a backend: answer from the cache, send each distinct miss once (in one batch), store the answers.

    Requests of one batch with the same key are sent once and every one of them gets that reply
    (the later ones marked ``cached``: no model call made them). ``retry_errors=True`` re-sends
    requests whose cached response is an error (a transient server failure should not stick
    forever); parse failures are the caller's business.
    """

    def __init__(self, backend: Backend, cache: ResponseCache, retry_errors: bool = True) -> None:
        self.backend = backend
        self.cache = cache
        self.retry_errors = retry_errors
        self.name = f"cached-{backend.name}"
        self.hits = 0  # requests answered without a model call (the cache, or a duplicate in the batch)
        self.misses = 0  # requests sent to the backend
        self.duplicates = 0  # of the hits: repeats of a request earlier in the same batch
        if hasattr(backend, "on_response"):  # a streaming backend: store each reply the moment it arrives
            backend.on_response = lambda request, response: self.cache.put_many([response])

    @property
    def calls(self) -> int:
        return self.backend.calls

    def unanswered(self, requests: Sequence[ModelRequest]) -> list[ModelRequest]:
        """The requests ``generate`` would send on (one per key): what a media prefetcher must prepare."""
        first: dict[str, ModelRequest] = {}
        for request in requests:
            key = request.key()
            if key not in first:
                hit = self.cache.get(key)
                if hit is None or (self.retry_errors and not hit.ok):
                    first[key] = request
        return list(first.values())

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        results: list[ModelResponse | None] = [None] * len(requests)
        first: dict[str, int] = {}  # key -> the index whose reply every repeat of that key gets
        repeats: list[tuple[int, int]] = []
        missing: list[int] = []
        for i, request in enumerate(requests):
            key = request.key()
            if key in first:
                repeats.append((i, first[key]))
                continue
            first[key] = i
            hit = self.cache.get(key)
            if hit is not None and not (self.retry_errors and not hit.ok):
                results[i] = hit
            else:
                missing.append(i)
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        self.duplicates += len(repeats)
        if missing:
            fresh = self.backend.generate([requests[i] for i in missing])
            if len(fresh) != len(missing):
                raise RuntimeError(f"{self.backend.name} returned {len(fresh)} responses for {len(missing)} requests")
            self.cache.put_many(fresh)
            for i, response in zip(missing, fresh, strict=True):
                results[i] = response
        for i, source in repeats:
            reply = results[source]
            results[i] = replace(reply, cached=True, usage=dict(reply.usage))
        return [r for r in results if r is not None]
