"""Stage 6, align: the person is the bridge. Speaker names tie each voice and its lines (audio)
to the person's visual description (vision) and biography (text). One garment of the visual
description (the shirt) is merged into the biography, so the text can be grounded in what is
seen; everything else a question may ask or cue on in the video stays out of the text.

Each clip's biography also lists decoys: people of the same show from other clips (``Cast``), as
many as the clip shows (at least enough for four entries), so a question whose answer is in the
text has four options the text holds, and a wrong option is a real person's value, never one a
learner could recognise as made up. One record per clip."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from builder.prompts import load_templates
from builder.records import AlignedClip, AlignedPerson, Decoy, VoicedClip
from builder.stage import Outputs, reject
from builder.stages.common import article, normalize, stable_hash
from builder.stages.split import assign_episodes

MIN_BIOGRAPHY_ENTRIES = 4  # one per option of a text-target question
FACTS = ("birthplace", "birthdate", "occupation")


def merged_biography(text: str, shirt: str, name: str) -> str:
    """The LLM biography plus the one garment that grounds it in the video (nothing when unknown)."""
    if not shirt:
        return text.strip()
    grounding = load_templates()["grounding"].format(name=name, article=article(shirt), shirt=shirt)
    return f"{text.strip()} {grounding}"


def decoy_count(people: int) -> int:
    """How many decoys a clip of ``people`` lists: as many as it shows, and enough for four entries
    (so every person is lent about once, and a decoy's count across the release is no tell)."""
    return max(people, MIN_BIOGRAPHY_ENTRIES - people)


def aligned_people(clip: VoicedClip) -> tuple[list[AlignedPerson], list[dict[str, Any]]]:
    """The clip's people who have a look and a biography (their voice and lines when known), and a
    record for each person left out."""
    voices = {v.name: v for v in clip.voices}
    bios = {b.name: b for b in clip.bios if b.error is None}
    people, rejects = [], []
    for person in clip.people:
        bio = bios.get(person.name)
        if bio is None:
            rejects.append(reject(clip.clip_id, "unaligned-person", f"{person.name}: no biography", dropped=False))
            continue
        voice = voices.get(person.name)
        people.append(
            AlignedPerson(
                name=person.name,
                utterances=[s.text for s in clip.segments if s.speaker == person.name],
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
    return people, rejects


def lent(person: AlignedPerson, clip_id: str) -> Decoy:
    """``person`` of clip ``clip_id`` as a decoy of another clip: their entry as written there."""
    return Decoy(
        name=person.name,
        birthplace=person.birthplace,
        birthdate=person.birthdate,
        occupation=person.occupation,
        biography=person.biography,
        source_clip=clip_id,
        utterance=person.utterances[0] if person.utterances else "",
        voice=sorted(a for a, on in (person.voice or {}).items() if on),
        shirt=person.appearance.shirt or "",
        pants=person.appearance.pants or "",
        position=person.appearance.position or "",
    )


def _taken(people: list[AlignedPerson], decoys: list[Decoy]) -> dict[str, set[str]]:
    """Values an entry added to a clip must not repeat: names and facts of every entry, and every
    colour of the clip (a decoy's shirt equal to a person's would blur the biography's grounding)."""
    taken: dict[str, set[str]] = {kind: set() for kind in ("name", *FACTS, "colour")}
    for entry in [*people, *decoys]:
        for kind in ("name", *FACTS):
            taken[kind].add(normalize(getattr(entry, kind)))
    for person in people:
        taken["colour"] |= {normalize(person.appearance.shirt or ""), normalize(person.appearance.pants or "")}
    taken["colour"] |= {normalize(d.shirt) for d in decoys}
    taken["colour"].discard("")
    return taken


def _fits(decoy: Decoy, taken: dict[str, set[str]]) -> bool:
    if any(normalize(getattr(decoy, kind)) in taken[kind] for kind in ("name", *FACTS)):
        return False
    return not decoy.shirt or normalize(decoy.shirt) not in taken["colour"]


class Cast:
    """Who each clip of a build lists as decoys: people of the same show from other clips of the
    same split (of any show when its own run out), each lent about once, in a seeded order. Never
    across splits: a learner who saw a person as the answer of a train question would know them for
    a decoy on test. Filled from the voice stage's records with ``from_records``."""

    def __init__(self, plan: dict[str, list[Decoy]] | None = None, split_of: dict[str, str] | None = None) -> None:
        self.plan = plan or {}
        self.split_of = split_of or {}  # episode -> split, as the plan assumed it

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], seed: int = 0, test_fraction: float = 0.5) -> Cast:
        clips: list[tuple[str, str, str, list[AlignedPerson]]] = []
        for record in records:
            clip = VoicedClip.model_validate(record)
            people, _ = aligned_people(clip)
            if people:  # the clips align keeps, so the split is the one the split stage makes
                clips.append((clip.clip_id, clip.episode, clip.show, people))
        split_of = assign_episodes((episode for _, episode, _, _ in clips), test_fraction, seed)

        def order(decoys: Iterable[Decoy]) -> list[Decoy]:
            return sorted(decoys, key=lambda d: stable_hash(seed, "lend", d.source_clip, d.name))

        by_show: dict[tuple[str, str], list[Decoy]] = {}
        for clip_id, episode, show, people in clips:
            by_show.setdefault((split_of[episode], show), []).extend(lent(person, clip_id) for person in people)
        by_show = {key: order(pool) for key, pool in by_show.items()}
        by_split: dict[str, list[Decoy]] = {}
        for (split, _), pool in sorted(by_show.items()):
            by_split.setdefault(split, []).extend(pool)
        by_split = {split: order(pool) for split, pool in by_split.items()}
        unused = {key: list(pool) for key, pool in [*by_show.items(), *by_split.items()]}
        used: set[int] = set()
        plan: dict[str, list[Decoy]] = {}
        for clip_id, episode, show, people in sorted(clips, key=lambda c: stable_hash(seed, "borrow", c[0])):
            split = split_of[episode]
            chosen: list[Decoy] = []
            for _ in range(decoy_count(len(people))):
                taken = _taken(people, chosen)
                # an unused person of the show, of the split, then one lent already (show first)
                pick = None
                for pool, fresh in (
                    (unused[(split, show)], True),
                    (unused[split], True),
                    (by_show[(split, show)], False),
                    (by_split[split], False),
                ):
                    while fresh and pool and id(pool[0]) in used:
                        pool.pop(0)
                    pick = next(
                        (
                            d
                            for d in pool
                            if d.source_clip != clip_id and not (fresh and id(d) in used) and _fits(d, taken)
                        ),
                        None,
                    )
                    if pick is not None:
                        break
                if pick is None:
                    break
                used.add(id(pick))
                chosen.append(pick)
            plan[clip_id] = chosen
        return cls(plan, split_of)

    def decoys(self, clip_id: str, people: list[AlignedPerson]) -> list[Decoy]:
        """The clip's decoys; made from the vocabulary where the build has nobody to lend."""
        decoys = list(self.plan.get(clip_id, []))
        missing = decoy_count(len(people)) - len(decoys)
        if missing > 0:
            decoys += vocabulary_decoys(clip_id, people, decoys, missing)
        return decoys


def vocabulary_decoys(clip_id: str, people: list[AlignedPerson], decoys: list[Decoy], count: int) -> list[Decoy]:
    """``count`` decoys with names, facts and shirt colours from the templates' vocabulary that no
    entry of the clip has: the last resort of a build too small to lend people between clips."""
    vocabulary = load_templates()["decoys"]
    colours = load_templates()["vocabulary"]["shirt"]
    taken = set().union(*_taken(people, decoys).values())

    def pick(kind: str, options: list[str], index: int) -> str:
        free = [v for v in options if normalize(v) not in taken]
        value = min(free, key=lambda v: stable_hash(clip_id, "decoy", kind, index, v))
        taken.add(normalize(value))
        return value

    dates = [
        f"{month} {1 + stable_hash(clip_id, month, year) % 28}, {year}"
        for month in vocabulary["months"]
        for year in vocabulary["years"]
    ]
    made = []
    for index in range(count):
        facts = {"name": pick("name", vocabulary["names"], index)}
        for kind, options in zip(FACTS, (vocabulary["birthplaces"], dates, vocabulary["occupations"]), strict=True):
            facts[kind] = pick(kind, options, index)
        shirt = pick("shirt", colours, index)
        job = f"{article(facts['occupation'])} {facts['occupation']}"
        text = f"Born on {facts['birthdate']} in {facts['birthplace']}, {facts['name']} works as {job}."
        made.append(Decoy(**facts, biography=merged_biography(text, shirt, facts["name"]), shirt=shirt))
    return made


def make_decoys(clip_id: str, people: list[AlignedPerson]) -> list[Decoy]:
    """Vocabulary decoys up to a clip's decoy count (a clip alone, with no build to borrow from)."""
    return vocabulary_decoys(clip_id, people, [], decoy_count(len(people)))


class AlignStage:
    name = "align"
    unit = "clip"

    def __init__(self, cast: Cast | None = None) -> None:
        self.cast = cast or Cast()

    def process(self, item: dict[str, Any]) -> Outputs:
        clip = VoicedClip.model_validate(item)
        people, rejects = aligned_people(clip)
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
            decoys=self.cast.decoys(clip.clip_id, people),
        )
        return [aligned.model_dump()], rejects
