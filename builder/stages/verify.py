"""Stage 8, verify: every candidate is checked for (i) source-side uniqueness — its source fact
picks out exactly its referent among the clip's people — and (ii) target-side answerability —
the annotations support the answer, the wrong options are wrong, and (cross tasks) the answer
cannot be read off the source modality. LLM candidates also get the paper's two model checks.
The first passing candidate(s) per (clip, task) become instances; every rejection is recorded."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from builder.config import BuildConfig
from builder.prompts import load_templates, parse_reply
from builder.records import AlignedClip, Instance, QACandidate
from builder.replies import AnswerableReply, UniqueReply
from builder.stage import Outputs, reject
from builder.stages.caption import reply_failure
from builder.stages.common import (
    kind_modality,
    make_request,
    modality_context,
    normalize,
    people_context,
    stable_hash,
    values,
)
from crossomni import LETTERS, TASKS
from model_calls.base import ModelRequest, ModelResponse


def check_candidate(clip: AlignedClip, candidate: QACandidate) -> tuple[bool, str, str]:
    """``(True, "", "")`` or ``(False, reason, detail)`` from the annotations alone."""
    task = TASKS.get(candidate.task_type)
    if task is None:
        return False, "unknown-task", candidate.task_type
    kinds = load_templates()["kinds"]
    if candidate.source_kind not in kinds[task.source] or candidate.target_kind not in kinds[task.target]:
        return False, "wrong-modality", f"{candidate.source_kind}->{candidate.target_kind} does not fit {task.name}"
    if candidate.source_kind == candidate.target_kind:
        return False, "wrong-modality", "source and target ask the same fact"
    people = {p.name: p for p in clip.people}
    referent = people.get(candidate.referent)
    if referent is None:
        return False, "unknown-referent", f"{candidate.referent!r} is not among {sorted(people)}"
    cue = normalize(candidate.source_value)
    unknown = [p.name for p in clip.people if not values(p, candidate.source_kind)]
    matches = [p.name for p in clip.people if cue in {normalize(v) for v in values(p, candidate.source_kind)}]
    if matches != [referent.name]:
        return (
            False,
            "source-not-unique",
            f"{candidate.source_kind} {candidate.source_value!r} fits {matches or 'nobody'}",
        )
    if unknown:
        return (
            False,
            "source-not-unique",
            f"{candidate.source_kind} unknown for {unknown}: uniqueness cannot be checked",
        )
    supported = {normalize(v) for v in values(referent, candidate.target_kind)}
    if normalize(candidate.answer) not in supported:
        return False, "answer-not-supported", f"{candidate.answer!r} is not {referent.name}'s {candidate.target_kind}"
    options = [candidate.answer, *candidate.distractors]
    if (
        len(candidate.distractors) != 3
        or any(not o.strip() for o in options)
        or len({normalize(o) for o in options}) != 4
    ):
        return False, "bad-distractors", f"need 3 distinct wrong options, got {candidate.distractors}"
    if any(normalize(d) in supported for d in candidate.distractors):
        return False, "bad-distractors", "a wrong option is also true of the referent"
    if normalize(candidate.answer) in normalize(candidate.question):
        return False, "answer-leaks", "the question contains its answer"
    if task.is_cross and normalize(candidate.answer) in modality_context(
        clip.people, kind_modality(candidate.source_kind)
    ):
        return False, "answer-leaks", f"the answer can be read off the {task.source} modality alone"
    return True, "", ""


def to_instance(clip: AlignedClip, candidate: QACandidate, seed: int, number: int) -> Instance:
    suffix = "" if number == 0 else f"-{number}"
    instance_id = f"{clip.clip_id}-{candidate.task_type}{suffix}"
    options = sorted(
        [candidate.answer, *candidate.distractors], key=lambda o: stable_hash(seed, instance_id, normalize(o))
    )
    referent = next(p for p in clip.people if p.name == candidate.referent)
    return Instance(
        id=instance_id,
        clip_id=clip.clip_id,
        start=0.0,
        end=clip.duration,
        task_type=candidate.task_type,
        referent=candidate.referent,
        biography=clip.biography(),
        question=candidate.question,
        options=options,
        answer=LETTERS[options.index(candidate.answer)],
        source_kind=candidate.source_kind,
        source_value=candidate.source_value,
        target_kind=candidate.target_kind,
        answer_text=candidate.answer,
        rank=candidate.rank,
        show=clip.show,
        facts={
            "name": referent.name,
            "shirt": referent.appearance.shirt or "",
            "pants": referent.appearance.pants or "",
            "position": values(referent, "position")[0] if values(referent, "position") else "somewhere",
        },
    )


def clips_with_candidates(
    clips: Iterable[dict[str, Any]], candidates: Iterable[dict[str, Any]]
) -> Iterator[tuple[str, Any]]:
    """Merge-join the aligned clips with their candidates (both files are in clip order)."""
    groups = itertools.groupby(candidates, key=lambda c: c["clip_id"])
    pending = next(groups, None)
    for clip in clips:
        group: list[dict[str, Any]] = []
        if pending is not None and pending[0] == clip["clip_id"]:
            group = list(pending[1])
            pending = next(groups, None)
        yield clip["clip_id"], {"clip": clip, "candidates": group}


class VerifyStage:
    """Checks from the annotations only (template candidates: verified by construction, no model calls)."""

    name = "verify"
    unit = "clip"

    def __init__(self, config: BuildConfig) -> None:
        self.config = config
        self.role = config.role("text")

    def _checked(self, item: dict[str, Any]) -> tuple[AlignedClip, list[tuple[QACandidate, tuple[bool, str, str]]]]:
        clip = AlignedClip.model_validate(item["clip"])
        candidates = [QACandidate.model_validate(c) for c in item["candidates"]]
        return clip, [(c, check_candidate(clip, c)) for c in candidates]

    def process(self, item: dict[str, Any]) -> Outputs:
        return self._select(item, None)

    def _select(self, item: dict[str, Any], responses: Iterator[ModelResponse] | None) -> Outputs:
        clip, checked = self._checked(item)
        passed: dict[str, list[QACandidate]] = {}
        rejects = []
        for candidate, (ok, reason, detail) in checked:
            if ok and responses is not None:
                ok, reason, detail, failures = _model_checks(candidate, next(responses), next(responses))
                rejects += failures
            if not ok:
                rejects.append(reject(candidate.id, reason, detail, task_type=candidate.task_type, dropped=True))
                continue
            passed.setdefault(candidate.task_type, []).append(candidate)
        outputs = []
        for candidates in passed.values():
            for number, candidate in enumerate(
                sorted(candidates, key=lambda c: c.rank)[: self.config.per_task_per_clip]
            ):
                outputs.append(to_instance(clip, candidate, self.config.seed, number).model_dump())
        return outputs, rejects


class LLMVerifyStage(VerifyStage):
    """The annotation checks, then the paper's two model checks (unique referent, answerable) per candidate."""

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        clip, checked = self._checked(item)
        people = people_context(clip.people)
        requests = []
        for candidate, (ok, _, _) in checked:
            if ok:
                requests += [
                    make_request(
                        self.role,
                        "verify_unique",
                        UniqueReply,
                        clip_id=clip.clip_id,
                        candidate=candidate.model_dump(),
                        question=candidate.question,
                        people=people,
                    ),
                    make_request(
                        self.role,
                        "verify_answerable",
                        AnswerableReply,
                        clip_id=clip.clip_id,
                        candidate=candidate.model_dump(),
                        question=candidate.question,
                        answer=candidate.answer,
                        summary=clip.summary,
                        people=people,
                    ),
                ]
        return requests

    def finish(self, item: dict[str, Any], responses: list[ModelResponse]) -> Outputs:
        return self._select(item, iter(responses))


def _model_checks(
    candidate: QACandidate, unique: ModelResponse, answerable: ModelResponse
) -> tuple[bool, str, str, list[dict[str, Any]]]:
    """The paper's two model checks; every unusable reply is returned as a recorded failure."""
    parsed_u, error_u = (None, unique.error) if unique.error else parse_reply(unique.text, UniqueReply)
    parsed_a, error_a = (None, answerable.error) if answerable.error else parse_reply(answerable.text, AnswerableReply)
    failures = [
        reply_failure(candidate.id, "verify", check, response, error or "")
        for check, parsed, response, error in (
            ("unique", parsed_u, unique, error_u),
            ("answerable", parsed_a, answerable, error_a),
        )
        if parsed is None
    ]
    if parsed_u is None or parsed_a is None:
        return False, "verify-failed", "a check reply was unusable", failures
    if not parsed_u.unique or [normalize(n) for n in parsed_u.names] != [normalize(candidate.referent)]:
        return False, "llm-not-unique", f"the model finds {parsed_u.names}", failures
    if not parsed_a.correct:
        return False, "llm-not-answerable", "the model judges the answer not supported", failures
    return True, "", "", failures
