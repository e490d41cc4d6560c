"""Helpers shared by the stages: request building and the per-person facts the QA stages use."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from builder.config import BuildConfig, RoleConfig
from builder.prompts import load_prompt, load_templates, schema_of
from builder.records import AlignedPerson, PreprocessedClip
from model_calls.base import ModelRequest


def make_request(
    role: RoleConfig, prompt: str, reply: type[BaseModel], media: list[dict[str, Any]] | None = None, **context: Any
) -> ModelRequest:
    """A chat request: media parts first, then the rendered prompt; ``metadata`` carries ``context`` ids."""
    template = load_prompt(prompt)
    metadata = {"prompt": prompt, **{k: v for k, v in context.items() if k in METADATA_KEYS}}
    text = template.render(**context)
    # text-only prompts are plain strings: text LLMs' chat templates expect that
    content: str | list[dict[str, Any]] = [*media, {"type": "text", "text": text}] if media else text
    return ModelRequest(
        model=role.model,
        messages=({"role": "user", "content": content},),
        prompt_version=template.version,
        sampling=dict(role.sampling),
        json_schema=schema_of(reply),
        metadata=metadata,
    )


# Context entries copied into request metadata: what a scripted source (the sample's stand-in
# for real models) needs to know which item a request is about. Never part of the cache key.
METADATA_KEYS = ("clip_id", "segment", "speaker", "name", "task_type", "candidate", "instance", "options", "decoys")


def article(word: str) -> str:
    """The indefinite article for ``word`` (by its first letter; good enough for colours and jobs)."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def stable_hash(*parts: Any) -> int:
    """A deterministic 64-bit hash of ``parts`` (their ``str``), the same in every process and run."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()[:8], "big")


# The QA stages compare the same few values against the same biography thousands of times per clip
# (distractor picking, the text-shortcut checks): normalised texts, phrase patterns and answers are
# memoised. The caches are bounded, so memory stays flat however many clips a build reads.
_MEMO = 2048
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=_MEMO)
def normalize(value: str) -> str:
    """``value`` lower-cased, trimmed of end punctuation and quotes, runs of white space made one space."""
    return _SPACES.sub(" ", value.strip().strip(".!?\"'").lower())


@lru_cache(maxsize=_MEMO)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])")


@lru_cache(maxsize=_MEMO)
def written_in(value: str, text: str) -> bool:
    """Whether ``value`` can be read in ``text``: the normalised phrase, on word boundaries."""
    phrase = normalize(value)
    if not phrase:
        return False
    return _phrase_pattern(phrase).search(normalize(text)) is not None


def display(kind: str, value: str) -> str:
    """How a stored value reads in options and cues (positions and voice attributes get words)."""
    templates = load_templates()
    if kind == "position":
        return templates["positions"].get(value, value)
    if kind == "voice":
        return templates["voice_words"].get(value, value)
    return value


def canonical(kind: str, value: str) -> str:
    """A model's value in the form options use: ``left`` -> ``on the left side``, ``high`` -> ``high-pitched``."""
    templates = load_templates()
    words = templates["positions"] if kind == "position" else templates["voice_words"] if kind == "voice" else {}
    return words.get(normalize(value), value)


def kind_modality(kind: str) -> str:
    for modality, kinds in load_templates()["kinds"].items():
        if kind in kinds:
            return modality
    raise ValueError(f"unknown fact kind {kind!r}")


def values(person: AlignedPerson, kind: str, distinct_only: bool = False) -> list[str]:
    """The person's facts of one kind, as displayed (empty when unknown)."""
    if kind == "utterance":
        raw = list(person.utterances)
    elif kind == "voice":
        if person.voice is None:
            return []
        raw = list(person.distinct_voice) if distinct_only else [a for a, on in person.voice.items() if on]
    elif kind in ("shirt", "pants", "position"):
        raw = [getattr(person.appearance, kind)] if getattr(person.appearance, kind) else []
    else:
        raw = [getattr(person, kind)]
    return [display(kind, v) for v in raw if v]


def modality_context(people: list[AlignedPerson], modality: str) -> str:
    """Everything a modality tells about the clip's people, as text (for the answer-leak check)."""
    parts: list[str] = []
    for person in people:
        if modality == "audio":
            parts += person.utterances + values(person, "voice")
        elif modality == "vision":
            parts += values(person, "shirt") + values(person, "pants") + values(person, "position")
        else:
            parts.append(person.biography)
    return normalize(" | ".join(parts))


def people_context(people: list[AlignedPerson]) -> list[dict[str, Any]]:
    """People as the prompt templates see them."""
    out = []
    for person in people:
        voice = ", ".join(values(person, "voice")) or "unknown"
        position = (values(person, "position") or ["unknown"])[0]
        out.append({**person.model_dump(), "voice_text": voice, "position_text": position})
    return out


def media_file(config: BuildConfig, clip: PreprocessedClip) -> Path:
    """Absolute path of a clip's mp4 (TVQA root for referenced clips, the derived media folder for muxed ones)."""
    return (config.media_dir if clip.media == "derived" else config.tvqa_root) / clip.video
