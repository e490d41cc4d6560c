"""Stage 1, preprocess: keep clips with human subtitles and speaker names, drop clips whose cue
timestamps overlap, run backwards or pass the clip's end, and cut subtitle-aligned segments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from builder.config import BuildConfig
from builder.records import PreprocessedClip, Segment
from builder.stage import Outputs, reject
from builder.tvqa import (
    Cue,
    SubtitleError,
    iter_qa_files,
    locate_media,
    mux_frames,
    probe_duration,
    read_subtitles,
    show_prefix,
)
from crossomni import episode_of

TOLERANCE = 0.05  # seconds of slack for rounding in cue times


def clip_items(config: BuildConfig) -> Iterator[tuple[str, Any]]:
    """The clips named in the QA files (first appearance order, each once), filtered by show, shard
    and limit; malformed QA lines come through as items of their own so they are recorded."""
    seen: set[str] = set()
    wanted = {s.lower() for s in config.shows}
    count = 0
    for question, error in iter_qa_files(config.tvqa_root, config.layout.qa_glob):
        if question is None:
            yield f"qa-line:{error}", {"error": error}
            continue
        vid = question.vid_name
        if vid in seen:
            continue
        seen.add(vid)
        if wanted and question.show_name.lower() not in wanted and show_prefix(vid) not in wanted:
            continue
        if not config.shard.owns(episode_of(vid)):
            continue
        if config.limit is not None and count >= config.limit:
            return
        count += 1
        yield vid, {"vid_name": vid, "show": question.show_name}


def timestamp_problem(cues: list[Cue], duration: float) -> str | None:
    """Why the cue times are not a clean timeline (None when they are)."""
    previous: Cue | None = None
    for cue in cues:
        if cue.end <= cue.start:
            return f"cue {cue.index} ends ({cue.end:.2f}s) before it starts ({cue.start:.2f}s)"
        if previous is not None and cue.start < previous.start:
            return f"cue {cue.index} starts before cue {previous.index} (out of order)"
        if previous is not None and cue.start < previous.end - TOLERANCE:
            return f"cue {cue.index} overlaps cue {previous.index}"
        if cue.end > duration + TOLERANCE + 0.5:
            return f"cue {cue.index} ends at {cue.end:.2f}s, after the clip ({duration:.2f}s)"
        previous = cue
    return None


class Preprocess:
    name = "preprocess"
    unit = "clip"

    def __init__(self, config: BuildConfig) -> None:
        self.config = config

    def process(self, item: dict[str, Any]) -> Outputs:
        if "error" in item:
            return [], [reject(item["error"].split(": ")[0], "bad-qa-line", item["error"], dropped=True)]
        config, vid = self.config, item["vid_name"]
        root: Path = config.tvqa_root
        subtitles = root / config.layout.subtitles.format(vid_name=vid, show=show_prefix(vid))
        if not subtitles.is_file():
            return [], [reject(vid, "no-subtitles", f"{subtitles.relative_to(root)} not found", dropped=True)]
        try:
            media = locate_media(
                root, vid, config.layout.video, config.layout.frames, config.layout.audio, show_prefix(vid)
            )
        except FileNotFoundError as err:
            return [], [reject(vid, "no-media", str(err), dropped=True)]
        try:
            cues, encoding = read_subtitles(subtitles)
        except SubtitleError as err:
            return [], [reject(vid, "bad-subtitles", str(err), dropped=True)]
        tagged = [cue for cue in cues if cue.speaker and cue.text]
        if not tagged:
            return [], [
                reject(vid, "no-speaker-names", f"{subtitles.name}: no cue starts with a (Name:) tag", dropped=True)
            ]
        if len(tagged) / len(cues) < config.min_tagged_fraction:
            detail = f"{subtitles.name}: only {len(tagged)}/{len(cues)} cues name their speaker"
            return [], [reject(vid, "few-speaker-names", detail, dropped=True)]
        if media.is_frames:
            relative = f"media/{vid}.mp4"
            mux_frames(media.frames, media.audio, config.media_dir / f"{vid}.mp4", config.layout.frames_fps)
            video_file, mode = config.media_dir / f"{vid}.mp4", "embed"
        else:
            relative, video_file, mode = str(media.video.relative_to(root)), media.video, "reference"
        duration = round(probe_duration(video_file), 3)
        problem = timestamp_problem(cues, duration)
        if problem:
            return [], [reject(vid, "discontinuous-timestamps", f"{subtitles.name}: {problem}", dropped=True)]
        segments = [
            Segment(index=i, start=cue.start, end=cue.end, speaker=cue.speaker or "", text=cue.text)
            for i, cue in enumerate(tagged)
        ]
        clip = PreprocessedClip(
            clip_id=vid,
            show=item["show"],
            episode=episode_of(vid),
            video=relative,
            audio=relative,
            media=mode,
            duration=duration,
            subtitle_encoding=encoding,
            segments=segments,
        )
        return [clip.model_dump()], []
