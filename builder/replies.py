"""JSON schemas of the structured model replies (validated with pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from builder.records import Position


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CaptionReply(_Reply):
    description: str = Field(min_length=1)


class SummaryReply(_Reply):
    summary: str = Field(min_length=1)


class VideoCheckReply(_Reply):
    verdict: Literal["pass", "failure"]
    reason: str = ""


class PersonReply(_Reply):
    failed: bool = False
    description: str = ""
    shirt: str | None = None
    pants: str | None = None
    position: Position | None = None


class VoiceReply(_Reply):
    smooth: bool
    rough: bool
    nasal: bool
    high: bool
    low: bool
    happy: bool
    angry: bool
    calm: bool


class BiographyReply(_Reply):
    name: str = Field(min_length=1)
    birthplace: str = Field(min_length=1)
    birthdate: str = Field(min_length=1)
    occupation: str = Field(min_length=1)
    biography: str = Field(min_length=1)


class QAReply(_Reply):
    failed: bool = False
    referent: str = ""
    source_kind: str = ""
    source_value: str = ""
    target_kind: str = ""
    question: str = ""
    answer: str = ""
    distractors: list[str] = Field(default_factory=list)


class UniqueReply(_Reply):
    names: list[str]
    unique: bool


class AnswerableReply(_Reply):
    correct: bool


class RationaleReply(_Reply):
    steps: list[str] = Field(min_length=4, max_length=4)
    answer: str
