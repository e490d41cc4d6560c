"""A TVQA root as the builder reads it: its QA files, its subtitle source and its media layout,
and for one clip everything its inputs say (shared by ``crossomni inspect`` and preprocess)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from builder.tvqa.layout import SUBTITLE_JSONL, MediaLayout, MediaLookup, first_existing, lookup_media
from builder.tvqa.qa import QaFiles, TvqaQuestion, find_qa_files, no_qa_message, read_qa_file, safe_vid_name
from builder.tvqa.subtitles import Cue, SubtitleError, SubtitleIndex, read_subtitles

TOLERANCE = 0.05  # seconds of slack for rounding in cue times


class TvqaRootError(ValueError):
    """A TVQA root the builder cannot read at all (no QA files); the message says what was looked for."""


@dataclass
class ClipInputs:
    """What one clip's files hold; ``reason``/``detail`` say why it is unusable (None when usable)."""

    vid_name: str
    show: str  # prefix
    cues: list[Cue] = field(default_factory=list)
    subtitle_file: str = ""  # for messages: the .srt, or "<jsonl>:<line>"
    subtitle_source: str = ""  # "jsonl" or the .srt pattern that matched
    encoding: str = "utf-8"
    media: MediaLookup | None = None
    reason: str | None = None
    detail: str = ""

    @property
    def named(self) -> list[Cue]:
        return [cue for cue in self.cues if cue.speaker and cue.text]


def timestamp_problem(cues: list[Cue], duration: float = math.inf) -> str | None:
    """Why the cue times are not a clean timeline (None when they are)."""
    previous: Cue | None = None
    for cue in cues:
        if cue.end <= cue.start or cue.start < 0:
            return f"cue {cue.index} ends ({cue.end:.2f}s) before it starts ({cue.start:.2f}s)"
        if previous is not None and cue.start < previous.start:
            return f"cue {cue.index} starts before cue {previous.index} (out of order)"
        if previous is not None and cue.start < previous.end - TOLERANCE:
            return f"cue {cue.index} overlaps cue {previous.index}"
        if cue.end > duration + TOLERANCE + 0.5:
            return f"cue {cue.index} ends at {cue.end:.2f}s, after the clip ({duration:.2f}s)"
        previous = cue
    return None


class TvqaRoot:
    """The files of a TVQA root, found once; ``inputs(vid, show)`` reads one clip's."""

    def __init__(self, root: Path, layout: MediaLayout, qa_glob: str | None = None, subtitles: str | None = None):
        self.root = root
        self.layout = layout
        self.qa_glob = qa_glob
        self.subtitles_option = subtitles

    @cached_property
    def qa(self) -> QaFiles:
        return find_qa_files(self.root, self.qa_glob)

    def check(self) -> TvqaRoot:
        """Raise ``TvqaRootError`` now (before any stage starts) when the root holds no QA file."""
        if not self.qa.paths:
            raise TvqaRootError(no_qa_message(self.root, self.qa_glob, self.qa))
        return self

    def questions(self) -> Iterator[tuple[TvqaQuestion | None, str | None]]:
        """Every QA record; no QA file at all raises ``TvqaRootError``."""
        if not self.qa.paths:
            raise TvqaRootError(no_qa_message(self.root, self.qa_glob, self.qa))
        for path in self.qa.paths:
            yield from read_qa_file(path)

    @cached_property
    def subtitle_jsonl(self) -> Path | None:
        """The preprocessed subtitle jsonl, if the root has one (or the option names one)."""
        option = self.subtitles_option
        if option and "{" not in option:
            return self.root / option
        if option:
            return None
        return next((self.root / p for p in SUBTITLE_JSONL if (self.root / p).is_file()), None)

    @cached_property
    def subtitle_index(self) -> SubtitleIndex | None:
        """The jsonl's index (built on first use: one pass over the file)."""
        return SubtitleIndex.build(self.subtitle_jsonl) if self.subtitle_jsonl else None

    def inputs(self, vid_name: str, show: str, min_tagged_fraction: float = 0.5) -> ClipInputs:
        """Read one clip's subtitles and look for its media (no decoding); sets ``reason`` when unusable."""
        clip = ClipInputs(vid_name, show)
        if not safe_vid_name(vid_name):
            clip.reason, clip.detail = "unsafe-vid-name", f"vid_name {vid_name[:80]!r} is not a plain TVQA clip name"
            return clip
        clip.media = lookup_media(self.root, self.layout, vid_name, show)
        try:
            self._read_subtitles(clip)
        except SubtitleError as err:
            clip.reason, clip.detail = "bad-subtitles", str(err)
            return clip
        if clip.reason:
            return clip
        named = clip.named
        if not named:
            clip.reason = "no-speaker-names"
            clip.detail = f"{clip.subtitle_file}: no line names its speaker ('Name : ' or '(Name:)')"
        elif len(named) / len(clip.cues) < min_tagged_fraction:
            clip.reason = "few-speaker-names"
            clip.detail = f"{clip.subtitle_file}: only {len(named)}/{len(clip.cues)} lines name their speaker"
        elif clip.media.media is None:
            clip.reason, clip.detail = "no-media", clip.media.missing(vid_name)
        else:
            problem = timestamp_problem(clip.cues)
            if problem:
                clip.reason, clip.detail = "discontinuous-timestamps", f"{clip.subtitle_file}: {problem}"
        return clip

    def _read_subtitles(self, clip: ClipInputs) -> None:
        index = self.subtitle_index
        if index is not None and clip.vid_name in index:
            clip.cues = index.cues(clip.vid_name)
            clip.subtitle_file = f"{index.path.name}:{index.offsets[clip.vid_name][2]}"
            clip.subtitle_source = "jsonl"
            return
        patterns = self.layout.candidates("subtitles", clip.show)
        found = first_existing(self.root, patterns, clip.vid_name, clip.show, folder=False)
        if found is None:
            where = [p.format(vid_name=clip.vid_name, show=clip.show) for p in patterns[:2]]
            if index is not None:
                where.insert(0, f"{index.path.name} (no line for it)")
            clip.reason, clip.detail = "no-subtitles", f"clip {clip.vid_name}: none in {', '.join(where)}"
            return
        path, pattern = found
        clip.cues, clip.encoding = read_subtitles(path)
        clip.subtitle_file, clip.subtitle_source = path.name, pattern
