"""Stage 5, voice: the 8 binary voice attributes per speaker from their audio (their cue spans of the
clip's soundtrack, joined by short silences), then the audio double check: contradictory pitch labels
are dropped, and each speaker's distinctive attributes (true for them, false for every other known
voice) are kept.

A request names the clip's file and the speaker's spans (``model_calls.media.Spans``): nothing is cut
to disk, and the cache key needs no decoding."""

from __future__ import annotations

from typing import Any

from builder.config import BuildConfig
from builder.prompts import parse_reply
from builder.records import VOICE_ATTRIBUTES, BiographedClip, Voice, VoicedClip
from builder.replies import VoiceReply
from builder.stage import Outputs, reject
from builder.stages.caption import reply_failure
from builder.stages.common import make_request, media_file
from model_calls.base import ModelRequest, ModelResponse, file_digest

SPAN_GAP = 0.2  # seconds of silence after each of a speaker's lines


def voice_double_check(voices: list[Voice]) -> str | None:
    """Fill ``distinct`` in place; return why the check failed for the clip (None when some voice stands out)."""
    for voice in voices:
        if voice.attributes and voice.attributes["high"] and voice.attributes["low"]:
            voice.error, voice.attributes = "contradictory labels: both high and low pitch", None
    known = [v for v in voices if v.attributes is not None]
    for voice in known:
        others = [o for o in known if o is not voice]
        voice.distinct = [
            a for a in VOICE_ATTRIBUTES if voice.attributes[a] and others and not any(o.attributes[a] for o in others)
        ]
    if not any(v.distinct for v in known):
        return "no voice stands out from the others"
    return None


class VoiceStage:
    name = "voice"
    unit = "clip"

    def __init__(self, config: BuildConfig) -> None:
        self.config = config
        self.role = config.role("voice")

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        clip = BiographedClip.model_validate(item)
        audio = str(media_file(self.config, clip))
        file_digest(audio)  # names the clip in every request's key (once per file); a missing clip is this item's error
        requests = []
        for person in clip.people:
            spans = [[s.start, s.end] for s in clip.segments if s.speaker == person.name]
            requests.append(
                make_request(
                    self.role,
                    "voice",
                    VoiceReply,
                    [{"type": "audio", "audio": audio, "spans": spans, "gap": SPAN_GAP}],
                    clip_id=clip.clip_id,
                    speaker=person.name,
                )
            )
        return requests

    def finish(self, item: dict[str, Any], responses: list[ModelResponse]) -> Outputs:
        clip = BiographedClip.model_validate(item)
        voices, failures = [], []
        for person, response in zip(clip.people, responses, strict=True):
            parsed, error = (None, response.error) if response.error else parse_reply(response.text, VoiceReply)
            if parsed is None:
                failures.append(reply_failure(clip.clip_id, "voice", person.name, response, error or ""))
            attributes = {a: bool(getattr(parsed, a)) for a in VOICE_ATTRIBUTES} if parsed else None
            voices.append(Voice(name=person.name, attributes=attributes, raw=response.text, error=error))
        check = voice_double_check(voices)
        failures += [
            reject(clip.clip_id, "voice-check", f"{v.name}: {v.error}", dropped=False)
            for v in voices
            if v.error and v.error.startswith("contradictory")
        ]
        if check:
            failures.append(reject(clip.clip_id, "voice-check", check, dropped=False))
        return [VoicedClip(**clip.model_dump(), voices=voices, voice_check=check).model_dump()], failures
