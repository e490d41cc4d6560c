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

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from builder.tvqa.shows import resolve_show
from crossomni import UnsafePathError, check_relative, short_repr
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


MAX_PATTERN_CHARS = 1000
MAX_FPS = 240.0
_FIELDS = ("vid_name", "show")


class LayoutError(ValueError):
    """A layout value that cannot be used; ``field`` is where it sits (``("shows", "bbt", "audio")``)."""

    def __init__(self, field: tuple[str, ...], message: str) -> None:
        super().__init__(f"{'.'.join(field)}: {message}" if field else message)
        self.field, self.message = field, message


def _short(value: Any) -> str:
    """A value for a message, bounded (a layout value can be anything a YAML file holds)."""
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return short_repr(value)


def _relative(pattern: str, field: tuple[str, ...]) -> None:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise LayoutError(field, f"{_short(pattern)} is longer than {MAX_PATTERN_CHARS} characters")
    try:
        check_relative(pattern, "pattern")
    except UnsafePathError:
        raise LayoutError(field, f"{_short(pattern)} must stay inside the TVQA root (relative, no '..')") from None


def check_pattern(pattern: Any, field: tuple[str, ...]) -> str:
    """A per-clip pattern: relative, inside the root, using only plain ``{vid_name}`` (required: one
    file per clip) and ``{show}`` — no format specs, indexes or conversions."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise LayoutError(field, f"expected a path pattern, got {_short(pattern)}")
    _relative(pattern, field)
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError:
        parsed = None
    names = [name for _, name, _, _ in parsed or () if name is not None]
    if parsed is None or any(
        name not in _FIELDS or spec or conversion for _, name, spec, conversion in parsed if name is not None
    ):
        raise LayoutError(field, f"{_short(pattern)} may only use {{vid_name}} and {{show}}, as they are")
    if "vid_name" not in names:
        raise LayoutError(field, f"{_short(pattern)} has no {{vid_name}}: every clip would share one file")
    return pattern


def check_qa_glob(glob: Any, field: tuple[str, ...] = ("qa_glob",)) -> str:
    """A QA glob relative to the root (``data/tvqa_*.jsonl``), never one that reaches outside it."""
    if not isinstance(glob, str) or not glob.strip():
        raise LayoutError(field, f"expected a glob relative to the TVQA root, got {_short(glob)}")
    _relative(glob, field)
    return glob


def check_subtitles(value: Any, field: tuple[str, ...] = ("subtitles",)) -> str:
    """An ``.srt`` pattern (with ``{vid_name}``) or the preprocessed jsonl's path, inside the root."""
    if isinstance(value, str) and "{" in value:
        return check_pattern(value, field)
    if not isinstance(value, str) or not value.strip():
        raise LayoutError(field, f"expected an .srt pattern or the subtitle jsonl's path, got {_short(value)}")
    _relative(value, field)
    return value


def check_fps(value: Any, field: tuple[str, ...] = ("frames_fps",)) -> float:
    """Frames per second of the frame folders: a number in (0, 240] (TVQA's are 3)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise LayoutError(field, f"expected a number of frames per second, got {_short(value)}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LayoutError(field, f"expected a number of frames per second, got {_short(value)}")
    if not 0 < value <= MAX_FPS:  # NaN fails too
        raise LayoutError(field, f"must be > 0 and <= {MAX_FPS:g} frames per second, got {_short(value)}")
    return float(value)


def _patterns(value: Any, field: tuple[str, ...]) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise LayoutError(field, f"expected a pattern or a list of patterns, got {_short(value)}")
    check = check_subtitles if field[-1] == "subtitles" else check_pattern
    return tuple(check(v, (*field, str(i)) if len(values) > 1 else field) for i, v in enumerate(values))


def yaml_line(text: str, field: tuple[str, ...]) -> int | None:
    """The line of ``field`` (a path of mapping keys and list indexes) in a YAML text, or of its
    deepest part that exists; None when the text does not compose. Walks one path only (aliases
    are followed once per step, never expanded)."""
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in field:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


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
    def parse(cls, data: Any) -> MediaLayout:
        """A layout from its YAML mapping (``defaults``, ``shows``, ``frames_fps``); a bad value raises
        ``LayoutError`` naming its field."""
        if not isinstance(data, dict):
            got = "an empty file" if data is None else _short(data)
            raise LayoutError((), f"expected a mapping with defaults, shows and/or frames_fps, got {got}")
        for key in data:
            if key not in ("defaults", "shows", "frames_fps"):
                raise LayoutError((str(key),), "unknown key (expected defaults, shows and/or frames_fps)")
        defaults = cls._kinds(data.get("defaults") or {}, ("defaults",))
        shows_data = data.get("shows") or {}
        if not isinstance(shows_data, dict):
            raise LayoutError(("shows",), f"expected a mapping of show -> kinds, got {_short(shows_data)}")
        shows = {}
        for show, kinds in shows_data.items():
            try:
                prefix = resolve_show(str(show))
            except ValueError as err:
                raise LayoutError(("shows", str(show)), str(err)) from None
            shows[prefix] = cls._kinds(kinds or {}, ("shows", str(show)))
        fps = check_fps(data["frames_fps"]) if "frames_fps" in data else 3.0
        return cls(defaults, shows, fps)

    @classmethod
    def load(cls, path: Path) -> MediaLayout:
        """The layout of a YAML file; any problem is a ``ValueError`` ``file:line: field: why``."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: cannot read the layout file ({type(err).__name__})") from None
        try:
            data = load_yaml(text, str(path))
        except yaml.YAMLError as err:  # load_yaml's own errors (YamlError) name the file and line already
            raise ValueError(f"{path}: not valid YAML ({type(err).__name__})") from None
        try:
            return cls.parse(data)
        except LayoutError as err:
            line = yaml_line(text, err.field)
            raise ValueError(f"{path}{f':{line}' if line else ''}: {err}") from None

    @staticmethod
    def _kinds(data: Any, field: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        if not isinstance(data, dict):
            raise LayoutError(field, f"expected a mapping of {', '.join(KINDS)} -> patterns, got {_short(data)}")
        for kind in data:
            if kind not in KINDS:
                raise LayoutError((*field, str(kind)), f"unknown kind (expected {', '.join(KINDS)})")
        return {kind: _patterns(value, (*field, kind)) for kind, value in data.items()}

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
