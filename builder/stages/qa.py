"""Stage 7, qa: candidate questions for all nine task types, each finding a referent through a
source-modality fact and asking a target-modality fact about them, with one correct and three
wrong options. Two generators write the question and its answer: ``template`` (deterministic, from
the aligned annotations) and ``llm`` (the paper's: an LLM writes it from the same annotations).
The wrong options are drawn here for both (``pick_distractors``), from the same distribution as
the right ones, so no value of an option says whether it is the answer."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from builder.config import BuildConfig
from builder.prompts import load_templates, parse_reply
from builder.records import AlignedClip, AlignedPerson, Decoy, QACandidate
from builder.replies import QAReply
from builder.stage import Outputs, reject
from builder.stages.caption import reply_failure
from builder.stages.common import (
    article,
    canonical,
    display,
    kind_modality,
    make_request,
    normalize,
    people_context,
    stable_hash,
    values,
    written_in,
)
from crossomni import LETTERS, TASK_TYPES, TaskType
from model_calls.base import ModelRequest, ModelResponse

POOL_SIZE = 1024
MAX_CANDIDATES_PER_TASK = 8
TARGET_KINDS = ("utterance", "voice", "shirt", "pants", "position", "birthplace", "birthdate", "occupation")


class DistractorPool:
    """Values of each kind seen across the build, for wrong options when a clip's entries have too
    few, with how many people have each. Keeps the ``size`` values with the smallest hash per kind:
    bounded memory, and the same pool whatever the clip order."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self.values: dict[str, dict[str, tuple[int, str]]] = {kind: {} for kind in TARGET_KINDS}
        self.counts: dict[str, Counter[str]] = {kind: Counter() for kind in TARGET_KINDS}

    def add(self, kind: str, value: str) -> None:
        bucket = self.values[kind]
        key = normalize(value)
        if not key:
            return
        if key not in bucket:
            bucket[key] = (stable_hash(kind, key), value)
            if len(bucket) > 2 * self.size:
                self._trim(kind)
        if key in bucket:
            self.counts[kind][key] += 1

    def _trim(self, kind: str) -> None:
        bucket = self.values[kind]
        keep = sorted(bucket.items(), key=lambda kv: kv[1][0])[: self.size]
        bucket.clear()
        bucket.update(keep)
        self.counts[kind] = Counter({key: n for key, n in self.counts[kind].items() if key in bucket})

    def get(self, kind: str) -> list[str]:
        self._trim(kind)
        return [value for _, value in sorted(self.values[kind].values())]

    def frequency(self, kind: str, value: str) -> int:
        """How many people of the build have ``value`` (0: not in the pool)."""
        return self.counts[kind][normalize(value)]

    def is_small(self, kind: str) -> bool:
        """Whether the build knows at most four values of ``kind``: then every question offers them all."""
        return 0 < len(self.values[kind]) <= len(LETTERS)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], size: int = POOL_SIZE) -> DistractorPool:
        pool = cls(size)
        for record in records:
            for person in AlignedClip.model_validate(record).people:
                for kind in TARGET_KINDS:
                    for value in values(person, kind):
                        pool.add(kind, value)
        return pool


def question_text(source_kind: str, source_value: str, target_kind: str) -> str:
    templates = load_templates()
    cue = templates["cues"][source_kind].format(value=source_value, article=article(source_value))
    return templates["questions"][target_kind].format(cue=cue)


def option_values(entry: AlignedPerson | Decoy, kind: str) -> list[str]:
    """What an entry of the clip gives as options of ``kind``, as displayed: a person's first line
    only (every line offered is someone's first, answer or not); a decoy's values from its own clip."""
    if isinstance(entry, AlignedPerson):
        found = values(entry, kind)
        return found[:1] if kind == "utterance" else found
    if kind_modality(kind) == "text":
        raw = [getattr(entry, kind)]
    else:
        raw = {"utterance": [entry.utterance], "voice": entry.voice}.get(kind) or [getattr(entry, kind, "")]
    return [display(kind, v) for v in raw if v]


def _unit(*parts: Any) -> float:
    """A seeded uniform number in (0, 1)."""
    return (stable_hash(*parts) + 0.5) / 2**64


def pick_distractors(
    clip: AlignedClip, referent: AlignedPerson, kind: str, answer: str, pool: DistractorPool, salt: str
) -> list[str]:
    """Three wrong options of ``kind``: one value of another person of the clip and two of its decoys
    (people of the show from other clips), each drawn at random, so the wrong options are real
    people's values as the answer is. The one-and-two mix makes a person's value offered in a random
    question of any clip they are listed in with the same chance, 2/n for a clip of n people,
    whether they are its referent's kin or a decoy there: how often a value occurs across the release
    says nothing about whether it is an answer.

    A text fact's wrong options come from the biography's entries, so all four options are in the
    text the model reads. An audio or vision value's wrong options are values the biography does
    not state; when the entries have too few, the build's pool adds values people have, as often as
    they have them, and only a build too small to know three (the shipped sample) falls back on the
    vocabulary: a value nobody has is never an answer, so a learner would rule it out."""
    banned = {normalize(v) for v in values(referent, kind)} | {normalize(answer)}
    text_kind = kind_modality(kind) == "text"
    biography = "" if text_kind else clip.biography()

    def shuffled(entries: Iterable[AlignedPerson | Decoy]) -> list[str]:
        found = [v for entry in entries for v in option_values(entry, kind)]
        return sorted(found, key=lambda v: stable_hash(salt, normalize(v)))

    others = shuffled(p for p in clip.people if p.name != referent.name)
    decoys = shuffled(clip.decoys)
    chosen: list[str] = []

    def take(tier: Iterable[str], limit: int = 3) -> bool:
        for value in tier:
            if len(chosen) >= limit:
                break
            if normalize(value) not in banned and (text_kind or not written_in(value, biography)):
                banned.add(normalize(value))
                chosen.append(value)
        return len(chosen) == 3

    take(others, 1)
    take(decoys, 3)
    if take(sorted(others + decoys, key=lambda v: stable_hash(salt, "rest", normalize(v)))) or text_kind:
        return chosen
    # too few: values of the build's people, each drawn as often as people have it; then, in a build
    # too small to know enough (the shipped sample), the vocabulary's (values nobody has: a tell)
    weighted = sorted(pool.get(kind), key=lambda v: -math.log(_unit(salt, "pool", v)) / max(1, pool.frequency(kind, v)))
    if not take(weighted):
        take(sorted(vocabulary(kind), key=lambda v: stable_hash(salt, "vocabulary", v)))
    return chosen


def vocabulary(kind: str) -> list[str]:
    """The templates' values of an audio or vision ``kind``, as displayed (none for lines)."""
    return [display(kind, v) for v in load_templates()["vocabulary"].get(kind, [])]


def answer_of(person: AlignedPerson, kind: str) -> str:
    """The value a question of ``kind`` about ``person`` has as its answer (``""``: none)."""
    found = values(person, kind, distinct_only=kind == "voice") or values(person, kind)
    return found[0] if found else ""


def referent_order(
    clip: AlignedClip, task: TaskType, kind: str, pool: DistractorPool, seed: int
) -> list[AlignedPerson]:
    """The clip's people in a seeded order of preference as referents of a ``kind`` question. Where
    every question offers all of a kind's values (positions: four), a person is preferred with a
    weight inverse to how common their value is, so each value is the answer about equally often."""

    def weight(person: AlignedPerson) -> float:
        value = answer_of(person, kind)
        return 1.0 / max(1, pool.frequency(kind, value)) if value and pool.is_small(kind) else 1.0

    return sorted(clip.people, key=lambda p: -math.log(_unit(seed, clip.clip_id, task.name, kind, p.name)) / weight(p))


def template_candidates(clip: AlignedClip, task: TaskType, pool: DistractorPool, seed: int) -> list[QACandidate]:
    """Candidates for one task in order of preference (plans, then people in a seeded order)."""
    candidates: list[QACandidate] = []
    for source_kind, target_kind in load_templates()["plans"][task.name]:
        for person in referent_order(clip, task, target_kind, pool, seed):
            answer = answer_of(person, target_kind)
            if not answer:
                continue
            for source in values(person, source_kind, distinct_only=source_kind == "voice"):
                rank = len(candidates)
                candidate_id = f"{clip.clip_id}-{task.name}-{rank}"
                candidates.append(
                    QACandidate(
                        id=candidate_id,
                        clip_id=clip.clip_id,
                        task_type=task.name,
                        rank=rank,
                        referent=person.name,
                        source_kind=source_kind,
                        source_value=source,
                        target_kind=target_kind,
                        question=question_text(source_kind, source, target_kind),
                        answer=answer,
                        distractors=pick_distractors(clip, person, target_kind, answer, pool, f"{seed}:{candidate_id}"),
                        generator="template",
                    )
                )
                if len(candidates) >= MAX_CANDIDATES_PER_TASK:
                    return candidates
    return candidates


class TemplateQAStage:
    name = "qa"
    unit = "clip"

    def __init__(self, config: BuildConfig, pool: DistractorPool) -> None:
        self.seed, self.pool = config.seed, pool

    def process(self, item: dict[str, Any]) -> Outputs:
        clip = AlignedClip.model_validate(item)
        outputs, rejects = [], []
        for task in TASK_TYPES:
            candidates = template_candidates(clip, task, self.pool, self.seed)
            if not candidates:
                rejects.append(
                    reject(
                        clip.clip_id,
                        "no-candidate",
                        f"{task.name}: no person has the facts its plans need",
                        dropped=False,
                    )
                )
            outputs += [c.model_dump() for c in candidates]
        return outputs, rejects


class LLMQAStage:
    name = "qa"
    unit = "clip"

    def __init__(self, config: BuildConfig, pool: DistractorPool) -> None:
        self.role = config.role("text")
        self.seed, self.pool = config.seed, pool

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        clip = AlignedClip.model_validate(item)
        kinds = load_templates()["kinds"]
        people = people_context(clip.people)
        return [
            make_request(
                self.role,
                "qa",
                QAReply,
                clip_id=clip.clip_id,
                task_type=task.name,
                source=task.source,
                target=task.target,
                summary=clip.summary,
                people=people,
                biography=clip.biography(),
                source_kinds=[k for k in kinds[task.source]],
                target_kinds=[k for k in kinds[task.target]],
                decoys=[d.model_dump() for d in clip.decoys],
            )
            for task in TASK_TYPES
        ]

    def finish(self, item: dict[str, Any], responses: list[ModelResponse]) -> Outputs:
        clip = AlignedClip.model_validate(item)
        outputs, rejects = [], []
        for task, response in zip(TASK_TYPES, responses, strict=True):
            parsed, error = (None, response.error) if response.error else parse_reply(response.text, QAReply)
            if parsed is None:
                rejects.append(reply_failure(clip.clip_id, "qa", task.name, response, error or ""))
                continue
            if parsed.failed or not parsed.question:
                rejects.append(
                    reject(
                        clip.clip_id,
                        "qa-failed",
                        f"{task.name}: the model wrote no question",
                        raw=response.text,
                        dropped=False,
                    )
                )
                continue
            candidate_id = f"{clip.clip_id}-{task.name}-0"
            target_kind, answer = parsed.target_kind, canonical(parsed.target_kind, parsed.answer)
            referent = next((p for p in clip.people if normalize(p.name) == normalize(parsed.referent)), None)
            # the wrong options are drawn as the template generator's are (verify rejects an unknown kind)
            distractors = (
                pick_distractors(clip, referent, target_kind, answer, self.pool, f"{self.seed}:{candidate_id}")
                if referent is not None and target_kind in TARGET_KINDS
                else []
            )
            outputs.append(
                QACandidate(
                    id=candidate_id,
                    clip_id=clip.clip_id,
                    task_type=task.name,
                    rank=0,
                    referent=parsed.referent,
                    source_kind=parsed.source_kind,
                    source_value=canonical(parsed.source_kind, parsed.source_value),
                    target_kind=target_kind,
                    question=parsed.question,
                    answer=answer,
                    distractors=distractors,
                    generator="llm",
                    raw=response.text,
                ).model_dump()
            )
        return outputs, rejects
