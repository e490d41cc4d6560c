"""Stage 7, qa: candidate questions for all nine task types, each finding a referent through a
source-modality fact and asking a target-modality fact about them, with one correct and three
wrong options. Two generators: ``template`` (deterministic, from the aligned annotations) and
``llm`` (the paper's: an LLM writes the question from the same annotations)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from builder.config import BuildConfig
from builder.prompts import load_templates, parse_reply
from builder.records import AlignedClip, AlignedPerson, QACandidate
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
from crossomni import TASK_TYPES, TaskType
from model_calls.base import ModelRequest, ModelResponse

POOL_SIZE = 64
MAX_CANDIDATES_PER_TASK = 8
LENGTH_BUCKET = 6  # characters: wrong options within this of the answer's length count as equally close
TARGET_KINDS = ("utterance", "voice", "shirt", "pants", "position", "birthplace", "birthdate", "occupation")


class DistractorPool:
    """Values of each kind seen across the build, for wrong options. Keeps the ``size`` values with
    the smallest hash per kind: bounded memory, and the same pool whatever the clip order."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self.values: dict[str, dict[str, tuple[int, str]]] = {kind: {} for kind in TARGET_KINDS}

    def add(self, kind: str, value: str) -> None:
        bucket = self.values[kind]
        key = normalize(value)
        if key and key not in bucket:
            bucket[key] = (stable_hash(kind, key), value)
            if len(bucket) > 2 * self.size:
                self._trim(bucket)

    def _trim(self, bucket: dict[str, tuple[int, str]]) -> None:
        keep = sorted(bucket.items(), key=lambda kv: kv[1][0])[: self.size]
        bucket.clear()
        bucket.update(keep)

    def get(self, kind: str) -> list[str]:
        bucket = self.values[kind]
        self._trim(bucket)
        return [value for _, value in sorted(bucket.values())]

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


def pick_distractors(
    clip: AlignedClip, referent: AlignedPerson, kind: str, answer: str, pool: DistractorPool, salt: str
) -> list[str]:
    """Three wrong options of ``kind``, the other people's values in the clip first.

    A text fact's wrong options come from the biography's other entries (people, then decoys), so
    all four options are in the text the model reads. An audio or vision value's wrong options are
    values the biography does not state (then the pool, then a vocabulary), so reading the text
    rules none of them out. Within a tier, values of a length close to the answer's come first,
    so the longest option is no tell."""
    banned = {normalize(v) for v in values(referent, kind)} | {normalize(answer)}
    others = [v for p in clip.people if p.name != referent.name for v in values(p, kind)]
    if kind_modality(kind) == "text":
        tiers = [others, [getattr(decoy, kind) for decoy in clip.decoys]]
    else:
        biography = clip.biography()
        vocabulary = [display(kind, v) for v in load_templates()["vocabulary"].get(kind, [])]
        tiers = [[v for v in tier if not written_in(v, biography)] for tier in (others, pool.get(kind), vocabulary)]
    chosen: list[str] = []
    for tier in tiers:
        ranked = sorted(
            tier, key=lambda v: (abs(len(v) - len(answer)) // LENGTH_BUCKET, stable_hash(salt, normalize(v)))
        )
        for value in ranked:
            if normalize(value) not in banned:
                banned.add(normalize(value))
                chosen.append(value)
                if len(chosen) == 3:
                    return chosen
    return chosen


def template_candidates(clip: AlignedClip, task: TaskType, pool: DistractorPool, seed: int) -> list[QACandidate]:
    """Candidates for one task in order of preference (plans, then people in a seeded order)."""
    people = sorted(clip.people, key=lambda p: stable_hash(seed, clip.clip_id, task.name, p.name))
    candidates: list[QACandidate] = []
    for source_kind, target_kind in load_templates()["plans"][task.name]:
        for person in people:
            answers = values(person, target_kind, distinct_only=target_kind == "voice") or values(person, target_kind)
            if not answers:
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
                        answer=answers[0],
                        distractors=pick_distractors(
                            clip, person, target_kind, answers[0], pool, f"{seed}:{candidate_id}"
                        ),
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
            outputs.append(
                QACandidate(
                    id=f"{clip.clip_id}-{task.name}-0",
                    clip_id=clip.clip_id,
                    task_type=task.name,
                    rank=0,
                    referent=parsed.referent,
                    source_kind=parsed.source_kind,
                    source_value=canonical(parsed.source_kind, parsed.source_value),
                    target_kind=parsed.target_kind,
                    question=parsed.question,
                    answer=canonical(parsed.target_kind, parsed.answer),
                    distractors=[canonical(parsed.target_kind, d) for d in parsed.distractors],
                    generator="llm",
                    raw=response.text,
                ).model_dump()
            )
        return outputs, rejects
