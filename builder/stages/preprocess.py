"""Stage 1, preprocess: keep clips whose subtitles name their speakers and whose media exist
(an mp4 with audio, or frames + an audio file, muxed into the derived media folder), drop clips
whose cue times overlap, run backwards or pass the clip's end, and cut one segment per line.

Each clip's reading runs inside one guard: whatever its files raise becomes that clip's recorded
reject, so one bad input never stops a build (nor every rerun of it)."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from builder.config import BuildConfig
from builder.records import PreprocessedClip, Segment
from builder.stage import Outputs, reject
from builder.tvqa import TvqaRoot, mux_frames, probe_duration, resolve_show, show_prefix, timestamp_problem
from builder.tvqa.layout import FRAME_EXTENSIONS, ClipMedia
from crossomni import episode_of

MEDIA_SLACK = 1.0  # seconds a frame folder and its separately obtained audio may differ by
# Malformed QA lines travel in groups: each line keeps its own reject record, but a QA file of
# 300k bad lines costs 300k/BAD_LINES_PER_ITEM completion-log writes (one fsync each), not 300k.
BAD_LINES_PER_ITEM = 1000


def open_root(config: BuildConfig) -> TvqaRoot:
    layout = config.layout
    return TvqaRoot(config.tvqa_root, layout.media(), layout.qa_glob, layout.subtitles).check()


def clip_items(config: BuildConfig, root: TvqaRoot | None = None) -> Iterator[tuple[str, Any]]:
    """The clips named in the QA files (first appearance order, each once), filtered by show, shard
    and limit; malformed QA lines come through in groups of up to ``BAD_LINES_PER_ITEM`` (an item
    ``qa-lines:<file:line of the first>``), each line recorded as its own reject."""
    root = root or open_root(config)
    seen: set[str] = set()
    wanted = {resolve_show(s) for s in config.shows}
    count = 0
    bad: list[str] = []
    for question, error in root.questions():
        if question is None:
            bad.append(error)
            if len(bad) >= BAD_LINES_PER_ITEM:
                yield _bad_lines_item(bad)
                bad = []
            continue
        vid = question.vid_name
        if vid in seen:
            continue
        seen.add(vid)
        if wanted and show_prefix(vid) not in wanted:
            continue
        if not config.shard.owns(episode_of(vid)):
            continue
        if config.limit is not None and count >= config.limit:
            break
        count += 1
        yield vid, {"vid_name": vid, "show": question.show}
    if bad:
        yield _bad_lines_item(bad)


def _bad_lines_item(errors: list[str]) -> tuple[str, dict[str, Any]]:
    return f"qa-lines:{_line_of(errors[0])}", {"errors": list(errors)}


def _line_of(error: str) -> str:
    """``file:line`` (or ``file[index]``) of a QA reject message."""
    return error.split(": ", 1)[0]


class Preprocess:
    name = "preprocess"
    unit = "clip"

    def __init__(self, config: BuildConfig, root: TvqaRoot | None = None) -> None:
        self.config = config
        self.root = root or open_root(config)

    def process(self, item: dict[str, Any]) -> Outputs:
        if "errors" in item:
            return [], [reject(_line_of(error), "bad-qa-line", error, dropped=True) for error in item["errors"]]
        try:
            return self._clip(item)
        except Exception as err:  # the per-clip guard: any failure of this clip's inputs
            detail = f"{type(err).__name__}: {str(err)[:500]}"
            return [], [reject(item["vid_name"], "input-error", detail, dropped=True)]

    def _mismatch(self, media: ClipMedia) -> str | None:
        """Why a frame folder and its audio do not make one clip (None: they do)."""
        frames = sum(1 for p in media.frames.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS)
        fps = self.root.layout.frames_fps
        audio_seconds = probe_duration(media.audio)
        if abs(frames / fps - audio_seconds) > MEDIA_SLACK:
            seconds = f"{frames} frames at {fps:g} fps = {frames / fps:.2f}s"
            return f"{seconds}, but {media.audio.name} is {audio_seconds:.2f}s"
        return None

    def mux_job(self, item: dict[str, Any]) -> tuple[Path, Path, Path, float] | None:
        """The ``mux_frames`` arguments ``process`` will need for this item, or None (an mp4 clip, a clip it
        rejects, one muxed already): what ``mux_ahead`` hands to other processes."""
        if "errors" in item:  # the bad QA lines of the root: no clip to mux
            return None
        vid = item["vid_name"]
        try:
            inputs = self.root.inputs(vid, show_prefix(vid), self.config.min_tagged_fraction)
            media = inputs.media.media
            if inputs.reason or media is None or not media.is_frames or self._mismatch(media):
                return None
        except Exception:  # process() meets it again, and records it
            return None
        out = self.config.media_dir / f"{vid}.mp4"
        return None if out.is_file() else (media.frames, media.audio, out, self.root.layout.frames_fps)

    def _clip(self, item: dict[str, Any]) -> Outputs:
        config, vid = self.config, item["vid_name"]
        inputs = self.root.inputs(vid, show_prefix(vid), config.min_tagged_fraction)
        if inputs.reason:
            return [], [reject(vid, inputs.reason, inputs.detail, dropped=True)]
        media = inputs.media.media
        if media.is_frames:
            mismatch = self._mismatch(media)
            if mismatch:
                return [], [reject(vid, "media-mismatch", mismatch, dropped=True)]
            relative, mode = f"{vid}.mp4", "derived"
            video_file = mux_frames(media.frames, media.audio, config.media_dir / relative, self.root.layout.frames_fps)
        else:
            video_file, mode = media.video, "reference"
            relative = media.video.relative_to(config.tvqa_root).as_posix()
        duration = round(probe_duration(video_file), 3)
        problem = timestamp_problem(inputs.cues, duration)
        if problem:
            return [], [reject(vid, "discontinuous-timestamps", f"{inputs.subtitle_file}: {problem}", dropped=True)]
        segments = [
            Segment(
                index=i,
                start=cue.start,
                end=cue.end,
                speaker=cue.speaker,
                text=cue.text,
                speaker_raw=cue.speaker_raw,
                off_screen=cue.off_screen,
            )
            for i, cue in enumerate(c for c in inputs.cues if c.text)
        ]
        clip = PreprocessedClip(
            clip_id=vid,
            show=item["show"],
            episode=episode_of(vid),
            video=relative,
            audio=relative,
            media=mode,
            duration=duration,
            subtitle_encoding=inputs.encoding,
            segments=segments,
        )
        return [clip.model_dump()], []


def mux_ahead(stage: Preprocess, items: Iterable[tuple[str, Any]], workers: int | None) -> Iterator[tuple[str, Any]]:
    """``items`` in order, each once its clip is muxed: frame-folder clips are muxed a few items ahead in
    ``workers`` spawned processes (default: one per CPU, at most 16; 0: none), so preprocess, which is
    mostly x264 at TVQA's shape (~4 s of CPU a clip), runs on every core instead of one. The pool starts at
    the first frame-folder clip (an mp4 root never starts it). A failed job is left to ``process``, which
    muxes again in this process and records the error."""
    if workers is None:
        workers = min(16, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if workers <= 0:
        yield from items
        return
    pool: ProcessPoolExecutor | None = None
    window: deque[tuple[str, Any, Future[Path] | None]] = deque()
    try:
        for item_id, item in items:
            job = stage.mux_job(item) if workers else None
            future = None
            if job is not None:
                try:
                    pool = pool or ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
                    future = pool.submit(mux_frames, *job)
                except (BrokenProcessPool, RuntimeError):  # the workers died: mux here from now on
                    workers = 0
            window.append((item_id, item, future))
            while len(window) > 2 * max(workers, 1):
                yield _muxed(window.popleft())
        while window:
            yield _muxed(window.popleft())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _muxed(entry: tuple[str, Any, Future[Path] | None]) -> tuple[str, Any]:
    item_id, item, future = entry
    if future is not None:
        future.exception()  # waits; a failure is process()'s to record
    return item_id, item
