"""TVQA subtitles: SRT cues whose text starts with ``(Name:)`` when the speaker is known."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import srt

_SPEAKER = re.compile(r"^\(\s*([^():]+?)\s*:\s*\)\s*(.*)$", re.DOTALL)


class SubtitleError(ValueError):
    """A subtitle file that cannot be read; the message names the file (and line when known)."""


@dataclass(frozen=True)
class Cue:
    index: int
    start: float
    end: float
    speaker: str | None
    text: str


def _decode(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "latin-1"):  # TVQA's own loader opens them as ISO-8859-1
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    raise SubtitleError(f"{path}: cannot decode")  # unreachable: latin-1 decodes any bytes


def _line_of(text: str, position: int | None) -> int:
    return text.count("\n", 0, position or 0) + 1


def read_subtitles(path: Path) -> tuple[list[Cue], str]:
    """Parse a subtitle file into cues (speaker split off) and return them with the encoding used."""
    text, encoding = _decode(path)
    if not text.strip():
        raise SubtitleError(f"{path}: empty subtitle file")
    try:
        parsed = list(srt.parse(text))
    except srt.SRTParseError as err:
        raise SubtitleError(f"{path}:{_line_of(text, err.expected_start)}: malformed SRT cue") from None
    except ValueError as err:
        raise SubtitleError(f"{path}: malformed SRT ({err})") from None
    cues = []
    for number, subtitle in enumerate(parsed, start=1):
        content = " ".join(part.strip() for part in subtitle.content.splitlines() if part.strip())
        match = _SPEAKER.match(content)
        speaker, line = (match.group(1).strip(), match.group(2).strip()) if match else (None, content)
        cues.append(Cue(number, subtitle.start.total_seconds(), subtitle.end.total_seconds(), speaker or None, line))
    return cues, encoding
