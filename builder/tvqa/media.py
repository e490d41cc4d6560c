"""Clip media (found by ``layout.py``): probe it, mux frames into an mp4, decode its audio to 16 kHz mono
and cut speakers' audio with soundfile. Which frames a model input gets is decided by the shared sampler
(``model_calls.media``); this module only writes them out."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from model_calls.media import SAMPLING_RATE, decode_frames, encode_mp4


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
    """The frames shown at ``times`` (seconds; chosen by ``model_calls.media.frame_times``) as a small silent mp4.

    Captions see exactly these frames through a ``video`` part, which every backend accepts
    (the local engines take videos but not loose images; OpenAI-compatible servers take both).
    """
    if out.is_file():
        return out
    frames = decode_frames(video, times).transpose(0, 2, 3, 1)  # (T, H, W, C) for the encoder
    encode_mp4(out, list(frames), fps)
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
