"""Stage 2, caption: a vision-language model describes frames of each segment, chosen by the shared
sampler (``model_calls.media``, preset ``caption``), and describes the whole clip once more from frames
spread over it (the second description the video double check compares against).

A request names the clip's own file with the segment and the sampling fields (no frames are cut here):
its cache key needs no decoding, and whichever backend reads the frames samples exactly these."""

from __future__ import annotations

from typing import Any

from builder.config import BuildConfig
from builder.prompts import parse_reply
from builder.records import Caption, CaptionedClip, PreprocessedClip
from builder.replies import CaptionReply
from builder.stage import Outputs, reject
from builder.stages.common import make_request, media_file
from model_calls.base import ModelRequest, ModelResponse, file_digest
from model_calls.media import frame_times
from model_calls.presets import InputPreset, input_preset

CLIP_FRAMES = 8  # frames spread over the whole clip for its second description
CAPTION_PRESET = "caption"


def caption_frames(preset: InputPreset, start: float, end: float, count: int) -> list[float]:
    """The times of at most ``count`` frames of ``[start, end)`` the shared sampler picks under the caption preset."""
    chosen = preset.with_overrides(max_frames=count)
    return frame_times(start, end, chosen.fps, chosen.max_frames)


def caption_part(video: str, preset: InputPreset, start: float, end: float, count: int) -> dict[str, Any]:
    """The video part of ``[start, end)`` of ``video`` with at most ``count`` frames under ``preset``
    (the frames ``caption_frames`` names; the clip's audio is not sent)."""
    part: dict[str, Any] = {"type": "video", "video": video, "start": start, "end": end, "fps": preset.fps}
    part["max_frames"] = len(caption_frames(preset, start, end, count))
    part.update({key: getattr(preset, key) for key in ("min_pixels", "max_pixels") if getattr(preset, key)})
    return part


def reply_failure(clip_id: str, stage: str, what: str, response: ModelResponse, error: str) -> dict[str, Any]:
    """A recorded failure of one model reply (the item itself may still go on)."""
    return reject(
        clip_id,
        "model-error" if response.error else "unparseable-reply",
        f"{stage} {what}: {error}",
        raw=response.text,
        dropped=False,
    )


class CaptionStage:
    name = "caption"
    unit = "clip"

    def __init__(self, config: BuildConfig) -> None:
        self.config = config
        self.role = config.role("caption")
        self.preset = input_preset(CAPTION_PRESET)

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        clip = PreprocessedClip.model_validate(item)
        k = self.config.frames_per_segment
        video = str(media_file(self.config, clip))
        file_digest(video)  # names the clip in every request's key (once per file); a missing clip is this item's error
        requests = []
        for segment in clip.segments:
            part = caption_part(video, self.preset, segment.start, segment.end, k)
            requests.append(
                make_request(
                    self.role,
                    "caption",
                    CaptionReply,
                    [part],
                    clip_id=clip.clip_id,
                    segment=segment.index,
                    n_frames=part["max_frames"],
                    start=round(segment.start, 2),
                    end=round(segment.end, 2),
                )
            )
        whole = caption_part(video, self.preset, 0.0, clip.duration, CLIP_FRAMES)
        requests.append(make_request(self.role, "video_description", CaptionReply, [whole], clip_id=clip.clip_id))
        return requests

    def finish(self, item: dict[str, Any], responses: list[ModelResponse]) -> Outputs:
        clip = PreprocessedClip.model_validate(item)
        captions, failures = [], []
        *segment_responses, whole = responses
        for segment, response in zip(clip.segments, segment_responses, strict=True):
            parsed, error = (None, response.error) if response.error else parse_reply(response.text, CaptionReply)
            if parsed is None:
                failures.append(
                    reply_failure(clip.clip_id, "caption", f"segment {segment.index}", response, error or "")
                )
            captions.append(
                Caption(
                    segment=segment.index, text=parsed.description if parsed else None, raw=response.text, error=error
                )
            )
        description, error = (None, whole.error) if whole.error else parse_reply(whole.text, CaptionReply)
        if description is None:
            failures.append(reply_failure(clip.clip_id, "caption", "whole clip", whole, error or ""))
        if not any(c.text for c in captions):
            return [], [*failures, reject(clip.clip_id, "no-captions", "every frame caption failed", dropped=True)]
        record = CaptionedClip(
            **clip.model_dump(),
            captions=captions,
            clip_description=Caption(
                segment=-1, text=description.description if description else None, raw=whole.text, error=error
            ),
        )
        return [record.model_dump()], failures
