"""Stage 6, align: the person is the bridge. Speaker names tie each voice and its lines (audio)
to the person's visual description (vision) and biography (text); the visual description is
merged into the biography so the text can be grounded in what is seen. One record per clip."""

from __future__ import annotations

from typing import Any

from builder.records import AlignedClip, AlignedPerson, VoicedClip
from builder.stage import Outputs, reject
from builder.stages.common import article


def merged_biography(text: str, shirt: str, pants: str, name: str) -> str:
    return f"{text.strip()} {name} is usually seen in {article(shirt)} {shirt} shirt and {pants} pants."


class AlignStage:
    name = "align"
    unit = "clip"

    def process(self, item: dict[str, Any]) -> Outputs:
        clip = VoicedClip.model_validate(item)
        voices = {v.name: v for v in clip.voices}
        bios = {b.name: b for b in clip.bios if b.error is None}
        people, rejects = [], []
        for person in clip.people:
            bio = bios.get(person.name)
            lines = [s.text for s in clip.segments if s.speaker == person.name]
            if bio is None:
                rejects.append(reject(clip.clip_id, "unaligned-person", f"{person.name}: no biography", dropped=False))
                continue
            voice = voices.get(person.name)
            people.append(
                AlignedPerson(
                    name=person.name,
                    utterances=lines,
                    voice=voice.attributes if voice else None,
                    distinct_voice=voice.distinct if voice else [],
                    appearance=person.appearance,
                    description=person.description,
                    birthplace=bio.birthplace or "",
                    birthdate=bio.birthdate or "",
                    occupation=bio.occupation or "",
                    biography=merged_biography(
                        bio.text or "", person.appearance.shirt or "", person.appearance.pants or "", person.name
                    ),
                )
            )
        if not people:
            return [], [
                *rejects,
                reject(clip.clip_id, "no-aligned-person", "nobody has voice, look and biography", dropped=True),
            ]
        aligned = AlignedClip(
            clip_id=clip.clip_id,
            show=clip.show,
            episode=clip.episode,
            video=clip.video,
            audio=clip.audio,
            media=clip.media,
            duration=clip.duration,
            summary=clip.summary or "",
            people=people,
        )
        return [aligned.model_dump()], rejects
