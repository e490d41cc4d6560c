"""The one media sampler: which frames and which audio samples a clip segment contributes to a model input.

``sample_segment(clip, segment, preset)`` returns the frame times, the frames ``(T, C, H, W)`` uint8
and the mono float32 audio of ``[start, end)`` of a clip (an mp4 path or its bytes), as the named
input preset (``model_calls/presets.yaml``) says. The builder's captions, every evaluation backend
and the SFT/GRPO collators call it, so the same segment gives the same frames and samples everywhere.
``part_audio`` is the same for an audio part: ``[start, end)`` of a file, or its ``spans`` (a speaker's
lines) joined by silences.

A media part names its source file and its window, never a re-encoded cut, so a request's cache key
needs no decoding (``ModelRequest.key`` hashes the source file's bytes once per file). What a part
decodes to may be prepared ahead by another process (``model_calls.prefetch``): ``prepare_parts`` returns
exactly what ``sample_segment``/``part_audio`` would, and ``provide`` hands it to them.

Frame rule (``frame_times``): ``ceil(duration * fps)`` frames, at least 2, at most ``max_frames``, an
even count (Qwen-style encoders pair frames); each is the frame shown at the midpoint of its equal
share of the segment. A file that cannot be opened raises ``MediaError`` naming it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections import Counter
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
    "Spans",
    "decode_audio",
    "decode_frames",
    "encode_mp4",
    "frame_times",
    "part_audio",
    "prepare_parts",
    "provide",
    "request_key",
    "sample_segment",
    "withdraw",
]

# Decoder work done in this process: "opened" video decoders, "video" frame fetches, "audio" decodes.
DECODES: Counter[str] = Counter()


def decode_count() -> int:
    """Frame fetches plus audio decodes made in this process so far."""
    return DECODES["video"] + DECODES["audio"]


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
class Spans:
    """Time windows of one file joined into one track, each followed by ``gap`` seconds of silence
    (a speaker's lines: ``{"type": "audio", "audio": path, "spans": [[s, e], ...], "gap": 0.2}``)."""

    windows: tuple[tuple[float, float], ...]
    gap: float = 0.0

    @classmethod
    def of(cls, part: dict[str, Any]) -> Spans | None:
        spans = part.get("spans")
        if spans is None:
            return None
        if part.get("start") is not None or part.get("end") is not None:
            raise MediaError(f"an audio part of {part.get('audio')} has spans and start/end: give one of them")
        return cls(tuple((float(start), float(end)) for start, end in spans), float(part.get("gap") or 0.0))

    def join(self, track: np.ndarray, sampling_rate: int) -> np.ndarray:
        """The windows' samples of ``track`` (the whole file's), each followed by the gap's silence."""
        silence = np.zeros(int(self.gap * sampling_rate), dtype=np.float32)
        pieces = []
        for start, end in self.windows:
            first = min(int(start * sampling_rate), track.size)
            pieces += [track[first : first + max(0, int((end - start) * sampling_rate))], silence]
        return np.concatenate(pieces).astype(np.float32, copy=False) if pieces else silence


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


def _open_video(clip: str | bytes | Path) -> Any:
    """A torchcodec ``VideoDecoder`` of ``clip`` (one serves every segment of the clip)."""
    from torchcodec.decoders import VideoDecoder

    DECODES["opened"] += 1
    try:
        return VideoDecoder(_source(clip))
    except Exception as err:  # torchcodec raises plain RuntimeError/ValueError for unreadable files
        raise MediaError(f"cannot read video frames from {_name(clip)}: {err}") from err


def _duration(decoder: Any) -> float:
    return float(decoder.metadata.duration_seconds or 0.0)


def _frames_at(decoder: Any, clip: str | bytes | Path, times: list[float]) -> np.ndarray:
    duration = _duration(decoder)
    last = max(duration - 1e-3, 0.0) if duration else None
    wanted = [min(t, last) if last is not None else t for t in times]
    DECODES["video"] += 1
    try:
        return decoder.get_frames_played_at(seconds=wanted).data.numpy()
    except Exception as err:
        raise MediaError(f"cannot read video frames from {_name(clip)}: {err}") from err


def decode_frames(clip: str | bytes | Path, times: list[float]) -> np.ndarray:
    """The frames shown at ``times`` (seconds), ``(T, C, H, W)`` uint8; a time past the end gets the last frame."""
    return _frames_at(_open_video(clip), clip, times)


def decode_audio(clip: str | bytes | Path, segment: Segment, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Mono float32 samples of ``segment`` at ``sampling_rate`` (the audio track of a video file works too)."""
    from torchcodec.decoders import AudioDecoder

    DECODES["audio"] += 1
    try:
        decoder = AudioDecoder(_source(clip), sample_rate=sampling_rate, num_channels=1)
        samples = decoder.get_samples_played_in_range(segment.start, segment.end)
    except Exception as err:
        raise MediaError(f"cannot read an audio track from {_name(clip)}: {err}") from err
    audio = samples.data.mean(0).numpy().astype(np.float32)
    if audio.size == 0:
        raise MediaError(f"no audio samples in {_name(clip)} between {segment.start}s and {segment.end}s")
    return audio


def _sample(
    clip: str | bytes, segment: Segment, preset: InputPreset, frames: bool, audio: bool, decoder: Any = None
) -> SampledSegment:
    times: list[float] = []
    pictures = sound = None
    end = segment.end
    fps = 0.0
    if frames:
        decoder = decoder if decoder is not None else _open_video(clip)
        duration = _duration(decoder)
        end = min(end, duration) if end is not None else duration
        if not 0 <= segment.start < end:
            raise MediaError(f"segment [{segment.start}, {segment.end}] is empty in {_name(clip)} ({duration:.2f} s)")
        times = frame_times(segment.start, end, preset.fps, preset.max_frames)
        pictures = _frames_at(decoder, clip, times)
        fps = len(times) / (end - segment.start)
    if audio:
        sound = decode_audio(clip, Segment(segment.start, end), preset.sampling_rate)
        if end is None:
            end = segment.start + sound.size / preset.sampling_rate
    return SampledSegment(tuple(times), pictures, sound, fps, segment.start, float(end if end is not None else 0.0))


def _identity(path: str | Path) -> tuple[str, int, int]:
    """A file's identity for the memos: path, size and modification time."""
    try:
        stat = os.stat(path)
    except OSError as err:
        raise MediaError(f"cannot open media file {path}: {err.strerror}") from err
    return str(path), stat.st_size, stat.st_mtime_ns


# What other processes decoded ahead of the model calls (``model_calls.prefetch``), by the key the
# lookups below compute; the prefetcher withdraws a batch's entries once its call is made.
_PREPARED: dict[tuple[Any, ...], Any] = {}


def provide(entries: Iterable[tuple[tuple[Any, ...], Any]]) -> None:
    """Hand prepared media (``prepare_parts``' output) to the samplers of this process."""
    _PREPARED.update(entries)


def withdraw(keys: Iterable[tuple[Any, ...]]) -> None:
    for key in keys:
        _PREPARED.pop(key, None)


# Several questions share one clip segment: keep the last few samples (keyed by file identity too).
@lru_cache(maxsize=8)
def _memo(path: str, size: int, mtime_ns: int, segment: Segment, preset: InputPreset, frames: bool, audio: bool):
    return _sample(path, segment, preset, frames, audio)


# A clip's speakers are cut from one decode of its soundtrack.
@lru_cache(maxsize=2)
def _track(path: str, size: int, mtime_ns: int, sampling_rate: int) -> np.ndarray:
    return decode_audio(path, Segment(0.0, None), sampling_rate)


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
    identity = _identity(clip)
    prepared = _PREPARED.get(("segment", *identity, segment, preset, frames, want_audio))
    if prepared is not None:
        return prepared
    return _memo(*identity, segment, preset, frames, want_audio)


def part_audio(part: dict[str, Any], sampling_rate: int) -> np.ndarray:
    """The mono float32 samples an audio part stands for: ``[start, end)`` of its file, or its ``spans``
    cut from one decode of the whole file and joined (each followed by ``gap`` seconds of silence)."""
    spans = Spans.of(part)
    identity = _identity(part["audio"])
    window = spans if spans is not None else Segment.of(part)
    prepared = _PREPARED.get(("audio", *identity, window, sampling_rate))
    if prepared is not None:
        return prepared
    if spans is None:
        return decode_audio(part["audio"], window, sampling_rate)
    return spans.join(_track(*identity, sampling_rate), sampling_rate)


def prepare_parts(parts: list[dict[str, Any]], base: InputPreset) -> list[tuple[tuple[Any, ...], Any]]:
    """Sample the media parts of ONE file as ``sample_segment``/``part_audio`` would for them, with one
    video decoder for all its segments and one decode of its soundtrack for all its spans; returns
    ``(key, value)`` pairs for ``provide``. A part that cannot be read is left out (its model call
    then reads it and records the error)."""
    if not parts:
        return []
    kind = parts[0]["type"]
    path = str(parts[0][kind])
    identity = _identity(path)
    out: list[tuple[tuple[Any, ...], Any]] = []
    decoder = None
    for part in parts:
        try:
            if part["type"] == "video":
                preset = part_preset(part, base)
                segment = Segment.of(part)
                decoder = decoder if decoder is not None else _open_video(path)
                sampled = _sample(path, segment, preset, True, preset.audio_in_video, decoder)
                out.append((("segment", *identity, segment, preset, True, preset.audio_in_video), sampled))
            elif part["type"] == "audio":
                rate = int(part.get("sampling_rate") or base.sampling_rate)
                spans = Spans.of(part)
                window = spans if spans is not None else Segment.of(part)
                out.append((("audio", *identity, window, rate), part_audio(part, rate)))
        except MediaError:
            continue
    return out


def part_preset(part: dict[str, Any], base: InputPreset) -> InputPreset:
    """The preset a request's media part asks for: ``base`` with the part's own sampling fields applied."""
    keys = ("fps", "max_frames", "min_pixels", "max_pixels", "sampling_rate")
    preset = base.with_overrides(**{key: part.get(key) for key in keys})
    return preset.with_overrides(audio_in_video=bool(part.get("audio_in_video")))


# H.264 settings of every mp4 written here (clips muxed from TVQA frames, segment cuts). Measured on a 90 s
# 640x360 3-fps clip (benchmarks/build_scale.py frames): x264's veryfast preset muxes in 2.8 s of CPU instead
# of 7.1 s (medium), 10% smaller at this crf, 0.3 dB PSNR lower. A keyframe at least every 4 s costs nothing
# on TV footage (x264 already cuts one at each shot change: same size) and bounds a seek on a long shot:
# there a 2-frame fetch by a fresh decoder took 276 ms with the default interval (3 keyframes in 90 s)
# and 58 ms with 4 s, for a 34% bigger file; one decoder reading a clip's caption frames: 1.03 vs 0.90 s.
X264 = {"crf": "18", "preset": "veryfast"}
KEYFRAME_SECONDS = 4.0


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
        video.options = {**X264, "g": str(max(1, round(KEYFRAME_SECONDS * fps)))}
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
