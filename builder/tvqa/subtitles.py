"""TVQA subtitles in both forms, with the speaker split off each line.

- ``tvqa_preprocessed_subtitles.jsonl`` (what TVQA points to today): one line per clip,
  ``{"vid_name", "sub": [{"text": " Chase : That's all?", "start", "end"}]}``; the speaker is a
  ``Name : `` prefix, ``Name off : `` when off screen. ``SubtitleIndex`` streams it once and
  keeps each clip's byte offset, so a clip's cues are one seek away.
- legacy ``.srt`` per clip: the speaker as ``(Name:)``; ISO-8859-1, CRLF, multi-line cues.

Speaker names are normalised (markup, whitespace, case) and the raw form is kept. Parsing is
done with plain string scanning and anchored, bounded patterns: linear in the line length.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from crossomni import has_visible_text, short_repr

MAX_NAME_CHARS = 48  # a speaker tag longer than this is text, not a name
MAX_NAME_WORDS = 5
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MARKUP = re.compile(r"<[^<>]{0,64}>|\{[^{}]{0,64}\}")  # <i>, </font>, {\an8}
_TIMING = re.compile(
    r"(\d{1,3}):(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?[ \t]*-->[ \t]*(\d{1,3}):(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
)
# TVQA writes each line as {"vid_name": "...", "sub": [...]}: read the name off the line's head without
# parsing the cues, but only there (a "vid_name" nested in a cue is not the line's clip).
_HEAD_VID = re.compile(rb'(?:\xef\xbb\xbf)?[ \t]*\{[ \t]*"vid_name"[ \t]*:[ \t]*"([^"\\]{1,200})"')


class SubtitleError(ValueError):
    """A subtitle file (or clip entry) that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Cue:
    index: int
    start: float
    end: float
    speaker: str | None  # normalised; None when the line names nobody
    text: str
    speaker_raw: str | None = None  # the tag as written
    off_screen: bool = False  # "Name off : ..." — a voice, not someone on screen


# --- speaker names -------------------------------------------------------------------------------


def strip_markup(text: str) -> str:
    return _MARKUP.sub("", text)


def _word_case(word: str) -> str:
    if word.isupper() or word.islower():  # RACHEL, rachel -> Rachel; McGee stays as written
        return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
    return word


def normalise_name(raw: str) -> tuple[str, bool] | None:
    """``(name, off_screen)`` of a speaker tag, or None when it does not look like a name."""
    # NFKC: a name in fullwidth letters or with decomposed accents is the same person
    words = unicodedata.normalize("NFKC", strip_markup(raw)).strip(" \t-*\"'").split()
    off_screen = len(words) > 1 and words[-1].casefold() in ("off", "(off)", "o.s.", "(o.s.)", "v.o.", "(v.o.)")
    if off_screen:
        words = words[:-1]
    if not words or len(words) > MAX_NAME_WORDS:
        return None
    for word in words:
        if not word[0].isalpha() or any(not (c.isalnum() or c in ".'-&") for c in word):
            return None
    return " ".join(_word_case(w) for w in words), off_screen


def split_speaker(text: str, bare_tags: bool) -> tuple[str | None, tuple[str, bool] | None, str]:
    """``(raw tag, (name, off_screen), rest)``: ``(Name:) rest`` always, ``Name : rest`` when
    ``bare_tags`` (the jsonl form); ``(None, None, line)`` when the line names nobody."""
    line = text.strip()
    if line.startswith("("):
        close = line.find(")", 1, MAX_NAME_CHARS + 4)
        inside = line[1:close].strip() if close > 0 else ""
        parsed = normalise_name(inside[:-1]) if inside.endswith(":") else None
        if parsed:
            return inside[:-1].strip(), parsed, line[close + 1 :].strip()
        return None, None, line
    if bare_tags:
        colon = line.find(":", 0, MAX_NAME_CHARS + 2)
        parsed = normalise_name(line[:colon]) if colon > 0 else None
        if parsed:
            return line[:colon].strip(), parsed, line[colon + 1 :].strip()
    return None, None, line


def make_cue(index: int, start: float, end: float, text: str, bare_tags: bool) -> Cue:
    """One cue; a cue that ends before it starts, or whose text holds a lone surrogate (no UTF-8 can
    write it), is malformed (``SubtitleError``), not a line to keep. Control characters read as spaces,
    and a line that shows nothing (only zero-width or other invisible characters) has no text."""
    if end < start:
        raise SubtitleError(f"cue {index} ends ({end}s) before it starts ({start}s)")
    surrogate = _SURROGATE.search(text)
    if surrogate:
        raise SubtitleError(f"cue {index} text holds a lone surrogate U+{ord(surrogate.group()):04X}")
    raw, parsed, rest = split_speaker(_CONTROL.sub(" ", text), bare_tags)
    rest = " ".join(strip_markup(rest).split())
    if not has_visible_text(rest):
        rest = ""
    if parsed is None:
        return Cue(index, start, end, None, rest)
    name, off_screen = parsed
    return Cue(index, start, end, name, rest, speaker_raw=raw, off_screen=off_screen)


def unify_names(cues: list[Cue]) -> list[Cue]:
    """One spelling per person in a clip: names equal up to case get the most common normalised form."""
    forms: dict[str, Counter[str]] = {}
    for cue in cues:
        if cue.speaker:
            forms.setdefault(cue.speaker.casefold(), Counter())[cue.speaker] += 1
    chosen = {key: counts.most_common(1)[0][0] for key, counts in forms.items()}
    return [replace(c, speaker=chosen[c.speaker.casefold()]) if c.speaker else c for c in cues]


# --- legacy .srt ---------------------------------------------------------------------------------


def _seconds(hours: str, minutes: str, seconds: str, millis: str | None) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int((millis or "0").ljust(3, "0")) / 1000


def _timing(line: str) -> tuple[float, float] | None:
    match = _TIMING.match(line.strip())
    if match is None:
        return None
    g = match.groups()
    return _seconds(*g[:4]), _seconds(*g[4:])


def parse_srt(text: str, source: str) -> list[Cue]:
    """Cues of an SRT text; a cue without its ``start --> end`` line raises ``SubtitleError`` (never merged)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cues: list[Cue] = []
    number = 0
    while number < len(lines):
        if not lines[number].strip():
            number += 1
            continue
        first = number
        if lines[number].strip().isdigit():
            number += 1
        timing = _timing(lines[number]) if number < len(lines) else None
        if timing is None:
            raise SubtitleError(f"{source}:{first + 1}: malformed SRT cue (no 'start --> end' line)")
        number += 1
        body: list[str] = []
        while number < len(lines) and lines[number].strip():
            # a timing line inside a cue: the blank line before the next cue is missing
            ahead = lines[number + 1] if number + 1 < len(lines) else ""
            if _timing(lines[number]) or (lines[number].strip().isdigit() and _timing(ahead)):
                break
            body.append(lines[number].strip())
            number += 1
        try:
            cues.append(make_cue(len(cues) + 1, *timing, " ".join(body), bare_tags=False))
        except SubtitleError as err:
            raise SubtitleError(f"{source}:{first + 1}: {err}") from None
    return cues


def _utf16_guess(data: bytes) -> str | None:
    """UTF-16/32 by BOM, else by where the NUL bytes of ASCII text sit."""
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return encoding
    sample = data[:4096]
    if len(sample) >= 4 and sample.count(0) * 3 >= len(sample):
        return "utf-16-le" if sample[1::2].count(0) > sample[0::2].count(0) else "utf-16-be"
    return None


def read_subtitles(path: Path) -> tuple[list[Cue], str]:
    """Cues of a ``.srt`` file and the encoding that read it: UTF-8, else ISO-8859-1 (TVQA's own
    choice), else — when that yields no cues — UTF-16/32 found by BOM or NUL pattern."""
    data = path.read_bytes()
    if not data.strip():
        raise SubtitleError(f"{path}: empty subtitle file")
    try:
        candidates = [(data.decode("utf-8-sig"), "utf-8")]
    except UnicodeDecodeError:
        candidates = [(data.decode("latin-1"), "latin-1")]
    first_error: SubtitleError | None = None
    for attempt in range(2):
        text, encoding = candidates[-1]
        try:
            cues = parse_srt(text, str(path))
            if cues:
                return unify_names(cues), encoding
            raise SubtitleError(f"{path}: no subtitle cues")
        except SubtitleError as err:
            first_error = first_error or err
        wide = _utf16_guess(data) if attempt == 0 else None
        if wide is None:
            break
        try:
            candidates.append((data.decode(wide).lstrip("\ufeff"), wide))
        except UnicodeDecodeError:
            break
    raise first_error


# --- the preprocessed jsonl ----------------------------------------------------------------------


@dataclass
class SubtitleIndex:
    """Where each clip's line sits in ``tvqa_preprocessed_subtitles.jsonl`` (read once, offsets only)."""

    path: Path
    offsets: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # vid -> (offset, length, line number)
    bad_lines: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, path: Path) -> SubtitleIndex:
        index = cls(path)
        offset = 0
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                vid = _line_vid(line) if line.strip() else None
                if vid is None and line.strip():
                    index.bad_lines.append(f"{path}:{number}: no vid_name")
                elif vid is not None and vid in index.offsets:
                    index.duplicates.append(f"{path}:{number}: {vid} again (first on line {index.offsets[vid][2]})")
                elif vid is not None:
                    index.offsets[vid] = (offset, len(line), number)
                offset += len(line)
        return index

    def __contains__(self, vid_name: str) -> bool:
        return vid_name in self.offsets

    def __len__(self) -> int:
        return len(self.offsets)

    def cues(self, vid_name: str) -> list[Cue]:
        """The clip's cues; a malformed entry raises ``SubtitleError`` naming file, line and cue."""
        offset, length, number = self.offsets[vid_name]
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            line = handle.read(length)
        where = f"{self.path}:{number}"
        try:
            record = json.loads(line)
        except Exception as err:  # invalid JSON or absurd nesting: this clip's error
            raise SubtitleError(f"{where}: not readable JSON ({type(err).__name__})") from None
        if not isinstance(record, dict) or record.get("vid_name") != vid_name:
            found = record.get("vid_name") if isinstance(record, dict) else None
            raise SubtitleError(f"{where}: the line's vid_name is {short_repr(found)}, not {vid_name}")
        subs = record.get("sub")
        if not isinstance(subs, list):
            raise SubtitleError(f"{where}: expected a 'sub' list")
        cues = []
        for position, sub in enumerate(subs, start=1):
            if not isinstance(sub, dict) or not isinstance(sub.get("text"), str):
                raise SubtitleError(f"{where}: cue {position} has no text")
            start, end = sub.get("start"), sub.get("end")
            if not all(
                isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in (start, end)
            ):
                raise SubtitleError(f"{where}: cue {position} has no numeric start/end ({start!r}, {end!r})")
            try:
                cues.append(make_cue(position, float(start), float(end), sub["text"], bare_tags=True))
            except SubtitleError as err:
                raise SubtitleError(f"{where}: {err}") from None
        if not cues:
            raise SubtitleError(f"{where}: no subtitle cues for {vid_name}")
        return unify_names(cues)


def _line_vid(line: bytes) -> str | None:
    """The clip a line is about: its top-level ``vid_name`` (None when it has none, or is unreadable).

    The head of the line answers when it is the line's only ``"vid_name"`` and no escape could spell
    another one; any other line is parsed whole (JSON's rule: the last duplicate key wins)."""
    match = _HEAD_VID.match(line, 0, 400)
    if match and line.count(b'"vid_name"') == 1 and b"\\u" not in line:
        return match.group(1).decode("utf-8", errors="replace")
    try:
        record = json.loads(line)
    except Exception:  # a line we cannot read has no clip; recorded as a bad line
        return None
    vid = record.get("vid_name") if isinstance(record, dict) else None
    return vid if isinstance(vid, str) else None
