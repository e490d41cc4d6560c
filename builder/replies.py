"""JSON schemas of the structured model replies (validated with pydantic).

Free text a stage keeps (captions, summaries, questions, biography facts, rationale steps) must
say something: empty, whitespace-only or placeholder text ("?", "null", "none", "n/a") fails
validation, so the stage that receives it records a parse failure with the raw reply."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from builder.records import Position
from crossomni import has_visible_text, text_problem

PLACEHOLDERS = frozenset({"", "?", "null", "none", "n/a", "nil", "-", "...", "unknown", "undefined"})


def is_placeholder(text: str) -> bool:
    """Whether ``text`` says nothing (blank, only invisible characters, or a stand-in such as ``"n/a"``)."""
    return not has_visible_text(text) or text.strip().strip("\"'.").strip().lower() in PLACEHOLDERS


def _meaningful(text: str) -> str:
    if is_placeholder(text):
        raise ValueError(f"empty or placeholder text {text[:80]!r}")
    problem = text_problem(text)  # what the release could not hold (a lone surrogate, a NUL)
    if problem:
        raise ValueError(problem)
    return text.strip()


Text = Annotated[str, AfterValidator(_meaningful)]


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CaptionReply(_Reply):
    description: Text


class SummaryReply(_Reply):
    summary: Text


class VideoCheckReply(_Reply):
    verdict: Literal["pass", "failure"]
    reason: str = ""


class PersonReply(_Reply):
    failed: bool = False
    description: str = ""
    shirt: Text | None = None
    pants: Text | None = None
    position: Position | None = None

    @model_validator(mode="after")
    def _described(self) -> PersonReply:
        if not self.failed:
            _meaningful(self.description)
        return self


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
    name: Text
    birthplace: Text
    birthdate: Text
    occupation: Text
    biography: Text


class QAReply(_Reply):
    """A written question and its answer; the stage draws the wrong options (``builder.stages.qa``),
    so a model's own wrong answers, with their tells, never reach the options."""

    failed: bool = False
    referent: str = ""
    source_kind: str = ""
    source_value: str = ""
    target_kind: str = ""
    question: str = ""
    answer: str = ""

    @model_validator(mode="after")
    def _complete(self) -> QAReply:
        if not self.failed:
            for text in (self.referent, self.source_kind, self.source_value, self.target_kind, self.question):
                _meaningful(text)
            _meaningful(self.answer)
        return self


class UniqueReply(_Reply):
    names: list[str]
    unique: bool


class AnswerableReply(_Reply):
    correct: bool


class RationaleReply(_Reply):
    steps: list[Text] = Field(min_length=4, max_length=4)
    answer: str


class BlindReply(_Reply):
    """A text-only model's pick, from the biography and the question alone."""

    answer: Literal["A", "B", "C", "D"]
