"""Stage 6, align: the person is the bridge. Speaker names tie each voice and its lines (audio)
to the person's visual description (vision) and biography (text). One garment of the visual
description (the shirt) is merged into the biography, so the text can be grounded in what is
seen; everything else a question may ask or cue on in the video stays out of the text. A clip with
fewer than four people gets decoy entries (people the clip does not show), so a question whose
answer is in the text has four options the text holds. One record per clip."""

from __future__ import annotations

from typing import Any

from builder.prompts import load_templates
from builder.records import AlignedClip, AlignedPerson, Decoy, VoicedClip
from builder.stage import Outputs, reject
from builder.stages.common import article, normalize, stable_hash

MIN_BIOGRAPHY_ENTRIES = 4  # one per option of a text-target question
FACTS = ("birthplace", "birthdate", "occupation")


def merged_biography(text: str, shirt: str, name: str) -> str:
    """The LLM biography plus the one garment that grounds it in the video (nothing when unknown)."""
    if not shirt:
        return text.strip()
    grounding = load_templates()["grounding"].format(name=name, article=article(shirt), shirt=shirt)
    return f"{text.strip()} {grounding}"


def decoy_biography(decoy: dict[str, str], shirt: str) -> str:
    job = f"{article(decoy['occupation'])} {decoy['occupation']}"
    text = f"Born on {decoy['birthdate']} in {decoy['birthplace']}, {decoy['name']} works as {job}."
    return merged_biography(text, shirt, decoy["name"])


def make_decoys(clip_id: str, people: list[AlignedPerson]) -> list[Decoy]:
    """Decoys up to ``MIN_BIOGRAPHY_ENTRIES`` entries: names, facts and shirt colours no person of the
    clip has (so they can neither be confused with a person nor read as one of their values)."""
    vocabulary = load_templates()["decoys"]
    colours = load_templates()["vocabulary"]["shirt"]
    taken: set[str] = set()
    for person in people:
        taken |= {normalize(v) for v in (person.name, person.birthplace, person.birthdate, person.occupation)}
        taken |= {normalize(v or "") for v in (person.appearance.shirt, person.appearance.pants)}

    def pick(kind: str, options: list[str], index: int, long_slot: int = -1) -> str:
        """A free value; for a fact, decoy ``long_slot`` is longer than every person's value and the
        other decoys shorter, so the longest option is each entry's equally often (the slot is seeded
        over people and decoys alike)."""
        free = [v for v in options if normalize(v) not in taken]
        longest = max((len(getattr(p, kind) or "") for p in people), default=0) if kind in FACTS else 0
        if longest:
            fits = [v for v in free if (len(v) > longest) == (index == long_slot)]
            free = fits or sorted(free, key=len, reverse=index == long_slot)[:1]
        value = min(free, key=lambda v: stable_hash(clip_id, "decoy", kind, index, v))
        taken.add(normalize(value))
        return value

    decoys = []
    count = max(0, MIN_BIOGRAPHY_ENTRIES - len(people))
    dates = [
        f"{month} {1 + stable_hash(clip_id, month, year) % 28}, {year}"
        for month in vocabulary["months"]
        for year in vocabulary["years"]
    ]
    slots = {kind: stable_hash(clip_id, "longest", kind) % (len(people) + count) - len(people) for kind in FACTS}
    for index in range(count):
        facts = {"name": pick("name", vocabulary["names"], index)}
        for kind, options in zip(FACTS, (vocabulary["birthplaces"], dates, vocabulary["occupations"]), strict=True):
            facts[kind] = pick(kind, options, index, slots[kind])
        shirt = pick("shirt", colours, index)
        decoys.append(Decoy(**facts, biography=decoy_biography(facts, shirt)))
    return decoys


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
                    biography=merged_biography(bio.text or "", person.appearance.shirt or "", person.name),
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
            decoys=make_decoys(clip.clip_id, people),
        )
        return [aligned.model_dump()], rejects
