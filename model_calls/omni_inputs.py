"""Sampled media → Qwen-Omni processor inputs, and the model-call flags those inputs need.

The one place that sets audio-in-video: the processor call (``load_audio_from_video`` with the
video each audio came from), the model's ``generate``/``forward`` (``use_audio_in_video``: the
3-D RoPE positions of interleaved video/audio tokens are built from it — transformers 5.24 reads
it from the model kwargs in ``get_rope_index``, not from the processor's output) and vLLM's
``mm_processor_kwargs``. The transformers backend and the training encoder both build their
inputs with ``processor_inputs``, so a segment is resized, laid out and positioned alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from model_calls.media import MediaError, Segment, part_audio, part_preset, sample_segment
from model_calls.presets import InputPreset

MEDIA_TYPES = ("video", "audio", "image")


@dataclass
class RowMedia:
    """The media of one prompt: frames per video part, audio arrays, and for each audio the video it belongs to."""

    videos: list[Any] = field(default_factory=list)
    audios: list[Any] = field(default_factory=list)
    audio_from_video: list[int | None] = field(default_factory=list)

    @property
    def audio_in_video(self) -> bool:
        return any(index is not None for index in self.audio_from_video)


def clean_part(part: dict[str, Any]) -> dict[str, Any]:
    """A content part without the ``None`` keys a ``datasets`` column adds (its struct holds every part's keys)."""
    return {key: value for key, value in part.items() if value is not None}


def template_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat-template view of messages: media become bare placeholders, an all-text content a plain string."""
    plain = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str):
            parts = [clean_part(part) for part in content]
            if all(part.get("type") == "text" for part in parts):
                content = "".join(part.get("text", "") for part in parts)
            else:
                content = [part if part.get("type") == "text" else {"type": part["type"]} for part in parts]
        plain.append({"role": message["role"], "content": content})
    return plain


def sample_messages(
    messages: Sequence[dict[str, Any]], base: InputPreset
) -> tuple[RowMedia, InputPreset, float | None]:
    """Sample every media part of a conversation with ``model_calls.media``: the row's media, its preset and fps.

    A video part's own fields (fps, max_frames, pixels, audio_in_video) override ``base``.
    """
    media, preset, fps = RowMedia(), base, None
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            continue
        for part in map(clean_part, content):
            kind = part.get("type")
            if kind not in MEDIA_TYPES:
                continue
            if kind == "image":
                raise MediaError("image parts are not supported by the omni input builder")
            if kind == "video":
                preset = part_preset(part, base)
                sampled = sample_segment(part["video"], Segment.of(part), preset)
                media.videos.append(sampled.frames)
                fps = sampled.fps
                if sampled.audio is not None:
                    media.audios.append(sampled.audio)
                    media.audio_from_video.append(len(media.videos) - 1)
            else:
                rate = int(part.get("sampling_rate") or base.sampling_rate)
                media.audios.append(part_audio(part, rate))
                media.audio_from_video.append(None)
    return media, preset, fps


def frame_size(processor: Any, preset: InputPreset) -> dict[str, int] | None:
    """The ``size`` bounds of a resized frame (None: the processor's own)."""
    if not preset.min_pixels and not preset.max_pixels:
        return None
    size = dict(processor.video_processor.size)
    if preset.min_pixels:
        size["shortest_edge"] = int(preset.min_pixels)
    if preset.max_pixels:
        size["longest_edge"] = int(preset.max_pixels)
    return size


def videos_kwargs(processor: Any, preset: InputPreset, fps: float) -> dict[str, Any]:
    """Video processor settings: frames are already sampled (``model_calls.media``), resized within the preset."""
    # The processor's class-level default size wins over the video processor's own: pass it per call.
    kwargs: dict[str, Any] = {"do_sample_frames": False, "cap_pixels_per_frame": True, "fps": fps}
    size = frame_size(processor, preset)
    if size is not None:
        kwargs["size"] = size
    return kwargs


def model_kwargs(audio_in_video: bool) -> dict[str, Any]:
    """Keyword arguments every ``generate``/``forward`` of these inputs needs (RoPE positions of the interleave)."""
    return {"use_audio_in_video": True} if audio_in_video else {}


def vllm_processor_kwargs(preset: InputPreset, fps: float, audio_in_video: bool) -> dict[str, Any]:
    """vLLM's ``mm_processor_kwargs`` for one prompt."""
    kwargs: dict[str, Any] = {"fps": fps}
    if preset.max_pixels:
        kwargs["max_pixels"] = int(preset.max_pixels)
        if preset.min_pixels:
            kwargs["min_pixels"] = int(preset.min_pixels)
    if audio_in_video:
        kwargs["use_audio_in_video"] = True
    return kwargs


def processor_inputs(
    processor: Any, texts: Sequence[str], rows: Sequence[RowMedia], preset: InputPreset, fps: float | None
) -> Any:
    """One processor call for a batch whose rows share ``preset`` and sampled ``fps``; left-padded for generation.

    Rows must agree on audio-in-video (``generate`` takes one ``use_audio_in_video`` for the batch).
    """
    flags = {row.audio_in_video for row in rows if row.videos}
    if len(flags) > 1:
        raise ValueError("a batch mixes rows with and without audio-in-video; group them apart")
    videos = [video for row in rows for video in row.videos]
    audios = [audio for row in rows for audio in row.audios]
    offset, indices = 0, []
    for row in rows:
        indices += [None if i is None else i + offset for i in row.audio_from_video]
        offset += len(row.videos)
    # Batched generation appends new tokens on the right: the prompts must end together.
    kwargs: dict[str, Any] = {"text": list(texts), "return_tensors": "pt", "padding": True, "padding_side": "left"}
    if videos:
        kwargs["videos"] = videos
        kwargs["videos_kwargs"] = videos_kwargs(processor, preset, float(fps or preset.fps))
    if audios:
        kwargs["audio"] = audios
    if flags == {True}:
        kwargs["load_audio_from_video"] = True
        kwargs["audio_from_video_indices"] = indices
    return processor(**kwargs)
