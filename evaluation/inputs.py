"""What reaches the model for one instance: chat messages with the clip's frames and audio, per input preset.

The sampling values (fps, frames, pixels, audio rate, audio in video) are a named preset of
``model_calls/presets.yaml``; the system prompt is the model family's (``model_calls.presets``).
An adapter that records what it was trained on (``crossomni_inputs.json``) is evaluated on that
by default; asking for other inputs is refused unless the mismatch is allowed.

Modality ablations (for diagnosis; allowed with an adapter, they are not a change of preset):

- ``full``       — video frames and the clip's own audio track together (audio-in-video);
- ``no-audio``   — frames only;
- ``audio-only`` — the audio track only;
- ``text-only``  — neither: biography, question and options alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossomni import SAMPLING_RATE
from evaluation.prompting import DEFAULT_VERSION
from model_calls.adapters import read_adapter_config, read_training_inputs
from model_calls.presets import InputPreset, base_inputs, input_preset

INPUT_PRESETS: dict[str, tuple[str, ...]] = {
    "full": ("video", "audio"),
    "no-audio": ("video",),
    "audio-only": ("audio",),
    "text-only": (),
}
MEDIA_FIELDS = ("fps", "max_frames", "min_pixels", "max_pixels")


class InputMismatchError(ValueError):
    """Evaluation inputs differ from those the adapter was trained on (and the mismatch was not allowed)."""


@dataclass(frozen=True)
class InputConfig:
    """How media are sampled and placed; recorded in every run's metadata."""

    inputs: str = "full"
    preset: InputPreset = field(default_factory=lambda: input_preset("generic"))
    system_prompt: str | None = "You are a helpful assistant."
    media_first: bool = True  # media parts before the text, the order Qwen-Omni models were trained with
    use_segment: bool = True  # only the instance's [start, end] of the clip

    def __post_init__(self) -> None:
        if self.inputs not in INPUT_PRESETS:
            raise ValueError(f"unknown inputs preset {self.inputs!r}; expected one of {', '.join(INPUT_PRESETS)}")

    @property
    def modalities(self) -> tuple[str, ...]:
        return INPUT_PRESETS[self.inputs]

    @property
    def audio_in_video(self) -> bool:
        return self.preset.audio_in_video and set(self.modalities) == {"video", "audio"}

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "preset": self.preset.to_json(),
            "system_prompt": self.system_prompt,
            "media_first": self.media_first,
            "use_segment": self.use_segment,
            "modalities_requested": list(self.modalities),
        }


@dataclass(frozen=True)
class ResolvedInputs:
    """The preset, prompt and system prompt a run uses, and what its adapter was trained on (if it says)."""

    preset: InputPreset
    prompting: str
    prompt_version: str
    system_prompt: str | None
    trained: dict[str, Any] | None = None
    mismatches: tuple[str, ...] = ()
    base_mismatch: str | None = None  # --model is not the base the adapter records (a warning, not an error)
    source: str = ""  # where the defaults came from: the adapter's record, or the base model's family (run.json)


def _same_model(a: str, b: str) -> bool:
    if a == b:
        return True
    left, right = Path(a).expanduser(), Path(b).expanduser()
    return left.exists() and right.exists() and left.resolve() == right.resolve()


def base_model_mismatch(model: str, adapter: str, trained: dict[str, Any] | None) -> str | None:
    """A one-line warning when ``model`` is none of the bases ``adapter`` records, else None.

    The records: ``adapter_config.json``'s ``base_model_name_or_path`` and, when ``crossomni train`` wrote
    it, ``crossomni_inputs.json``'s ``base_model`` (the folder it loaded and the Hub id it confirmed).
    """
    recorded = [read_adapter_config(adapter).get("base_model_name_or_path")]
    base = (trained or {}).get("base_model") or {}
    recorded += [base.get("loaded"), base.get("hub_id")]
    names = list(dict.fromkeys(name for name in recorded if name))
    if not names or any(_same_model(model, name) for name in names):
        return None
    return (
        f"--model {model} differs from the base adapter {adapter} records ({' / '.join(names)}): is it the same model?"
    )


def resolve_inputs(
    model: str,
    adapter: str | None = None,
    *,
    preset: str | None = None,
    prompting: str | None = None,
    prompt_version: str | None = None,
    system_prompt: str | None = None,
    allow_mismatch: bool = False,
    **media: Any,
) -> ResolvedInputs:
    """Settle a run's inputs: the adapter's record, else the base model family's (``model_calls.presets.base_inputs``:
    the preset and system prompt training on that base records); explicit values override.

    A ``model`` other than the base the adapter records is kept in ``base_mismatch`` (a warning).

    With an adapter that recorded its training inputs, an explicit preset, media value, prompt or
    system prompt that differs from the record raises ``InputMismatchError`` (one line) unless
    ``allow_mismatch``; the differences are kept in ``mismatches`` either way.
    """
    unknown = sorted(set(media) - set(MEDIA_FIELDS))
    if unknown:
        raise ValueError(f"unknown media setting(s) {', '.join(unknown)}")
    trained = read_training_inputs(adapter) if adapter else None
    base_mismatch = base_model_mismatch(model, adapter, trained) if adapter else None
    if trained is None:
        defaults = base_inputs(model)
        chosen = input_preset(preset) if preset else defaults.preset
        explicit = [name for name, value in (("input preset", preset), ("system prompt", system_prompt)) if value]
        return ResolvedInputs(
            preset=chosen.with_overrides(**media),
            prompting=prompting or "default",
            prompt_version=prompt_version or DEFAULT_VERSION,
            system_prompt=defaults.system_prompt if system_prompt is None else system_prompt,
            base_mismatch=base_mismatch,
            source=defaults.describe() + (f"; {' and '.join(explicit)} given explicitly" if explicit else ""),
        )
    trained_preset = InputPreset.from_json(trained["input_preset"])
    mode, version = str(trained["prompt_template"]["id"]).rsplit(".", 1)
    chosen = (input_preset(preset) if preset else trained_preset).with_overrides(**media)
    resolved = ResolvedInputs(
        preset=chosen,
        prompting=prompting or mode,
        prompt_version=prompt_version or version,
        system_prompt=trained["system_prompt"] if system_prompt is None else system_prompt,
        trained=trained,
        base_mismatch=base_mismatch,
        source=f"adapter {adapter}: what it records it was trained on (crossomni_inputs.json)",
    )
    mismatches = []
    if chosen.settings() != trained_preset.settings():
        mismatches.append(f"input preset {chosen.name} (adapter: {trained_preset.name})")
    if f"{resolved.prompting}.{resolved.prompt_version}" != f"{mode}.{version}":
        mismatches.append(f"prompt {resolved.prompting}.{resolved.prompt_version} (adapter: {mode}.{version})")
    if resolved.system_prompt != trained["system_prompt"]:
        mismatches.append("system prompt (adapter: its recorded one)")
    if mismatches and not allow_mismatch:
        raise InputMismatchError(
            f"adapter {adapter} was trained on other inputs: {'; '.join(mismatches)}; "
            "pass --allow-input-mismatch to evaluate it on these anyway"
        )
    return ResolvedInputs(**{**resolved.__dict__, "mismatches": tuple(mismatches)})


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
    preset = config.preset
    # a non-default audio rate travels with the part (the default keeps request keys as they were)
    rate = {"sampling_rate": preset.sampling_rate} if preset.sampling_rate != SAMPLING_RATE else {}
    parts: list[dict[str, Any]] = []
    wanted = config.modalities
    if "video" in wanted:
        if not video:
            raise ValueError("the inputs preset needs video but the instance has no video file")
        part = {"type": "video", "video": video, **window, "fps": preset.fps, "max_frames": preset.max_frames}
        if preset.max_pixels:
            part["max_pixels"] = preset.max_pixels
            if preset.min_pixels:
                part["min_pixels"] = preset.min_pixels
        part.update(rate)
        if config.audio_in_video and audio == video:
            part["audio_in_video"] = True
        parts.append(part)
    if "audio" in wanted and not any(p.get("audio_in_video") for p in parts):
        if not audio:
            raise ValueError("the inputs preset needs audio but the instance has no audio file")
        parts.append({"type": "audio", "audio": audio, **window, **rate})
    text = {"type": "text", "text": prompt}
    content = [*parts, text] if config.media_first else [text, *parts]
    messages: list[dict[str, Any]] = []
    if config.system_prompt:
        messages.append({"role": "system", "content": config.system_prompt})
    messages.append({"role": "user", "content": content})
    return tuple(messages)
