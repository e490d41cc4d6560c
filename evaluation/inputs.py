"""What reaches the model for one instance: chat messages with the clip's frames and audio, per preset.

Input presets (the modality ablations of the field, for diagnosis):

- ``full``       — video frames and the clip's own audio track together (audio-in-video);
- ``no-audio``   — frames only;
- ``audio-only`` — the audio track only;
- ``text-only``  — neither: biography, question and options alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

PRESETS_FILE = Path(__file__).resolve().parent / "presets.yaml"
INPUT_PRESETS: dict[str, tuple[str, ...]] = {
    "full": ("video", "audio"),
    "no-audio": ("video",),
    "audio-only": ("audio",),
    "text-only": (),
}


@dataclass(frozen=True)
class InputConfig:
    """How media are sampled and placed; recorded in every run's metadata."""

    inputs: str = "full"
    fps: float = 2.0
    max_frames: int = 64
    min_pixels: int | None = None
    max_pixels: int | None = None
    system_prompt: str | None = "You are a helpful assistant."
    media_first: bool = True  # media parts before the text, the order Qwen-Omni models were trained with
    use_segment: bool = True  # only the instance's [start, end] of the clip

    def __post_init__(self) -> None:
        if self.inputs not in INPUT_PRESETS:
            raise ValueError(f"unknown inputs preset {self.inputs!r}; expected one of {', '.join(INPUT_PRESETS)}")
        if self.fps <= 0 or self.max_frames < 2:
            raise ValueError("fps must be > 0 and max_frames >= 2")

    @property
    def modalities(self) -> tuple[str, ...]:
        return INPUT_PRESETS[self.inputs]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "modalities_requested": list(self.modalities)}


def model_defaults(model: str) -> dict[str, Any]:
    """Preset values for a model id (``presets.yaml``), falling back to the defaults."""
    presets = yaml.safe_load(PRESETS_FILE.read_text(encoding="utf-8"))
    for entry in presets["models"]:
        if entry["match"].lower() in model.lower():
            return {key: value for key, value in entry.items() if key != "match"}
    return dict(presets["default"])


def input_config_for(model: str, **overrides: Any) -> InputConfig:
    """The model family's preset with the given (non-None) overrides applied."""
    config = InputConfig(**model_defaults(model))
    return replace(config, **{key: value for key, value in overrides.items() if value is not None})


def build_messages(
    prompt: str,
    config: InputConfig,
    video: str | None,
    audio: str | None,
    start: float | None = None,
    end: float | None = None,
) -> tuple[dict[str, Any], ...]:
    """Chat messages for one instance; a requested modality without a file raises ``ValueError``."""
    window = {"start": start, "end": end} if config.use_segment and start is not None else {}
    parts: list[dict[str, Any]] = []
    wanted = config.modalities
    if "video" in wanted:
        if not video:
            raise ValueError("the inputs preset needs video but the instance has no video file")
        part = {"type": "video", "video": video, **window, "fps": config.fps, "max_frames": config.max_frames}
        if config.max_pixels:
            part["max_pixels"] = config.max_pixels
            if config.min_pixels:
                part["min_pixels"] = config.min_pixels
        if "audio" in wanted and audio == video:
            part["audio_in_video"] = True
        parts.append(part)
    if "audio" in wanted and not any(p.get("audio_in_video") for p in parts):
        if not audio:
            raise ValueError("the inputs preset needs audio but the instance has no audio file")
        parts.append({"type": "audio", "audio": audio, **window})
    text = {"type": "text", "text": prompt}
    content = [*parts, text] if config.media_first else [text, *parts]
    messages: list[dict[str, Any]] = []
    if config.system_prompt:
        messages.append({"role": "system", "content": config.system_prompt})
    messages.append({"role": "user", "content": content})
    return tuple(messages)
