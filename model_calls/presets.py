"""Named input presets and per-model-family system prompts, read from ``presets.yaml`` (the one file that holds them).

An ``InputPreset`` says how a clip segment becomes model input: frame rate and cap, pixel bounds of a
frame, audio sample rate and whether the clip's soundtrack rides along with its frames (audio in video).
The builder's captions, every evaluation backend and the training collators sample media through
``model_calls.media`` with one of these, so the same segment gives the same input everywhere.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from model_calls.store import load_yaml

PRESETS_FILE = Path(__file__).resolve().parent / "presets.yaml"
TEMPORAL_PATCH = 2  # Qwen-style vision encoders pair frames: frame counts are even


@dataclass(frozen=True)
class InputPreset:
    """How a clip segment becomes model input (recorded with every run and every trained adapter)."""

    name: str
    fps: float = 2.0
    max_frames: int = 64
    min_pixels: int | None = None
    max_pixels: int | None = None
    sampling_rate: int = 16_000
    audio_in_video: bool = True

    def __post_init__(self) -> None:
        if not (isinstance(self.fps, int | float) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"input preset {self.name!r}: fps must be a finite number > 0, got {self.fps}")
        if self.max_frames < TEMPORAL_PATCH or self.max_frames % TEMPORAL_PATCH:
            raise ValueError(f"input preset {self.name!r}: max_frames must be even and >= 2, got {self.max_frames}")
        for name in ("min_pixels", "max_pixels", "sampling_rate"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"input preset {self.name!r}: {name} must be a whole number >= 1, got {value}")
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise ValueError(f"input preset {self.name!r}: min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def settings(self) -> dict[str, Any]:
        """The values without the name (two presets with equal settings feed the model the same input)."""
        return {key: value for key, value in asdict(self).items() if key != "name"}

    def with_overrides(self, **overrides: Any) -> InputPreset:
        """This preset with the given non-None values replaced; the name says it was changed.

        >>> input_preset("qwen2.5-omni").with_overrides(fps=1.0, max_pixels=None).name
        'qwen2.5-omni+fps=1.0'
        """
        known = {f.name for f in fields(self)} - {"name"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown input preset field(s) {', '.join(unknown)}")
        changed = {k: v for k, v in overrides.items() if v is not None and getattr(self, k) != v}
        if not changed:
            return self
        name = self.name + "".join(f"+{key}={value}" for key, value in sorted(changed.items()))
        return replace(self, name=name, **changed)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> InputPreset:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"input preset: unknown field(s) {', '.join(unknown)}")
        return cls(**value)


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return load_yaml(PRESETS_FILE.read_text(encoding="utf-8"))


def preset_names() -> tuple[str, ...]:
    return tuple(_document()["presets"])


def input_preset(name: str) -> InputPreset:
    """The named preset of ``presets.yaml``; an unknown name is an error listing the known ones."""
    presets = _document()["presets"]
    if name not in presets:
        raise ValueError(f"unknown input preset {name!r}; {PRESETS_FILE.name} has {', '.join(presets)}")
    return InputPreset(name=name, **presets[name])


@dataclass(frozen=True)
class BaseInputs:
    """What a base model gets by default, in evaluation and in training alike: its family's preset and prompt."""

    family: str  # the family's ``match`` in presets.yaml, or "default"
    matched_by: str  # how the family was found: "name", "config.json model_type ...", or "no family matched"
    preset: InputPreset
    system_prompt: str | None

    def describe(self) -> str:
        """One line for run.json and logs: which family's defaults, and why."""
        return (
            f"base model family {self.family} ({self.matched_by}): input preset {self.preset.name} and its "
            "system prompt, the inputs `crossomni train` records for an adapter trained on it"
        )


def _local_model_type(model: str) -> str | None:
    """The ``model_type`` of a local checkpoint folder's config.json (None: no such folder or field)."""
    path = Path(model).expanduser() / "config.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _family(model: str) -> tuple[dict[str, Any], str]:
    document = _document()
    for entry in document["families"]:
        if entry["match"].lower() in model.lower():
            return entry, "matched by name"
    model_type = _local_model_type(model)
    for entry in document["families"]:
        if model_type and model_type in entry.get("model_types", ()):
            return entry, f"matched by config.json model_type {model_type}"
    return {"match": "default", **document["default"]}, "no family matched"


def base_inputs(model: str, *other_names: str | None) -> BaseInputs:
    """The input preset and system prompt of the base model's family (by Hub id, path, or a local config.json).

    ``crossomni eval`` gives them to a base model, ``crossomni train`` records them for an adapter, so an
    evaluation of the base and one of its adapter feed the model the same inputs. ``other_names`` are other
    names of the same base (training's Hub id and the folder it loads), tried in order when ``model`` matches
    no family.

    >>> base_inputs("Qwen/Qwen2.5-Omni-7B").preset.name, base_inputs("Qwen/Qwen2.5-Omni-7B").family
    ('qwen2.5-omni-compact', 'qwen2.5-omni')
    """
    for name in (model, *other_names):
        if name:
            entry, matched_by = _family(name)
            if entry["match"] != "default":
                break
    return BaseInputs(entry["match"], matched_by, input_preset(entry["preset"]), entry["system_prompt"])


def family_preset(model: str) -> InputPreset:
    """The input preset a model family gets by default (e.g. ``qwen2.5-omni-compact`` for Qwen/Qwen2.5-Omni-7B)."""
    return base_inputs(model).preset


def system_prompt_for(model: str) -> str | None:
    """The system prompt of a model family (None: send no system turn). Evaluation and training both use it.

    >>> system_prompt_for("Qwen/Qwen2.5-Omni-3B").startswith("You are Qwen, a virtual human")
    True
    >>> system_prompt_for("Qwen/Qwen3-Omni-30B-A3B-Instruct") is None
    True
    """
    return base_inputs(model).system_prompt
