"""Stage 3, describe: a clip summary from the segment captions, the video double check (do the
segment captions and the whole-clip description agree? a conflict drops the clip), and a
description of each segment's speaker; then the person double check (paper Table 14):
majority description per name, failed descriptions dropped, names sharing a description dropped."""

from __future__ import annotations

from collections import Counter
from typing import Any

from builder.config import BuildConfig
from builder.prompts import parse_reply
from builder.records import Appearance, CaptionedClip, DescribedClip, Person, PersonView
from builder.replies import PersonReply, SummaryReply, VideoCheckReply
from builder.stage import Outputs, reject
from builder.stages.caption import reply_failure
from builder.stages.common import make_request
from model_calls.base import ModelRequest, ModelResponse

FAILURE_WORDS = ("failed", "failure", "cannot describe", "can't describe", "not visible", "no person")


def person_double_check(views: list[PersonView]) -> tuple[list[Person], dict[str, str]]:
    """Apply the three rules to the per-segment views; return the kept people and why others were dropped."""
    by_name: dict[str, list[PersonView]] = {}
    for view in views:
        by_name.setdefault(view.name, []).append(view)
    chosen: dict[str, Person] = {}
    dropped: dict[str, str] = {}
    for name, named in by_name.items():
        valid = [
            v
            for v in named
            if not v.failed
            and v.appearance is not None
            and v.description
            and not any(w in v.description.lower() for w in FAILURE_WORDS)
            and all(v.appearance.signature()[:2])
        ]
        if not valid:
            dropped[name] = "every description failed or lacks clothing"
            continue
        counts = Counter(v.appearance.signature() for v in valid)
        (top, top_count), *rest = counts.most_common()
        if rest and rest[0][1] == top_count:
            dropped[name] = f"no majority description ({len(counts)} different ones)"
            continue
        first = next(v for v in valid if v.appearance.signature() == top)
        chosen[name] = Person(name=name, description=first.description, appearance=first.appearance, support=top_count)
    by_signature: dict[tuple[str, str], list[str]] = {}
    for name, person in chosen.items():
        by_signature.setdefault(person.appearance.signature()[:2], []).append(name)
    for names in by_signature.values():
        if len(names) > 1:
            for name in names:
                dropped[name] = f"same description as {', '.join(n for n in names if n != name)}"
                del chosen[name]
    return [chosen[n] for n in sorted(chosen)], dict(sorted(dropped.items()))


class DescribeStage:
    name = "describe"
    unit = "clip"

    def __init__(self, config: BuildConfig) -> None:
        self.role = config.role("text")

    def _captioned(self, clip: CaptionedClip) -> list[tuple[Any, Any]]:
        caption_of = {c.segment: c for c in clip.captions}
        return [(s, caption_of[s.index]) for s in clip.segments if caption_of.get(s.index) and caption_of[s.index].text]

    def _described(self, clip: CaptionedClip) -> list[tuple[Any, Any]]:
        """Captioned segments whose speaker may be on screen: an off-screen voice ("Name off") or an
        unnamed line never gets a description from frames."""
        return [(s, c) for s, c in self._captioned(clip) if s.on_screen_speaker]

    @staticmethod
    def _whole(clip: CaptionedClip) -> str | None:
        return clip.clip_description.text if clip.clip_description else None

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        clip = CaptionedClip.model_validate(item)
        pairs = self._captioned(clip)
        captions = [{"start": round(s.start, 2), "end": round(s.end, 2), "text": c.text} for s, c in pairs]
        requests = [make_request(self.role, "summary", SummaryReply, clip_id=clip.clip_id, captions=captions)]
        if self._whole(clip):
            requests.append(
                make_request(
                    self.role,
                    "video_check",
                    VideoCheckReply,
                    clip_id=clip.clip_id,
                    captions=captions,
                    description=self._whole(clip),
                )
            )
        for segment, caption in self._described(clip):
            requests.append(
                make_request(
                    self.role,
                    "person",
                    PersonReply,
                    clip_id=clip.clip_id,
                    segment=segment.index,
                    speaker=segment.speaker,
                    line=segment.text,
                    caption=caption.text,
                )
            )
        return requests

    def finish(self, item: dict[str, Any], responses: list[ModelResponse]) -> Outputs:
        clip = CaptionedClip.model_validate(item)
        failures = []
        summary_response, person_responses = responses[0], responses[1:]
        check = "no whole-clip description to compare with"
        if self._whole(clip):
            check_response, person_responses = person_responses[0], person_responses[1:]
            verdict, cerr = (
                (None, check_response.error)
                if check_response.error
                else parse_reply(check_response.text, VideoCheckReply)
            )
            if verdict is None:
                failures.append(reply_failure(clip.clip_id, "video check", "clip", check_response, cerr or ""))
                check = "the check's reply was unusable"
            else:
                check = "pass" if verdict.verdict == "pass" else f"descriptions conflict: {verdict.reason}"
        summary, error = (
            (None, summary_response.error)
            if summary_response.error
            else parse_reply(summary_response.text, SummaryReply)
        )
        if summary is None:
            failures.append(reply_failure(clip.clip_id, "summary", "clip", summary_response, error or ""))
        views = []
        for (segment, _), response in zip(self._described(clip), person_responses, strict=True):
            parsed, perr = (None, response.error) if response.error else parse_reply(response.text, PersonReply)
            if parsed is None:
                failures.append(reply_failure(clip.clip_id, "person", f"segment {segment.index}", response, perr or ""))
                views.append(
                    PersonView(segment=segment.index, name=segment.speaker, failed=True, raw=response.text, error=perr)
                )
                continue
            appearance = Appearance(shirt=parsed.shirt, pants=parsed.pants, position=parsed.position)
            views.append(
                PersonView(
                    segment=segment.index,
                    name=segment.speaker,
                    description=parsed.description,
                    appearance=appearance,
                    failed=parsed.failed,
                    raw=response.text,
                )
            )
        people, dropped = person_double_check(views)
        if check != "pass":
            return [], [*failures, reject(clip.clip_id, "video-check", check, dropped=True)]
        record = DescribedClip(
            **clip.model_dump(),
            video_check=check,
            summary=summary.summary if summary else None,
            summary_raw=summary_response.text,
            summary_error=error,
            views=views,
            people=people,
            dropped_people=dropped,
        )
        rejects = failures + [
            reject(clip.clip_id, "person-check", f"{n}: {why}", dropped=False) for n, why in dropped.items()
        ]
        if not people:
            return [], [
                *rejects,
                reject(clip.clip_id, "no-person-descriptions", "no person passed the double check", dropped=True),
            ]
        return [record.model_dump()], rejects
