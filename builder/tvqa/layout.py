"""Where a TVQA root keeps each clip's subtitles and media, found without flags for the layouts in use.

Patterns are relative to the root, with ``{vid_name}`` and ``{show}`` (the show prefix: ``bbt``,
``friends``, ``met``, ``grey``, ``house``, ``castle``). For each kind the first pattern that exists
wins, per clip. A layout YAML (``--layout-file``) replaces the candidates of a kind, for every show
(``defaults:``) or for one (``shows: {bbt: {audio: ...}}``)::

    defaults:
      frames: frames_hq/{show}_frames/{vid_name}
      audio: [audios/{show}/{show}_audios/{vid_name}.mp3, audio/{vid_name}.wav]
    shows:
      bbt: {audio: audios/bbt_new/bbt_audios/{vid_name}.mp3}
    frames_fps: 3
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from builder.tvqa.shows import resolve_show
from model_calls.redaction import shown
from model_calls.store import load_yaml

MEDIA_KINDS = ("video", "frames", "audio")
KINDS = ("subtitles", *MEDIA_KINDS)
AUDIO_EXTENSIONS = ("wav", "mp3", "m4a")
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")

# The preprocessed subtitle jsonl (one file for all clips) is looked for here, first found wins.
SUBTITLE_JSONL = (
    "tvqa_preprocessed_subtitles.jsonl",
    "data/tvqa_preprocessed_subtitles.jsonl",
    "tvqa_qa_release/tvqa_preprocessed_subtitles.jsonl",
    "subtitles/tvqa_preprocessed_subtitles.jsonl",
)
CANDIDATES: dict[str, tuple[str, ...]] = {
    "subtitles": ("tvqa_subtitles/{vid_name}.srt", "subtitles/{vid_name}.srt", "data/tvqa_subtitles/{vid_name}.srt"),
    "video": ("videos/{vid_name}.mp4", "videos/{show}/{vid_name}.mp4", "video/{vid_name}.mp4", "clips/{vid_name}.mp4"),
    "frames": ("frames_hq/{show}_frames/{vid_name}", "frames/{show}_frames/{vid_name}", "frames_hq/{vid_name}"),
    "audio": tuple(
        pattern.replace("EXT", ext)
        for pattern in (
            "audios/{show}/{show}_audios/{vid_name}.EXT",
            "audio/{vid_name}.EXT",
            "audios/{vid_name}.EXT",
            "audio/{show}/{vid_name}.EXT",
        )
        for ext in AUDIO_EXTENSIONS
    ),
}
# One consumer's audio layout keeps Big Bang Theory under bbt_new/ (see NOTES-TVQA).
SHOW_CANDIDATES: dict[str, dict[str, tuple[str, ...]]] = {
    "bbt": {
        "audio": tuple(f"audios/bbt_new/bbt_audios/{{vid_name}}.{ext}" for ext in AUDIO_EXTENSIONS)
        + CANDIDATES["audio"]
    }
}


def _patterns(value: Any, where: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{where}: expected a pattern or a list of patterns, got {value!r}")
    for pattern in values:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ValueError(f"{where}: {pattern!r} must stay inside the TVQA root (relative, no '..')")
        try:
            pattern.format(vid_name="x", show="x")
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"{where}: {pattern!r} may only use {{vid_name}} and {{show}}") from None
    return tuple(values)


@dataclass(frozen=True)
class ClipMedia:
    """Where a clip's media are: an mp4 with audio, or a frame folder plus an audio file."""

    video: Path | None = None
    frames: Path | None = None
    audio: Path | None = None

    @property
    def is_frames(self) -> bool:
        return self.video is None


@dataclass(frozen=True)
class MediaLayout:
    """Candidate patterns per kind (``defaults``) and per show (``shows``: prefix -> kind -> patterns)."""

    defaults: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    shows: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    frames_fps: float = 3.0

    @classmethod
    def parse(cls, data: Any, source: str) -> MediaLayout:
        """A layout from its YAML mapping (``defaults``, ``shows``, ``frames_fps``)."""
        if not isinstance(data, dict) or set(data) - {"defaults", "shows", "frames_fps"}:
            raise ValueError(f"{source}: expected a mapping with defaults, shows and/or frames_fps")
        defaults = cls._kinds(data.get("defaults") or {}, f"{source}: defaults")
        shows = {}
        for show, kinds in (data.get("shows") or {}).items():
            try:
                prefix = resolve_show(str(show))
            except ValueError as err:
                raise ValueError(f"{source}: shows: {err}") from None
            shows[prefix] = cls._kinds(kinds or {}, f"{source}: shows.{show}")
        fps = float(data.get("frames_fps", 3.0))
        if not fps > 0:
            raise ValueError(f"{source}: frames_fps must be > 0")
        return cls(defaults, shows, fps)

    @classmethod
    def load(cls, path: Path) -> MediaLayout:
        try:
            data = load_yaml(path.read_text(encoding="utf-8"), str(path))
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"{path}: cannot read the layout file ({err})") from None
        return cls.parse(data, str(path))

    @staticmethod
    def _kinds(data: Any, where: str) -> dict[str, tuple[str, ...]]:
        if not isinstance(data, dict) or set(data) - set(KINDS):
            raise ValueError(f"{where}: keys must be among {', '.join(KINDS)}, got {shown(data)}")
        return {kind: _patterns(value, f"{where}.{kind}") for kind, value in data.items()}

    def candidates(self, kind: str, show: str) -> tuple[str, ...]:
        """The patterns tried for ``kind`` of a clip of ``show``: the show's, else the defaults, else built-in."""
        if kind in self.shows.get(show, {}):
            return self.shows[show][kind]
        if kind in self.defaults:
            return self.defaults[kind]
        return SHOW_CANDIDATES.get(show, {}).get(kind, CANDIDATES[kind])

    def to_dict(self) -> dict[str, Any]:
        return {
            "defaults": {k: list(v) for k, v in self.defaults.items()},
            "shows": {s: {k: list(v) for k, v in kinds.items()} for s, kinds in self.shows.items()},
            "frames_fps": self.frames_fps,
        }


def first_existing(
    root: Path, patterns: tuple[str, ...], vid_name: str, show: str, folder: bool
) -> tuple[Path, str] | None:
    """The first ``(path, pattern)`` that exists (a folder holding frames when ``folder``), or None."""
    for pattern in patterns:
        path = root / pattern.format(vid_name=vid_name, show=show)
        if folder:
            if path.is_dir() and any(p.suffix.lower() in FRAME_EXTENSIONS for p in path.iterdir()):
                return path, pattern
        elif path.is_file():
            return path, pattern
    return None


@dataclass
class MediaLookup:
    """The outcome of looking for a clip's media: what exists, which patterns matched."""

    video: tuple[Path, str] | None = None
    frames: tuple[Path, str] | None = None
    audio: tuple[Path, str] | None = None
    looked: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def media(self) -> ClipMedia | None:
        if self.video:
            return ClipMedia(video=self.video[0])
        if self.frames and self.audio:
            return ClipMedia(frames=self.frames[0], audio=self.audio[0])
        return None

    def missing(self, vid_name: str) -> str:
        """Why no media: what was looked for (the first pattern of each kind)."""
        what = "frames without audio" if self.frames else "audio without frames" if self.audio else "nothing"
        first = {k: v[0].format(vid_name=vid_name, show="{show}") for k, v in self.looked.items() if v}
        more = sum(map(len, self.looked.values())) - len(first)
        return (
            f"clip {vid_name}: no media (found {what}; looked for {first.get('video')} or "
            f"{first.get('frames')}/ + {first.get('audio')}, and {more} more patterns)"
        )


def lookup_media(root: Path, layout: MediaLayout, vid_name: str, show: str) -> MediaLookup:
    """Look for a clip's mp4, frame folder and audio file under ``root``."""
    found = MediaLookup(looked={kind: layout.candidates(kind, show) for kind in MEDIA_KINDS})
    found.video = first_existing(root, found.looked["video"], vid_name, show, folder=False)
    found.frames = first_existing(root, found.looked["frames"], vid_name, show, folder=True)
    found.audio = first_existing(root, found.looked["audio"], vid_name, show, folder=False)
    return found


def locate_media(root: Path, layout: MediaLayout, vid_name: str, show: str) -> ClipMedia:
    """A clip's media under ``root``; raises ``FileNotFoundError`` naming what was looked for."""
    found = lookup_media(root, layout, vid_name, show)
    if found.media is None:
        raise FileNotFoundError(found.missing(vid_name))
    return found.media
