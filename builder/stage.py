"""The stage runner: stream items, batch their model requests, record completion per item.

A stage is a small object with a ``name`` and either ``process(item)`` (no model) or
``requests(item)`` + ``finish(item, responses)`` (model stage). Both return
``(outputs, rejects)``: lists of JSON-able dicts; a reject carries ``reason`` (short code)
and ``detail``. The runner sends requests in batches of exactly ``batch_size`` (the last
one smaller), so a stage makes at most ``ceil(requests / batch_size)`` backend calls, and
keeps only the items of the batches in flight in memory.

With a ``MediaPrefetcher`` (``model_calls.prefetch``) the runner forms ``depth`` batches ahead of the
one with the model and has their media decoded meanwhile in worker processes; the batches, their
order and every output are the same as without it.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from model_calls.base import Backend, ModelRequest, ModelResponse
from model_calls.prefetch import MediaPrefetcher, Ticket
from model_calls.store import CompletionLog, dumps, iter_records, write_atomic, write_json_atomic

# Errors of one item's input (unreadable media, malformed file) become that item's reject;
# programming errors propagate.
ITEM_ERRORS = (OSError, ValueError, RuntimeError, EOFError)

Outputs = tuple[list[dict[str, Any]], list[dict[str, Any]]]


class Stage(Protocol):
    name: str
    unit: str


NOT_SELECTED = "not-selected"


def reject(item_id: str, reason: str, detail: str = "", **extra: Any) -> dict[str, Any]:
    """A reject record: ``reason`` is a short code counted in the report, ``detail`` says what exactly."""
    return {"id": item_id, "reason": reason, "detail": detail, **extra}


def not_selected(item_id: str, count: int, detail: str, **extra: Any) -> dict[str, Any]:
    """``count`` candidates of one item that passed every check but were not kept (a cap chose others): kept in
    ``<stage>.rejects.jsonl`` so that the report accounts for every candidate, counted apart from the rejects."""
    return reject(item_id, NOT_SELECTED, detail, count=count, dropped=False, **extra)


@dataclass
class StageStats:
    name: str
    items_in: int = 0
    outputs: int = 0
    rejects: int = 0
    resumed: int = 0
    requests: int = 0
    backend_calls: int = 0
    cache_hits: int = 0
    batch_size: int | None = None
    seconds: float = 0.0  # wall time of the stage
    model_seconds: float = 0.0  # of it, inside the backend's calls
    cpu_seconds: float = 0.0  # CPU time of this process during the stage
    media_cpu_seconds: float = 0.0  # CPU time the media workers spent on the stage's batches
    media_wait_seconds: float = 0.0  # time batches waited for their media
    media_decodes: int = 0  # decoder calls the media workers made for the stage
    reasons: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rejects that dropped their item
    not_selected: int = 0  # candidates that passed but a cap left out (``not_selected`` records' counts)
    skipped: bool = False  # finished in an earlier run

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Pending:
    item_id: str
    item: Any
    requests: list[ModelRequest]
    responses: list[ModelResponse | None]
    error: str | None = None

    @property
    def complete(self) -> bool:
        return all(r is not None for r in self.responses)


class StageRunner:
    """Runs stages into ``stages_dir``: ``<name>.log.jsonl`` while running, then ``<name>.jsonl``,
    ``<name>.rejects.jsonl`` and ``<name>.done.json``."""

    def __init__(
        self,
        stages_dir: Path,
        backend: Backend | None = None,
        progress: bool = True,
        prefetch: MediaPrefetcher | None = None,
    ) -> None:
        self.dir = stages_dir
        self.backend = backend
        self.progress = progress
        self.prefetch = prefetch
        self.dir.mkdir(parents=True, exist_ok=True)

    def output(self, name: str) -> Path:
        return self.dir / f"{name}.jsonl"

    def records(self, name: str) -> Iterable[dict[str, Any]]:
        return iter_records(self.output(name))

    def finished(self, name: str) -> bool:
        """Whether stage ``name`` finished in an earlier run (``run`` will skip it)."""
        return (self.dir / f"{name}.done.json").exists()

    def run(
        self, stage: Any, items: Iterable[tuple[str, Any]], batch_size: int | None = None, total: int | None = None
    ) -> StageStats:
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"stage {stage.name}: batch size must be a whole number >= 1, got {batch_size!r}")
        done_path = self.dir / f"{stage.name}.done.json"
        if done_path.exists():
            import json

            stats = StageStats(**{**json.loads(done_path.read_text(encoding="utf-8")), "skipped": True})
            stats.backend_calls = stats.cache_hits = stats.requests = 0
            return stats
        from tqdm.auto import tqdm

        stats = StageStats(stage.name, batch_size=batch_size)
        started, cpu_started = time.perf_counter(), time.process_time()
        prefetch = self.prefetch if self.prefetch is not None and self.prefetch.active else None
        media_before = (
            (prefetch.stats.cpu_seconds, prefetch.stats.wait_seconds, prefetch.stats.decodes) if prefetch else (0, 0, 0)
        )
        depth = prefetch.depth if prefetch else 0
        calls_before = self.backend.calls if self.backend is not None else 0
        hits_before = getattr(self.backend, "hits", 0)
        log = CompletionLog(self.dir / f"{stage.name}.log.jsonl")
        bar = tqdm(
            total=total, desc=f"{stage.name:<10}", unit=getattr(stage, "unit", "item"), disable=not self.progress
        )
        queue: deque[_Pending] = deque()
        model_stage = hasattr(stage, "requests")
        unsent: deque[tuple[_Pending, int]] = deque()
        formed: deque[tuple[list[tuple[_Pending, int]], Ticket | None]] = deque()  # batches not sent yet

        def finish_ready() -> None:
            while queue and queue[0].complete:
                entry = queue.popleft()
                if entry.error is not None:
                    outputs, rejects = [], [reject(entry.item_id, "input-error", entry.error, dropped=True)]
                elif model_stage:
                    outputs, rejects = self._guard(entry.item_id, lambda e=entry: stage.finish(e.item, e.responses))
                else:
                    outputs, rejects = self._guard(entry.item_id, lambda e=entry: stage.process(e.item))
                log.record(entry.item_id, outputs, rejects)
                stats.outputs += len(outputs)
                stats.rejects += sum(r.get("reason") != NOT_SELECTED for r in rejects)
                bar.update(1)
                bar.set_postfix(out=stats.outputs, rejects=stats.rejects, refresh=False)

        def form(count: int) -> None:
            """Cut the next batch; its media start decoding now (with a prefetcher)."""
            batch = [unsent.popleft() for _ in range(min(count, len(unsent)))]
            ticket = prefetch.submit([entry.requests[i] for entry, i in batch]) if prefetch else None
            formed.append((batch, ticket))

        def send_next() -> None:
            batch, ticket = formed.popleft()
            if self.backend is None:
                raise RuntimeError(f"stage {stage.name} makes model calls but no backend was given")
            try:
                if ticket is not None:
                    prefetch.collect(ticket)
                called = time.perf_counter()
                responses = self.backend.generate([entry.requests[i] for entry, i in batch])
                stats.model_seconds += time.perf_counter() - called
            finally:
                if ticket is not None:
                    prefetch.release(ticket)
            if len(responses) != len(batch):
                raise RuntimeError(f"backend {self.backend.name} returned {len(responses)} responses for {len(batch)}")
            stats.requests += len(batch)
            for (entry, i), response in zip(batch, responses, strict=True):
                entry.responses[i] = response
            finish_ready()
            log.sync()  # one fsync per batch

        try:
            for item_id, item in items:
                stats.items_in += 1
                if item_id in log.done:
                    stats.resumed += 1
                    bar.update(1)
                    continue
                requests: list[ModelRequest] = []
                error = None
                if model_stage:
                    try:
                        requests = stage.requests(item)
                    except ITEM_ERRORS as err:
                        error = f"{type(err).__name__}: {err}"
                entry = _Pending(item_id, item, requests, [None] * len(requests), error)
                queue.append(entry)
                unsent.extend((entry, i) for i in range(len(requests)))
                while batch_size and len(unsent) >= batch_size:
                    form(batch_size)
                    while len(formed) > depth:
                        send_next()
                finish_ready()
            while unsent:
                form(batch_size or len(unsent))
            while formed:
                send_next()
            finish_ready()
        finally:
            for _, ticket in formed:
                if ticket is not None:
                    prefetch.release(ticket)
            bar.close()
            log.close()
            if self.backend is not None:
                stats.backend_calls = self.backend.calls - calls_before
                stats.cache_hits = getattr(self.backend, "hits", 0) - hits_before
        self._finalize(stage.name, log, stats)
        stats.seconds = round(time.perf_counter() - started, 3)
        stats.model_seconds = round(stats.model_seconds, 3)
        stats.cpu_seconds = round(time.process_time() - cpu_started, 3)
        if prefetch:
            stats.media_cpu_seconds = round(prefetch.stats.cpu_seconds - media_before[0], 3)
            stats.media_wait_seconds = round(prefetch.stats.wait_seconds - media_before[1], 3)
            stats.media_decodes = prefetch.stats.decodes - media_before[2]
        write_json_atomic(done_path, {k: v for k, v in stats.to_dict().items() if k != "skipped"})
        return stats

    @staticmethod
    def _guard(item_id: str, fn: Any) -> Outputs:
        try:
            return fn()
        except ITEM_ERRORS as err:
            return [], [reject(item_id, "input-error", f"{type(err).__name__}: {err}", dropped=True)]

    def _finalize(self, name: str, log: CompletionLog, stats: StageStats) -> None:
        reasons: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        unselected = {"records": 0, "candidates": 0}

        def lines(kind: str) -> Iterable[str]:
            for entry in log.entries():
                if kind in entry:
                    if kind == "reject":
                        record = entry[kind]
                        reason = record.get("reason", "unknown")
                        if reason == NOT_SELECTED:
                            unselected["records"] += 1
                            unselected["candidates"] += int(record.get("count", 1))
                        else:
                            reasons[reason] += 1
                            dropped[reason] += bool(record.get("dropped"))
                    yield dumps(entry[kind])

        stats.outputs = write_atomic(self.output(name), lines("out"))
        stats.rejects = write_atomic(self.dir / f"{name}.rejects.jsonl", lines("reject")) - unselected["records"]
        stats.reasons = dict(sorted(reasons.items()))
        stats.dropped = {reason: count for reason, count in sorted(dropped.items()) if count}
        stats.not_selected = unselected["candidates"]
