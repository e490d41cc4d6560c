"""The one media sampler: which frames and which audio samples a clip segment contributes to a model input.

``sample_segment(clip, segment, preset)`` returns the frame times, the frames ``(T, C, H, W)`` uint8
and the mono float32 audio of ``[start, end)`` of a clip (an mp4 path or its bytes), as the named
input preset (``model_calls/presets.yaml``) says. The builder's captions, every evaluation backend
and the SFT/GRPO collators call it, so the same segment gives the same frames and samples everywhere.

Frame rule (``frame_times``): ``ceil(duration * fps)`` frames, at least 2, at most ``max_frames``, an
even count (Qwen-style encoders pair frames); each is the frame shown at the midpoint of its equal
share of the segment. A file that cannot be opened raises ``MediaError`` naming it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from crossomni import SAMPLING_RATE
from model_calls.presets import TEMPORAL_PATCH, InputPreset

__all__ = [
    "SAMPLING_RATE",
    "MediaError",
    "SampledSegment",
    "Segment",
    "decode_audio",
    "decode_frames",
    "encode_mp4",
    "frame_times",
    "request_key",
    "sample_segment",
]


def embedded_media_file(data: bytes, name: str | None, folder: str | Path) -> Path:
    """The bytes of an embedded clip as a file under ``folder`` that readers can open, written once.

    Named by the content's sha256 (the same bytes from any row map to one file) with ``name``'s suffix;
    written through a partial file and a rename, so a crash never leaves half a clip behind.
    """
    suffix = Path(name or "clip.mp4").suffix or ".mp4"
    target = Path(folder) / f"{hashlib.sha256(data).hexdigest()}{suffix}"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        partial.write_bytes(data)
        partial.replace(target)
    return target


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


@dataclass(frozen=True)
class SampledSegment:
    """What a segment contributes to a model input. Callers must not write into the arrays (they are shared)."""

    times: tuple[float, ...]  # seconds into the clip, one per frame
    frames: np.ndarray | None  # (T, C, H, W) uint8; None when frames were not asked for
    audio: np.ndarray | None  # (N,) float32 mono at the preset's sampling rate; None when not asked for
    fps: float  # frames per second of the segment actually sampled (what the processor's time axis needs)
    start: float
    end: float


def frame_times(start: float, end: float, fps: float, max_frames: int) -> list[float]:
    """Frame timestamps of ``[start, end)``: ``ceil(d * fps)`` frames clamped to [2, max_frames], even, at midpoints.

    >>> frame_times(0.0, 2.0, 2.0, 64)
    [0.25, 0.75, 1.25, 1.75]
    >>> frame_times(0.0, 1.0, 2.0, 64)
    [0.25, 0.75]
    >>> len(frame_times(0.0, 60.0, 2.0, 32)), len(frame_times(0.0, 1.4, 2.0, 32))
    (32, 4)
    """
    if not end > start:
        raise MediaError(f"empty segment [{start}, {end}]")
    count = math.ceil(round((end - start) * fps, 6))
    count = min(max(count, TEMPORAL_PATCH), max_frames)
    count += -count % TEMPORAL_PATCH
    step = (end - start) / count
    return [round(start + step * (k + 0.5), 6) for k in range(count)]


def _name(clip: str | bytes | Path) -> str:
    return str(clip) if not isinstance(clip, bytes) else f"<{len(clip)} bytes>"


def _source(clip: str | bytes | Path) -> str | bytes:
    return clip if isinstance(clip, bytes) else str(clip)


def decode_frames(clip: str | bytes | Path, times: list[float]) -> np.ndarray:
    """The frames shown at ``times`` (seconds), ``(T, C, H, W)`` uint8; a time past the end gets the last frame."""
    from torchcodec.decoders import VideoDecoder

    try:
        decoder = VideoDecoder(_source(clip))
        duration = float(decoder.metadata.duration_seconds or 0.0)
        last = max(duration - 1e-3, 0.0) if duration else None
        wanted = [min(t, last) if last is not None else t for t in times]
        return decoder.get_frames_played_at(seconds=wanted).data.numpy()
    except Exception as err:  # torchcodec raises plain RuntimeError/ValueError for unreadable files
        raise MediaError(f"cannot read video frames from {_name(clip)}: {err}") from err


def _video_duration(clip: str | bytes | Path) -> float:
    from torchcodec.decoders import VideoDecoder

    try:
        return float(VideoDecoder(_source(clip)).metadata.duration_seconds or 0.0)
    except Exception as err:
        raise MediaError(f"cannot read video frames from {_name(clip)}: {err}") from err


def decode_audio(clip: str | bytes | Path, segment: Segment, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Mono float32 samples of ``segment`` at ``sampling_rate`` (the audio track of a video file works too)."""
    from torchcodec.decoders import AudioDecoder

    try:
        decoder = AudioDecoder(_source(clip), sample_rate=sampling_rate, num_channels=1)
        samples = decoder.get_samples_played_in_range(segment.start, segment.end)
    except Exception as err:
        raise MediaError(f"cannot read an audio track from {_name(clip)}: {err}") from err
    audio = samples.data.mean(0).numpy().astype(np.float32)
    if audio.size == 0:
        raise MediaError(f"no audio samples in {_name(clip)} between {segment.start}s and {segment.end}s")
    return audio


def _sample(clip: str | bytes, segment: Segment, preset: InputPreset, frames: bool, audio: bool) -> SampledSegment:
    times: list[float] = []
    pictures = sound = None
    end = segment.end
    fps = 0.0
    if frames:
        duration = _video_duration(clip)
        end = min(end, duration) if end is not None else duration
        if not 0 <= segment.start < end:
            raise MediaError(f"segment [{segment.start}, {segment.end}] is empty in {_name(clip)} ({duration:.2f} s)")
        times = frame_times(segment.start, end, preset.fps, preset.max_frames)
        pictures = decode_frames(clip, times)
        fps = len(times) / (end - segment.start)
    if audio:
        sound = decode_audio(clip, Segment(segment.start, end), preset.sampling_rate)
        if end is None:
            end = segment.start + sound.size / preset.sampling_rate
    return SampledSegment(tuple(times), pictures, sound, fps, segment.start, float(end if end is not None else 0.0))


# Several questions share one clip segment: keep the last few samples (keyed by file identity too).
@lru_cache(maxsize=8)
def _memo(path: str, size: int, mtime_ns: int, segment: Segment, preset: InputPreset, frames: bool, audio: bool):
    return _sample(path, segment, preset, frames, audio)


def sample_segment(
    clip: str | bytes | Path,
    segment: Segment,
    preset: InputPreset,
    *,
    frames: bool = True,
    audio: bool | None = None,
) -> SampledSegment:
    """Frame times, frames and audio of ``segment`` of ``clip`` under ``preset``.

    ``audio`` defaults to ``preset.audio_in_video`` (the clip's own soundtrack with its frames). A path
    is memoised on (file, size, mtime, segment, preset); bytes are decoded each time.
    """
    want_audio = preset.audio_in_video if audio is None else audio
    if isinstance(clip, bytes):
        return _sample(clip, segment, preset, frames, want_audio)
    try:
        stat = Path(clip).stat()
    except OSError as err:
        raise MediaError(f"cannot open media file {clip}: {err.strerror}") from err
    return _memo(str(clip), stat.st_size, stat.st_mtime_ns, segment, preset, frames, want_audio)


def part_preset(part: dict[str, Any], base: InputPreset) -> InputPreset:
    """The preset a request's media part asks for: ``base`` with the part's own sampling fields applied."""
    keys = ("fps", "max_frames", "min_pixels", "max_pixels", "sampling_rate")
    preset = base.with_overrides(**{key: part.get(key) for key in keys})
    return preset.with_overrides(audio_in_video=bool(part.get("audio_in_video")))


def encode_mp4(out: Path, frames: Iterable[np.ndarray], fps: float, samples: np.ndarray | None = None) -> Path:
    """Write RGB frames (H.264, streamed) and optional 16 kHz mono samples (AAC) to ``out`` atomically."""
    import av

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part.mp4")
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[0] - first.shape[0] % 2, first.shape[1] - first.shape[1] % 2
    with av.open(str(tmp), mode="w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        video.height, video.width, video.pix_fmt = height, width, "yuv420p"
        video.options = {"crf": "18"}
        sound = container.add_stream("aac", rate=SAMPLING_RATE, layout="mono") if samples is not None else None
        for frame in itertools.chain([first], frames):
            image = np.ascontiguousarray(frame[:height, :width])
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None and samples is not None:
            for offset in range(0, len(samples), 1024):
                block = samples[offset : offset + 1024].reshape(1, -1)
                audio = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                audio.sample_rate, audio.pts, audio.time_base = SAMPLING_RATE, offset, Fraction(1, SAMPLING_RATE)
                for packet in sound.encode(audio):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    os.replace(tmp, out)
    return out
