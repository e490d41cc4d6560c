"""Typed records passed between stages (one JSONL line each).

Each clip-level stage extends the previous record with its own fields, so a stage reads only
its predecessor's file. Raw model replies are kept beside what was parsed from them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

import crossomni

VOICE_ATTRIBUTES: tuple[str, ...] = ("smooth", "rough", "nasal", "high", "low", "happy", "angry", "calm")
POSITIONS: tuple[str, ...] = ("left", "right", "centre", "background")
Position = Literal["left", "right", "centre", "background"]


class Segment(BaseModel):
    """One subtitle-aligned segment: a cue with its speaker (None for a line that names nobody).

    ``off_screen``: the speaker is heard, not seen ("Name off : ..."), so this segment's frames
    never describe them; their voice and words still count.
    """

    index: int
    start: float
    end: float
    speaker: str | None = None
    text: str
    speaker_raw: str | None = None
    off_screen: bool = False

    @property
    def on_screen_speaker(self) -> str | None:
        """The speaker, when the frames of this segment may show them."""
        return None if self.off_screen else self.speaker


class PreprocessedClip(BaseModel):
    clip_id: str
    show: str
    episode: str
    video: str  # relative to the media root: the TVQA root, or the build's derived media folder
    audio: str
    media: Literal["reference", "derived"] = "reference"  # derived: muxed from frames + audio
    duration: float
    subtitle_encoding: str = "utf-8"
    segments: list[Segment]


class Caption(BaseModel):
    segment: int
    text: str | None = None
    raw: str | None = None
    error: str | None = None


class CaptionedClip(PreprocessedClip):
    captions: list[Caption]
    clip_description: Caption | None = None  # the whole clip described directly (video double check)


class Appearance(BaseModel):
    shirt: str | None = None
    pants: str | None = None
    position: Position | None = None

    def signature(self) -> tuple[str, str, str]:
        return tuple((value or "").strip().lower() for value in (self.shirt, self.pants, self.position))  # type: ignore[return-value]


class PersonView(BaseModel):
    """A person description from one segment (the speaker of that segment)."""

    segment: int
    name: str
    description: str | None = None
    appearance: Appearance | None = None
    failed: bool = False
    raw: str | None = None
    error: str | None = None


class Person(BaseModel):
    """A name's description after the person double check."""

    name: str
    description: str
    appearance: Appearance
    support: int  # how many segment views agree with it


class DescribedClip(CaptionedClip):
    video_check: str | None = None  # "pass", or why the descriptions conflict
    summary: str | None = None
    summary_raw: str | None = None
    summary_error: str | None = None
    views: list[PersonView]
    people: list[Person]
    dropped_people: dict[str, str] = Field(default_factory=dict)


class Voice(BaseModel):
    name: str
    attributes: dict[str, bool] | None = None
    distinct: list[str] = Field(default_factory=list)
    raw: str | None = None
    error: str | None = None


class Bio(BaseModel):
    name: str
    birthplace: str | None = None
    birthdate: str | None = None
    occupation: str | None = None
    text: str | None = None
    raw: str | None = None
    error: str | None = None


class BiographedClip(DescribedClip):
    bios: list[Bio]


class VoicedClip(BiographedClip):
    voices: list[Voice]
    voice_check: str | None = None


class AlignedPerson(BaseModel):
    """One person bridging the modalities: voice and speech (audio), appearance (vision), biography (text)."""

    name: str
    utterances: list[str]
    voice: dict[str, bool] | None = None
    distinct_voice: list[str] = Field(default_factory=list)
    appearance: Appearance
    description: str
    birthplace: str
    birthdate: str
    occupation: str
    biography: str  # the LLM biography with the visual description merged in


class Decoy(BaseModel):
    """An entry of a clip's biography for someone the clip does not show (never a referent): a person
    of the same show from another clip (``source_clip``), with the biography written for them there,
    so no name, fact or phrasing marks an entry as a decoy. What they say, sound and look like there
    gives wrong options drawn from the same distribution as right ones. Decoys made from the
    vocabulary (a build too small to borrow from) have no ``source_clip`` and text facts only."""

    name: str
    birthplace: str
    birthdate: str
    occupation: str
    biography: str
    shirt: str = ""  # the colour the biography states
    source_clip: str = ""
    utterance: str = ""  # their first line there
    voice: list[str] = Field(default_factory=list)  # their voice attributes there
    pants: str = ""
    position: str = ""


class AlignedClip(BaseModel):
    clip_id: str
    show: str
    episode: str
    video: str
    audio: str
    media: Literal["reference", "derived"] = "reference"
    duration: float
    summary: str
    people: list[AlignedPerson]
    decoys: list[Decoy] = Field(default_factory=list)

    def biography(self) -> str:
        """The text the model is given: one entry per person and decoy, in name order."""
        entries = sorted([*self.people, *self.decoys], key=lambda entry: entry.name)
        return "\n".join(f"{entry.name}: {entry.biography}" for entry in entries)


class QACandidate(BaseModel):
    """A generated question before verification."""

    id: str
    clip_id: str
    task_type: str
    rank: int  # order of preference within (clip, task)
    referent: str
    source_kind: str
    source_value: str
    target_kind: str
    question: str
    answer: str
    distractors: list[str]
    generator: Literal["template", "llm"]
    raw: str | None = None


class Instance(BaseModel):
    """A verified instance, as written to the release (plus bookkeeping fields)."""

    id: str
    clip_id: str
    start: float
    end: float
    task_type: str
    referent: str
    biography: str
    question: str
    options: list[str]
    answer: str
    rationale: str = ""
    # bookkeeping, not released
    source_kind: str
    source_value: str
    target_kind: str
    answer_text: str
    rank: int = 0
    split: str | None = None
    show: str = ""
    facts: dict[str, str] = Field(default_factory=dict)
    rationale_raw: str | None = None
    blind_answer: str | None = None  # the text-only model's letter on the released option order ("" unusable)


RELEASE_FIELDS = crossomni.INSTANCE_FIELDS  # the release format is defined once, in crossomni.py
