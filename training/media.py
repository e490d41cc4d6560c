"""Decode one instance's segment of a clip: sampled frames and the 16 kHz mono audio track."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import crossomni


@dataclass(frozen=True)
class MediaOptions:
    """How a clip segment becomes model input (recorded with every run)."""

    video_fps: float = 2.0  # Qwen2.5-Omni's default sampling rate for video frames
    max_frames: int = 64
    min_frames: int = 4
    temporal_patch_size: int = 2  # frame counts are rounded to a multiple of this
    sampling_rate: int = crossomni.SAMPLING_RATE


@dataclass
class ClipSegment:
    """Decoded media of one instance: ``frames`` (T, C, H, W) uint8 and mono ``audio`` (N,) float32."""

    frames: Any
    audio: Any
    fps: float
    source: str


def media_source(media: Any, column: str, row_id: str) -> str | bytes:
    """Path or bytes of a ``datasets`` media value (undecoded dict, plain path, or bytes)."""
    if isinstance(media, (str, bytes)):
        return media
    if isinstance(media, dict):
        if media.get("bytes"):
            return media["bytes"]
        if media.get("path"):
            return media["path"]
    raise ValueError(f"instance {row_id}: column {column!r} holds no media path or bytes ({type(media).__name__})")


def frame_times(start: float, end: float, options: MediaOptions) -> list[float]:
    """Evenly spaced frame timestamps in ``[start, end)``: ``video_fps`` per second, clamped, even count.

    >>> frame_times(0.0, 8.0, MediaOptions(video_fps=1.0))
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    >>> len(frame_times(0.0, 1.0, MediaOptions()))
    4
    """
    count = math.ceil((end - start) * options.video_fps)
    count = max(options.min_frames, min(options.max_frames, count))
    count = math.ceil(count / options.temporal_patch_size) * options.temporal_patch_size
    step = (end - start) / count
    return [round(start + i * step, 6) for i in range(count)]


def load_segment(source: str | bytes, start: float, end: float, options: MediaOptions, row_id: str) -> ClipSegment:
    """Frames and audio of ``[start, end)`` seconds of a clip; a clip that cannot be decoded raises naming the row."""
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    name = source if isinstance(source, str) else f"<{len(source)} bytes>"
    try:
        video = VideoDecoder(source)
        duration = float(video.metadata.duration_seconds or end)
        end = min(end, duration)
        if not 0 <= start < end:
            raise ValueError(f"segment [{start}, {end}] is empty for a clip of {duration:.2f} s")
        times = [min(t, duration - 1e-3) for t in frame_times(start, end, options)]
        frames = video.get_frames_played_at(times).data
        audio = AudioDecoder(source, sample_rate=options.sampling_rate, num_channels=1)
        samples = audio.get_samples_played_in_range(start, end).data.mean(0).numpy()
    except Exception as err:  # torchcodec raises RuntimeError/ValueError with long native messages
        raise ValueError(f"instance {row_id}: cannot decode media {name}: {err}") from err
    if samples.size == 0:
        raise ValueError(f"instance {row_id}: media {name} has no audio in [{start}, {end}] s")
    return ClipSegment(frames=frames, audio=samples, fps=len(times) / (end - start), source=name)
