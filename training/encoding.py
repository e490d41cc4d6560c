"""Turn chat messages with clip parts into Qwen2.5-Omni model inputs, one row at a time.

Each row is run through the processor on its own, so every row owns its media tensors
(``OmniRow.media``) and batches are built by concatenation — no splitting of a batched
processor output is ever needed, and a row can never be paired with another row's media.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from training.media import MediaOptions, load_segment

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


def clip_parts(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The video/audio parts of a conversation, in order."""
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts.extend(p for p in content if isinstance(p, dict) and p.get("type") in ("video", "audio"))
    return parts


class OmniEncoder:
    """Encode conversations whose user turn carries one clip segment (``video`` part, optional ``audio`` part)."""

    def __init__(
        self,
        processor: Any,
        options: MediaOptions | None = None,
        audio_in_video: bool = True,
        video_min_pixels: int | None = None,
        video_max_pixels: int | None = None,
        cache_size: int = 16,
    ) -> None:
        self.processor = processor
        self.options = options or MediaOptions()
        self.audio_in_video = audio_in_video
        self.videos_kwargs: dict[str, Any] = {}
        if video_min_pixels is not None or video_max_pixels is not None:
            # The processor's class-level default size wins over the video processor's own, so pass it per call.
            size = dict(self.processor.video_processor.size)
            bounds = (("shortest_edge", video_min_pixels), ("longest_edge", video_max_pixels))
            size.update({key: value for key, value in bounds if value})
            self.videos_kwargs["size"] = size
        self._cache: OrderedDict[str, OmniRow] = OrderedDict()
        self._cache_size = cache_size

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments every model call with these inputs needs."""
        return {"use_audio_in_video": True} if self.audio_in_video else {}

    def prompt_text(self, messages: list[dict[str, Any]]) -> str:
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def encode(self, messages: list[dict[str, Any]], row_id: str = "?") -> OmniRow:
        """Token ids and media of one prompt (memoised: GRPO repeats each prompt once per rollout)."""
        import json

        key = json.dumps(messages, sort_keys=True, default=str)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        row = self._encode(messages, row_id)
        self._cache[key] = row
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return row

    def _encode(self, messages: list[dict[str, Any]], row_id: str) -> OmniRow:
        parts = clip_parts(messages)
        videos = [p for p in parts if p["type"] == "video"]
        if len(videos) != 1:
            raise ValueError(f"instance {row_id}: expected one video part in the prompt, found {len(videos)}")
        video = videos[0]
        segment = load_segment(video["video"], float(video["start"]), float(video["end"]), self.options, row_id)
        kwargs: dict[str, Any] = {"videos_kwargs": {**self.videos_kwargs, "fps": segment.fps}}
        if self.audio_in_video:
            kwargs.update(audio_from_video_indices=[0], load_audio_from_video=True)
        elif not any(p["type"] == "audio" for p in parts):
            raise ValueError(f"instance {row_id}: audio_in_video is off but the prompt has no audio part")
        inputs = self.processor(
            text=[self.prompt_text(messages)],
            videos=[segment.frames],
            audio=[segment.audio],
            return_tensors="pt",
            **kwargs,
        )
        missing = [k for k in MEDIA_KEYS if k not in inputs]
        if missing:
            raise ValueError(f"instance {row_id}: the processor returned no {', '.join(missing)}")
        media = {k: inputs[k] for k in MEDIA_KEYS}
        return OmniRow(prompt_ids=inputs["input_ids"][0].tolist(), media=media)


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
