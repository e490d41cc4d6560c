"""Media decoded ahead of the model calls, in worker processes, so the model never waits for a decoder.

While one batch is with the model, the stage runner hands the requests of the next batches to a
``MediaPrefetcher``. The media parts of the requests the model will really receive (not those the
response cache answers, and only when the backend decodes media in this process: ``reads_media``) are
grouped by file and decoded in worker processes — one job per file, so one decoder serves all the
file's segments (``model_calls.media.prepare_parts``) — and handed to ``model_calls.media`` just
before the batch's call (``collect``), where the backend's own sampling finds them ready. The runner
keeps a bounded number of batches ahead, and ``release`` drops a batch's media once its call is
made, so memory stays flat however long the stage.

Prefetching only ever saves time: a job that fails, or a worker pool that dies, leaves the media to
the backend, which decodes (and reports any error) as it would without it. Workers are spawned (no
fork of a process that may hold CUDA or threads), so a script that builds must guard its entry point
with ``if __name__ == "__main__":``, as for any ``multiprocessing`` code.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from model_calls import media
from model_calls.base import MEDIA_PART_TYPES, ModelRequest
from model_calls.presets import input_preset

BASE_PRESET = "generic"  # what a part's own fields are laid over (the local backends' base preset)


def reads_media(backend: Any) -> bool:
    """Whether the innermost engine behind ``backend``'s wrappers decodes media in this process."""
    layer = backend
    while layer is not None:
        if hasattr(layer, "reads_media"):
            return bool(layer.reads_media)
        layer = getattr(layer, "backend", None)
    return False


def requests_to_prepare(backend: Any, requests: Sequence[ModelRequest]) -> list[ModelRequest]:
    """The requests whose media the backend will decode: none unless it ``reads_media``; of those,
    the ones no cache layer answers (a layer with ``unanswered``)."""
    if not reads_media(backend):
        return []
    wanted = list(requests)
    layer = backend
    while layer is not None and wanted:
        unanswered = getattr(layer, "unanswered", None)
        if callable(unanswered):
            wanted = unanswered(wanted)
        layer = getattr(layer, "backend", None)
    return wanted


def media_parts(request: ModelRequest) -> list[dict[str, Any]]:
    parts = []
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, list):
            parts += [part for part in content if part.get("type") in MEDIA_PART_TYPES and part["type"] != "image"]
    return parts


def _prepare(parts: list[dict[str, Any]]) -> tuple[list[tuple[tuple[Any, ...], Any]], float, int]:
    """A worker's job: the prepared media of one file's parts, the CPU seconds and decoder calls it took."""
    started, before = time.process_time(), media.decode_count()
    entries = media.prepare_parts(parts, input_preset(BASE_PRESET))
    return entries, time.process_time() - started, media.decode_count() - before


def _warm_up() -> None:
    """Load the decoders in a fresh worker while the build does other work."""
    import torchcodec.decoders  # noqa: F401


def default_workers() -> int:
    """Half the CPUs this process may use (the other half feeds the engine), at least 1, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 2
    return max(1, min(8, cpus // 2))


@dataclass
class Ticket:
    """The media jobs of one batch."""

    futures: list[Future[Any]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class PrefetchStats:
    jobs: int = 0  # files decoded ahead
    decodes: int = 0  # decoder calls the workers made
    cpu_seconds: float = 0.0  # the workers' CPU time on those jobs
    wait_seconds: float = 0.0  # how long batches waited for their media
    failed: int = 0  # jobs that raised (their media were left to the backend)


class MediaPrefetcher:
    """Decodes the media of coming batches in ``workers`` spawned processes (see the module docstring).

    ``depth``: how many batches the runner forms ahead of the one with the model.
    """

    def __init__(self, backend: Any, workers: int | None = None, depth: int = 2) -> None:
        self.backend = backend
        self.workers = default_workers() if workers is None else workers
        self.depth = depth
        self.stats = PrefetchStats()
        self._pool: ProcessPoolExecutor | None = None
        self._broken = False

    @property
    def active(self) -> bool:
        return self.workers > 0 and not self._broken and reads_media(self.backend)

    def start(self) -> None:
        """Spawn the workers and have each load its decoders at once (``submit`` starts them if needed).
        Nothing happens when the backend reads no media or there are no workers."""
        if self.active and self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            for _ in range(self.workers):
                self._pool.submit(_warm_up)

    def submit(self, requests: Sequence[ModelRequest]) -> Ticket:
        """Start decoding the media the backend will need for ``requests`` (one job per file)."""
        ticket = Ticket()
        if not self.active:
            return ticket
        by_file: dict[str, list[dict[str, Any]]] = {}
        seen: set[str] = set()
        with_media = [request for request in requests if media_parts(request)]  # text batches: no cache lookups
        for request in requests_to_prepare(self.backend, with_media) if with_media else ():
            for part in media_parts(request):
                marker = repr(sorted(part.items()))
                if marker not in seen:
                    seen.add(marker)
                    by_file.setdefault(str(part[part["type"]]), []).append(part)
        if not by_file:
            return ticket
        self.start()
        try:
            ticket.futures = [self._pool.submit(_prepare, parts) for parts in by_file.values()]
        except (BrokenProcessPool, RuntimeError):
            self._give_up()
        return ticket

    def collect(self, ticket: Ticket) -> None:
        """Wait for a batch's media and hand them to ``model_calls.media`` (call just before the batch is sent)."""
        started = time.perf_counter()
        for future in ticket.futures:
            try:
                entries, seconds, decodes = future.result()
            except BrokenProcessPool:
                self._give_up()
                break
            except Exception:  # a job's own failure: the backend decodes those media itself
                self.stats.failed += 1
                continue
            media.provide(entries)
            ticket.keys += [key for key, _ in entries]
            self.stats.jobs += 1
            self.stats.cpu_seconds += seconds
            self.stats.decodes += decodes
        ticket.futures = []
        self.stats.wait_seconds += time.perf_counter() - started

    def release(self, ticket: Ticket) -> None:
        """Drop a batch's media once its call is made (or abandoned)."""
        for future in ticket.futures:
            future.cancel()
        media.withdraw(ticket.keys)
        ticket.keys = []

    def _give_up(self) -> None:
        self._broken = True
        self.close()

    def close(self) -> None:
        """Stop the workers at once: nothing they hold is needed any more (a worker still loading its
        decoders, on a build whose media were all cached, is not waited for)."""
        if self._pool is not None:
            processes = list(getattr(self._pool, "_processes", {}).values())  # no public handle before 3.14
            self._pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                if process.is_alive():
                    process.terminate()
            for process in processes:
                process.join(timeout=10)
            self._pool = None
