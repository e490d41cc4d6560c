"""Clip media (found by ``layout.py``): probe it, decode its audio to 16 kHz mono, mux a frame folder and its
audio into an mp4. Which frames and samples a model input gets is decided by the shared sampler
(``model_calls.media``), from the clip's own file: nothing is cut out of a clip here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model_calls.media import SAMPLING_RATE, encode_mp4


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
