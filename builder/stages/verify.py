"""Stage 8, verify: every candidate is checked for (i) source-side uniqueness — its source fact
picks out exactly its referent among the clip's people — (ii) target-side answerability — the
annotations support the answer, the wrong options are wrong, and (cross tasks) the answer cannot be
read off the source modality — and (iii) no text shortcut: nothing in the biography or the question
answers it or narrows it down (``text-shortcut``, with the evidence). LLM candidates also get the
paper's two model checks, and any candidate a wrong option of which nobody has is refused
(``unattested-option``). The first passing candidate(s) per (clip, task) become instances, the
answer letter planned by ``answer_slots`` (stratified per split and task, in a seeded order);
every rejection is recorded."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from builder.config import BuildConfig
from builder.prompts import load_templates, parse_reply
from builder.records import AlignedClip, AlignedPerson, Decoy, Instance, QACandidate
from builder.replies import AnswerableReply, UniqueReply, is_placeholder
from builder.stage import Outputs, not_selected, reject
from builder.stages.caption import reply_failure
from builder.stages.common import (
    kind_modality,
    make_request,
    modality_context,
    normalize,
    people_context,
    stable_hash,
    values,
    written_in,
)
from builder.stages.qa import DistractorPool, option_values, vocabulary
from crossomni import LETTERS, TASKS, option_key
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
    if is_placeholder(candidate.question):
        return False, "bad-question", f"the question {candidate.question!r} says nothing"
    people = {p.name: p for p in clip.people}
    referent = people.get(candidate.referent)
    if referent is None:
        return False, "unknown-referent", f"{candidate.referent!r} is not among {sorted(people)}"
    cue = normalize(candidate.source_value)
    unknown = [p.name for p in clip.people if not values(p, candidate.source_kind)]
    holders = [*clip.people, *(clip.decoys if task.source == "text" else [])]  # a text cue must fit one entry
    matches = [p.name for p in holders if cue in {normalize(v) for v in entry_values(p, candidate.source_kind)}]
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
        or any(is_placeholder(o) for o in options)
        or len(set(map(normalize, options))) != 4
        or len(set(map(option_key, options))) != 4  # the release's own test of options that read the same
    ):
        return False, "bad-distractors", f"need 3 distinct wrong options, got {candidate.distractors}"
    if any(normalize(d) in supported for d in candidate.distractors):
        return False, "bad-distractors", "a wrong option is also true of the referent"
    evidence = text_shortcut(clip, candidate)
    if evidence:
        return False, "text-shortcut", evidence
    if task.is_cross and written_in(
        candidate.answer, modality_context(clip.people, kind_modality(candidate.source_kind))
    ):
        return False, "answer-leaks", f"the answer can be read off the {task.source} modality alone"
    return True, "", ""


def entry_values(entry: AlignedPerson | Decoy, kind: str) -> list[str]:
    """A person's facts of ``kind``, or a decoy's (decoys have text facts only)."""
    if isinstance(entry, AlignedPerson):
        return values(entry, kind)
    return [getattr(entry, kind)] if kind_modality(kind) == "text" else []


def unattested_options(clip: AlignedClip, candidate: QACandidate, pool: DistractorPool) -> list[str]:
    """Wrong options that no entry of the clip and no person of the build has, nor the vocabulary
    offers: a made-up value (a model's own wrong answer) is never the answer anywhere, so a learner
    would rule it out."""
    entries = [*clip.people, *clip.decoys]
    known = {normalize(v) for entry in entries for v in option_values(entry, candidate.target_kind)}
    known |= {normalize(v) for p in clip.people for v in values(p, candidate.target_kind)}
    known |= {normalize(v) for v in vocabulary(candidate.target_kind)}
    return [
        d for d in candidate.distractors if normalize(d) not in known and not pool.frequency(candidate.target_kind, d)
    ]


def _line_of(text: str, value: str) -> str:
    """The biography entry where ``value`` is written (the evidence of a shortcut)."""
    return next((line for line in text.splitlines() if written_in(value, line)), text)[:200]


def text_shortcut(clip: AlignedClip, candidate: QACandidate) -> str:
    """Why the candidate can be answered, or narrowed down, by reading the biography and the question
    (the text every model is given) without the clip: ``""`` when it cannot.

    (i) an audio/vision answer, or its raw attribute value, is written in the text; any of its options
    is (reading tells the options apart); (ii) an audio/vision cue is written in the biography, or the
    question names a person, so reading ties the cue to a name; (iii) with both, a single-modality
    audio or vision question would be a reading question. A text answer is the point of a text target,
    but then all four options must be in the biography, or reading rules the missing ones out."""
    task = TASKS[candidate.task_type]
    biography, question = clip.biography(), candidate.question
    options = [candidate.answer, *candidate.distractors]
    if written_in(candidate.answer, question):
        return f"the question {question!r} contains its answer {candidate.answer!r}"
    names = [entry.name for entry in [*clip.people, *clip.decoys] if written_in(entry.name, question)]
    if task.source != "text" and names:
        return f"the question names {names[0]}: the biography ties the {task.source} cue to that entry"
    if task.source != "text":
        for entry in [*clip.people, *clip.decoys]:
            for kind in ("birthplace", "birthdate", "occupation"):
                if written_in(getattr(entry, kind), question):
                    return f"the question quotes {entry.name}'s {kind} {getattr(entry, kind)!r} from the biography"
    if task.source != "text":
        for value in _raw_values(candidate.source_kind, candidate.source_value):
            if written_in(value, biography):
                return (
                    f"the {candidate.source_kind} cue {value!r} is written in the biography "
                    f"({_line_of(biography, value)!r}): reading ties it to a name"
                )
    if task.target == "text":
        missing = [o for o in options if not written_in(o, biography)]
        if missing:
            return f"the option {missing[0]!r} is not in the biography: reading rules it out"
        return ""
    for value in _raw_values(candidate.target_kind, candidate.answer):
        for where, text in (("biography", biography), ("question", question)):
            if written_in(value, text):
                return (
                    f"the answer's {candidate.target_kind} {value!r} is written in the {where} "
                    f"({_line_of(text, value)!r})"
                )
    for option in candidate.distractors:
        if written_in(option, biography):
            line = _line_of(biography, option)
            return f"the wrong option {option!r} is written in the biography ({line!r}) and the answer is not"
    return ""


def _raw_values(kind: str, shown: str) -> list[str]:
    """A value as the option shows it and as the annotations store it (``on the left side`` / ``left``)."""
    words = (
        {**load_templates()["positions"], **load_templates()["voice_words"]} if kind in ("position", "voice") else {}
    )
    raw = [key for key, phrase in words.items() if normalize(phrase) == normalize(shown)]
    return [shown, *raw]


def answer_slots(
    keys: Iterable[tuple[str, str, str, int]], seed: int, size: int = len(LETTERS)
) -> dict[str, dict[str, int]]:
    """Where the answer goes among the options of each planned instance ``(split, task, clip, number)``:
    a seeded random permutation of the letters per block of ``size`` instances, the blocks made in a
    seeded random order of each (split, task): letters balanced per task and split (stratified), yet
    independent of the release's order, so nothing about an instance's place gives its letter.
    Returns clip -> ``slot_key(task, number)`` -> the answer's index."""
    strata: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for split, task, clip_id, number in keys:
        strata.setdefault((split, task), []).append((clip_id, number))
    slots: dict[str, dict[str, int]] = {}
    for (split, task), members in strata.items():
        members.sort(key=lambda m: stable_hash(seed, "letters", split, task, *m))
        for j, (clip_id, number) in enumerate(members):
            block = sorted(range(size), key=lambda i: stable_hash(seed, "block", split, task, j // size, i))
            slots.setdefault(clip_id, {})[slot_key(task, number)] = block[j % size]
    return slots


def slot_key(task_type: str, number: int) -> str:
    return f"{task_type}:{number}"


def planned_instances(
    candidates: Iterable[dict[str, Any]], split_of_clip: dict[str, str], per_task_per_clip: int
) -> Iterator[tuple[str, str, str, int]]:
    """``(split, task, clip, number)`` of every instance the candidates can become (``answer_slots``' keys)."""
    counts: dict[tuple[str, str], int] = {}
    for candidate in candidates:
        key = (candidate["clip_id"], candidate["task_type"])
        counts[key] = counts.get(key, 0) + 1
    for (clip_id, task), count in counts.items():
        for number in range(min(count, per_task_per_clip)):
            yield split_of_clip.get(clip_id, ""), task, clip_id, number


def to_instance(clip: AlignedClip, candidate: QACandidate, seed: int, number: int, slot: int | None = None) -> Instance:
    """The instance of a passing candidate: the wrong options in a seeded order, the answer at
    ``slot`` (from ``answer_slots``; a seeded draw when none was planned)."""
    suffix = "" if number == 0 else f"-{number}"
    instance_id = f"{clip.clip_id}-{candidate.task_type}{suffix}"
    wrong = sorted(candidate.distractors, key=lambda o: stable_hash(seed, instance_id, normalize(o)))
    if slot is None:
        slot = stable_hash(seed, "slot", instance_id) % len(LETTERS)
    options = [*wrong[:slot], candidate.answer, *wrong[slot:]]
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
    clips: Iterable[dict[str, Any]],
    candidates: Iterable[dict[str, Any]],
    slots: dict[str, dict[str, int]] | None = None,
) -> Iterator[tuple[str, Any]]:
    """Merge-join the aligned clips with their candidates (both files are in clip order); each item
    carries the answer slots planned for its instances (``answer_slots``), so a resumed run places
    the letters alike."""
    slots = slots or {}
    groups = itertools.groupby(candidates, key=lambda c: c["clip_id"])
    pending = next(groups, None)
    for clip in clips:
        group: list[dict[str, Any]] = []
        if pending is not None and pending[0] == clip["clip_id"]:
            group = list(pending[1])
            pending = next(groups, None)
        yield clip["clip_id"], {"clip": clip, "candidates": group, "slots": slots.get(clip["clip_id"], {})}


class VerifyStage:
    """Checks from the annotations only (template candidates: verified by construction, no model calls)."""

    name = "verify"
    unit = "clip"

    def __init__(self, config: BuildConfig, pool: DistractorPool | None = None) -> None:
        self.config = config
        self.role = config.role("text")
        self.pool = pool

    def _check(self, clip: AlignedClip, candidate: QACandidate) -> tuple[bool, str, str]:
        ok, reason, detail = check_candidate(clip, candidate)
        if ok and self.pool is not None:
            made_up = unattested_options(clip, candidate, self.pool)
            if made_up:
                return False, "unattested-option", f"nobody in the build has the wrong option {made_up[0]!r}"
        return ok, reason, detail

    def _checked(self, item: dict[str, Any]) -> tuple[AlignedClip, list[tuple[QACandidate, tuple[bool, str, str]]]]:
        clip = AlignedClip.model_validate(item["clip"])
        candidates = [QACandidate.model_validate(c) for c in item["candidates"]]
        return clip, [(c, self._check(clip, c)) for c in candidates]

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
        cap = self.config.per_task_per_clip
        left_out: dict[str, int] = {}
        for task_type, candidates in passed.items():
            for number, candidate in enumerate(sorted(candidates, key=lambda c: c.rank)[:cap]):
                slot = item.get("slots", {}).get(slot_key(candidate.task_type, number))
                instance = to_instance(clip, candidate, self.config.seed, number, slot)
                outputs.append(instance.model_dump())
            if len(candidates) > cap:
                left_out[task_type] = len(candidates) - cap
        if left_out:
            detail = f"passed every check, beyond --per-task-per-clip {cap} (the best-ranked were kept)"
            rejects.append(not_selected(clip.clip_id, sum(left_out.values()), detail, per_task=left_out))
        return outputs, rejects


class LLMVerifyStage(VerifyStage):
    """The annotation checks, then the paper's two model checks (unique referent, answerable) per candidate."""

    def requests(self, item: dict[str, Any]) -> list[ModelRequest]:
        clip, checked = self._checked(item)
        people = people_context(clip.people)
        decoys = [d.model_dump() for d in clip.decoys]
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
                        decoys=decoys,
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
                        decoys=decoys,
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
