"""Decode the media parts of a request: video frames at a chosen fps, audio at 16 kHz mono.

Shared by the local backends (``transformers``, ``vllm``) so both see the same frames and
samples for the same request. A file that cannot be opened raises ``MediaError`` naming it;
the backend turns that into an error response for that request only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

SAMPLING_RATE = 16_000
DEFAULT_FPS = 2.0
DEFAULT_MAX_FRAMES = 64


class MediaError(RuntimeError):
    """A media part that could not be decoded; the message names the file."""


def request_key(request: Any) -> str:
    """``request.key()``, or ``"unkeyed"`` when a media file cannot be hashed (the error response says why)."""
    try:
        return request.key()
    except OSError:
        return "unkeyed"


@dataclass(frozen=True)
class Segment:
    """The time window of a media part, in seconds (``end`` None: to the end of the file)."""

    start: float = 0.0
    end: float | None = None

    @classmethod
    def of(cls, part: dict[str, Any]) -> Segment:
        start = float(part.get("start") or 0.0)
        end = part.get("end")
        return cls(start, float(end) if end is not None else None)


def frame_times(start: float, end: float, fps: float, max_frames: int) -> list[float]:
    """Timestamps sampled at ``fps`` in [start, end), thinned evenly to at most ``max_frames``, even count.

    >>> frame_times(0.0, 2.0, 2.0, 64)
    [0.25, 0.75, 1.25, 1.75]
    >>> len(frame_times(0.0, 100.0, 2.0, 32))
    32
    """
    if end <= start:
        raise MediaError(f"empty segment [{start}, {end}]")
    count = max(2, int((end - start) * fps))
    count = min(count, max_frames)
    count -= count % 2  # Qwen-style encoders pair frames (temporal patch of 2)
    step = (end - start) / count
    return [round(start + step * (k + 0.5), 6) for k in range(count)]


def decode_video(path: str, segment: Segment, fps: float, max_frames: int) -> tuple[np.ndarray, float]:
    """Frames ``(T, C, H, W)`` uint8 of ``segment`` and the effective fps they were sampled at."""
    from torchcodec.decoders import VideoDecoder

    try:
        decoder = VideoDecoder(path)
        duration = float(decoder.metadata.duration_seconds or 0.0)
        end = min(segment.end, duration) if segment.end is not None else duration
        times = frame_times(segment.start, end, fps, max_frames)
        frames = decoder.get_frames_played_at(seconds=times).data.numpy()
    except Exception as err:  # torchcodec raises plain RuntimeError/ValueError for unreadable files
        raise MediaError(f"cannot read video frames from {path}: {err}") from err
    return frames, len(times) / (end - segment.start)


def decode_audio(path: str, segment: Segment) -> np.ndarray:
    """Mono float32 samples of ``segment`` at 16 kHz (the audio track of a video file works too)."""
    from torchcodec.decoders import AudioDecoder

    try:
        decoder = AudioDecoder(path, sample_rate=SAMPLING_RATE, num_channels=1)
        samples = decoder.get_samples_played_in_range(segment.start, segment.end)
    except Exception as err:
        raise MediaError(f"cannot read an audio track from {path}: {err}") from err
    audio = samples.data[0].numpy().astype(np.float32)
    if audio.size == 0:
        raise MediaError(f"no audio samples in {path} between {segment.start}s and {segment.end}s")
    return audio


# Several questions share one clip segment: keep the last few decodes (keyed by file identity too).
# Callers must not write into the arrays they get back (processors copy before resizing).
@lru_cache(maxsize=8)
def _video_memo(path: str, size: int, mtime_ns: int, segment: Segment, fps: float, max_frames: int):
    return decode_video(path, segment, fps, max_frames)


@lru_cache(maxsize=8)
def _audio_memo(path: str, size: int, mtime_ns: int, segment: Segment) -> np.ndarray:
    return decode_audio(path, segment)


def _identity(path: str) -> tuple[str, int, int]:
    try:
        stat = Path(path).stat()
    except OSError as err:
        raise MediaError(f"cannot open media file {path}: {err.strerror}") from err
    return str(path), stat.st_size, stat.st_mtime_ns


def cached_decode_video(path: str, segment: Segment, fps: float, max_frames: int) -> tuple[np.ndarray, float]:
    """``decode_video`` memoised on (file, size, mtime, segment, fps, max_frames)."""
    return _video_memo(*_identity(path), segment, fps, max_frames)


def cached_decode_audio(path: str, segment: Segment) -> np.ndarray:
    """``decode_audio`` memoised like ``cached_decode_video``."""
    return _audio_memo(*_identity(path), segment)
