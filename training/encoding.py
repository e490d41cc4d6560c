"""Turn chat messages with clip parts into Qwen2.5-Omni model inputs, one row at a time.

Media are sampled and laid out by the shared model-call layer (``model_calls.omni_inputs``: the
same code the transformers evaluation backend runs), so a training row's frames, pixel sizes,
audio samples and prompt text equal what evaluation feeds the model for the same segment.

Each row is run through the processor on its own, so every row owns its media tensors
(``OmniRow.media``) and batches are built by concatenation — no splitting of a batched
processor output is ever needed, and a row can never be paired with another row's media.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from model_calls.media import MediaError
from model_calls.omni_inputs import model_kwargs, processor_inputs, sample_messages, template_messages
from model_calls.presets import InputPreset

# Processor outputs that are per-row media, and how a batch of them is joined.
MEDIA_KEYS: tuple[str, ...] = (
    "pixel_values_videos",
    "video_grid_thw",
    "video_second_per_grid",
    "input_features",
    "feature_attention_mask",
)


@dataclass
class OmniRow:
    """One encoded prompt: token ids (placeholders expanded) and its own media tensors."""

    prompt_ids: list[int]
    media: dict[str, Any] = field(default_factory=dict)


def _key(messages: list[dict[str, Any]]) -> str:
    def default(value: Any) -> str:
        return hashlib.sha256(value).hexdigest() if isinstance(value, bytes) else str(value)

    return json.dumps(messages, sort_keys=True, default=default)


class OmniEncoder:
    """Encode conversations whose user turn carries one clip segment, sampled under ``preset``."""

    def __init__(self, processor: Any, preset: InputPreset, cache_size: int = 16) -> None:
        self.processor = processor
        self.preset = preset
        self._cache: OrderedDict[str, OmniRow] = OrderedDict()
        self._cache_size = cache_size

    @property
    def audio_in_video(self) -> bool:
        return self.preset.audio_in_video

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments every model call with these inputs needs."""
        return model_kwargs(self.audio_in_video)

    def prompt_text(self, messages: list[dict[str, Any]]) -> str:
        return self.processor.apply_chat_template(
            template_messages(messages), add_generation_prompt=True, tokenize=False
        )

    def encode(self, messages: list[dict[str, Any]], row_id: str = "?") -> OmniRow:
        """Token ids and media of one prompt (memoised: GRPO repeats each prompt once per rollout)."""
        key = _key(messages)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        row = self._encode(messages, row_id)
        self._cache[key] = row
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return row

    def _encode(self, messages: list[dict[str, Any]], row_id: str) -> OmniRow:
        try:
            media, preset, fps = sample_messages(messages, self.preset)
        except MediaError as err:
            raise ValueError(f"instance {row_id}: {err}") from err
        if len(media.videos) != 1:
            raise ValueError(f"instance {row_id}: expected one video part in the prompt, found {len(media.videos)}")
        if not media.audios:
            raise ValueError(f"instance {row_id}: the prompt carries no audio (audio in video off and no audio part)")
        if media.audio_in_video != self.audio_in_video:
            raise ValueError(f"instance {row_id}: the prompt's audio-in-video differs from the encoder's preset")
        inputs = processor_inputs(self.processor, [self.prompt_text(messages)], [media], preset, fps)
        missing = [k for k in MEDIA_KEYS if k not in inputs]
        if missing:
            raise ValueError(f"instance {row_id}: the processor returned no {', '.join(missing)}")
        media_tensors = {k: inputs[k] for k in MEDIA_KEYS}
        return OmniRow(prompt_ids=inputs["input_ids"][0].tolist(), media=media_tensors)


def collate_media(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Join per-row media into one batch (rows in order); Whisper's padding is trimmed to the longest audio."""
    import torch

    if not rows:
        return {}
    batch = {key: torch.cat([row[key] for row in rows], dim=0) for key in MEDIA_KEYS}
    # The audio tower only reads the frames the mask marks, so dropping the shared tail of padding is exact.
    longest = int(batch["feature_attention_mask"].sum(-1).max())
    batch["input_features"] = batch["input_features"][..., :longest]
    batch["feature_attention_mask"] = batch["feature_attention_mask"][..., :longest]
    return batch
