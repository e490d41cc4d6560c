"""Clip media (found by ``layout.py``): probe it, mux frames into an mp4,
decode its audio to 16 kHz mono, sample frames with decord and cut audio with soundfile."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

SAMPLING_RATE = 16_000


def probe_duration(path: Path) -> float:
    """Duration of a media file in seconds (container, else longest stream)."""
    import av

    with av.open(str(path)) as container:
        if container.duration is not None:
            return float(container.duration / av.time_base)
        durations = [float(s.duration * s.time_base) for s in container.streams if s.duration and s.time_base]
    if not durations:
        raise ValueError(f"{path}: cannot tell the duration")
    return max(durations)


def audio_duration(path: Path) -> float:
    return probe_duration(path)


def decode_audio(path: Path) -> np.ndarray:
    """The audio track of any file PyAV reads, as float32 mono at 16 kHz."""
    import av

    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{path}: no audio track")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLING_RATE)
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)


def write_wav_atomic(path: Path, samples: np.ndarray) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.wav")
    sf.write(tmp, samples, SAMPLING_RATE, subtype="PCM_16")
    os.replace(tmp, path)


def speaker_audio(clip_wav: Path, spans: list[tuple[float, float]], out: Path, gap: float = 0.2) -> Path:
    """Cut a speaker's cue spans out of the clip's wav with soundfile and join them with short silences."""
    import soundfile as sf

    if out.is_file():
        return out
    pieces = []
    silence = np.zeros(int(gap * SAMPLING_RATE), dtype=np.float32)
    with sf.SoundFile(clip_wav) as handle:
        for start, end in spans:
            handle.seek(min(int(start * SAMPLING_RATE), handle.frames))
            pieces += [handle.read(max(0, int((end - start) * SAMPLING_RATE)), dtype="float32"), silence]
    samples = np.concatenate(pieces) if pieces else silence
    write_wav_atomic(out, samples)
    return out


def clip_wav(media_file: Path, out: Path) -> Path:
    """Decode a clip's audio once into a 16 kHz mono wav (the source of speaker cuts)."""
    if not out.is_file():
        write_wav_atomic(out, decode_audio(media_file))
    return out


def segment_video(video: Path, times: list[float], out: Path, fps: float = 1.0) -> Path:
    """The frames nearest to ``times`` (seconds), read with decord, as a small silent mp4 at ``fps``.

    Captions see exactly these frames through a ``video`` part, which every backend accepts
    (the local engines take videos but not loose images; OpenAI-compatible servers take both).
    """
    if out.is_file():
        return out
    import decord

    reader = decord.VideoReader(str(video), ctx=decord.cpu(0))
    rate = float(reader.get_avg_fps()) or 1.0
    indices = [min(len(reader) - 1, max(0, round(t * rate))) for t in times]
    frames = reader.get_batch(indices).asnumpy()
    encode_mp4(out, list(frames), fps)
    return out


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


def mux_frames(frames_dir: Path, audio: Path, out: Path, fps: float = 3.0) -> Path:
    """Mux a TVQA frame folder (``00001.jpg`` ... at ``fps``) and an audio file into an mp4 (H.264 + AAC)."""
    from PIL import Image

    if out.is_file():
        return out
    frame_paths = sorted(p for p in frames_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not frame_paths:
        raise ValueError(f"{frames_dir}: no frames")
    frames = (np.asarray(Image.open(path).convert("RGB")) for path in frame_paths)
    return encode_mp4(out, frames, fps, decode_audio(audio))
