"""The ``scripted`` backend: replies for the embedded sample derived from ``spec.yaml``, the ground
truth of what the generated media show and say. It stands in for the real models when the
sample's replay file is (re)recorded::

    crossomni build --sample --backend scripted --record builder/sample/replay/sample.jsonl

Each reply is what a correct model would answer about the request's item (named in the request
metadata); requests about anything the spec does not know get an error response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from builder.records import (
    VOICE_ATTRIBUTES,
    AlignedClip,
    AlignedPerson,
    Appearance,
    Decoy,
    Instance,
    QACandidate,
    Voice,
)
from builder.sample.generate import load_spec, speaking_at
from builder.stages.common import article, written_in
from crossomni import LETTERS
from model_calls.base import ModelRequest, ModelResponse
from model_calls.store import load_yaml

PLACES = {"left": "on the left", "right": "on the right", "centre": "in the centre", "background": "in the background"}
NUMBERS = {2: "Two", 3: "Three", 4: "Four"}
ALIGNED_KEPT = 64
# Words of the question templates: they say what is asked, not whom it is about.
QUESTION_WORDS = frozenset(
    "a an the of in on to for as with is are was what where when how does do who person speaker say says "
    "sound voice colour shirt pants frame born living works".split()
)


def read_answer(biography: str, question: str, options: list[str]) -> str:
    """The scripted blind reader: the letter a careful reader picks from the biography and the question
    alone. It looks for the one entry the question's words point to and takes the option written in
    it; when the text points nowhere it guesses ``A`` (chance, on balanced letters)."""
    words = set(re.findall(r"[a-z0-9]+", question.lower())) - QUESTION_WORDS
    entries = [line.partition(": ") for line in biography.splitlines()]
    scores = [len(words & set(re.findall(r"[a-z0-9]+", f"{name} {text}".lower()))) for name, _, text in entries]
    best = max(scores, default=0)
    if best and scores.count(best) == 1:
        _, _, entry = entries[scores.index(best)]
        hits = [letter for letter, option in zip(LETTERS, options, strict=False) if written_in(option, entry)]
        if len(hits) == 1:
            return hits[0]
    return LETTERS[0]


def bio_text(person: dict[str, Any]) -> str:
    bio = person["bio"]
    job = f"{article(bio['occupation'])} {bio['occupation']}"
    return f"Born on {bio['birthdate']} in {bio['birthplace']}, {person['name']} works as {job}."


class ScriptedBackend:
    name = "scripted"
    reads_media = False  # answers from the spec: never opens a media file

    def __init__(self, spec: dict[str, Any] | None = None, spec_path: str | None = None, **_: Any) -> None:
        if spec is None and spec_path is not None:
            spec = load_yaml(Path(spec_path).read_text(encoding="utf-8"), str(spec_path))
        self.spec = spec or load_spec()
        self.calls = 0
        self.clips = {clip["vid_name"]: clip for clip in self.spec["clips"]}
        self._aligned: dict[str, AlignedClip] = {}

    def aligned(self, vid_name: str) -> AlignedClip:
        """What a correct pipeline aligns of one spec clip (the last few are kept: memory stays flat at any size)."""
        if vid_name not in self._aligned:
            self._aligned[vid_name] = self._align(self.clips[vid_name])
            if len(self._aligned) > ALIGNED_KEPT:
                del self._aligned[next(iter(self._aligned))]
        return self._aligned[vid_name]

    def _align(self, clip: dict[str, Any]) -> AlignedClip:
        from builder.stages.align import merged_biography
        from builder.stages.voice import voice_double_check

        voices = [Voice(name=p["name"], attributes=self._voice(p)) for p in clip["people"]]
        voice_double_check(voices)
        distinct = {v.name: v.distinct for v in voices}
        people = [
            AlignedPerson(
                name=p["name"],
                utterances=[line["text"] for line in clip["lines"] if line["speaker"] == p["name"]],
                voice=self._voice(p),
                distinct_voice=distinct[p["name"]],
                appearance=Appearance(shirt=p["shirt"], pants=p["pants"], position=p["side"]),
                description=self._description(p),
                **p["bio"],
                biography=merged_biography(bio_text(p), p["shirt"], p["name"]),
            )
            for p in sorted(clip["people"], key=lambda p: p["name"])
        ]
        return AlignedClip(
            clip_id=clip["vid_name"],
            show=clip["show_name"],
            episode=clip["vid_name"].split("_seg")[0],
            video="",
            audio="",
            duration=clip["duration"],
            summary=self._summary(clip),
            people=people,
        )

    def _aligned_with_decoys(self, clip_id: str, decoys: list[dict[str, Any]] | None) -> AlignedClip:
        """The clip as the spec knows it, with the decoys the build lists in its biography (the
        request says which: they are people of other clips, chosen over the whole build)."""
        return self.aligned(clip_id).model_copy(update={"decoys": [Decoy.model_validate(d) for d in decoys or []]})

    @cached_property
    def pool(self) -> Any:
        from builder.stages.qa import DistractorPool

        return DistractorPool.from_records(self._align(clip).model_dump() for clip in self.spec["clips"])

    @staticmethod
    def _voice(person: dict[str, Any]) -> dict[str, bool]:
        # The spec fixes only the pitch of each voice (espeak-ng high or low); nothing else is claimed.
        return {a: a == person["voice"] for a in VOICE_ATTRIBUTES}

    @staticmethod
    def _description(person: dict[str, Any]) -> str:
        clothes = f"{article(person['shirt'])} {person['shirt']} shirt and {person['pants']} pants"
        return f"{person['name']} wears {clothes} and stands {PLACES[person['side']]} of the frame."

    def _scene(self, clip: dict[str, Any], t: float) -> str:
        people = "; ".join(
            f"{PLACES[p['side']]}, a person in {article(p['shirt'])} {p['shirt']} shirt and {p['pants']} pants"
            for p in clip["people"]
        )
        speaking = speaking_at(clip, t)
        talking = [p["side"] for p in clip["people"] if p["name"] in speaking]
        talk = f" The person {PLACES[talking[0]]} is talking, mouth opening and closing." if talking else ""
        count = NUMBERS.get(len(clip["people"]), str(len(clip["people"])))
        return f"{count} people stand in a plain room with a light blue wall and a brown floor: {people}.{talk}"

    def _summary(self, clip: dict[str, Any]) -> str:
        return self._scene(clip, -1.0) + " They take turns speaking."

    def _reply(self, request: ModelRequest) -> dict[str, Any]:
        meta = request.metadata
        prompt = meta.get("prompt")
        clip = self.clips.get(meta.get("clip_id", ""))
        if clip is None:
            raise KeyError(f"clip {meta.get('clip_id')!r} is not in the sample spec")
        people = {p["name"]: p for p in clip["people"]}
        if prompt == "caption":
            line = clip["lines"][meta["segment"]]
            return {"description": self._scene(clip, (line["start"] + line["end"]) / 2)}
        if prompt == "summary":
            return {"summary": self._summary(clip)}
        if prompt == "video_description":
            return {"description": self._summary(clip)}
        if prompt == "video_check":
            return {"verdict": "pass", "reason": "same two people in the same room in both"}
        if prompt == "person":
            person = people[meta["speaker"]]
            return {
                "failed": False,
                "description": self._description(person),
                "shirt": person["shirt"],
                "pants": person["pants"],
                "position": person["side"],
            }
        if prompt == "voice":
            return self._voice(people[meta["speaker"]])
        if prompt == "biography":
            person = people[meta["name"]]
            return {"name": person["name"], **person["bio"], "biography": bio_text(person)}
        aligned = self._aligned_with_decoys(clip["vid_name"], meta.get("decoys"))
        if prompt == "qa":
            return self._question(aligned, meta["task_type"])
        if prompt in ("verify_unique", "verify_answerable"):
            from builder.stages.verify import check_candidate

            candidate = QACandidate.model_validate(meta["candidate"])
            ok, _, _ = check_candidate(aligned, candidate)
            if prompt == "verify_answerable":
                return {"correct": ok}
            return {"names": [candidate.referent] if ok else [], "unique": ok}
        if prompt == "blind":
            instance = meta["instance"]
            options = [option for _, option in meta["options"]]
            return {"answer": read_answer(instance["biography"], instance["question"], options)}
        if prompt == "rationale":
            from builder.stages.rationale import template_rationale

            instance = Instance.model_validate(meta["instance"])
            steps = [line.split(": ", 1)[1] for line in template_rationale(instance).splitlines()[:4]]
            return {"steps": steps, "answer": instance.answer}
        raise KeyError(f"no script for prompt {prompt!r}")

    def _question(self, aligned: AlignedClip, task_type: str) -> dict[str, Any]:
        from builder.stages.qa import template_candidates
        from builder.stages.verify import check_candidate
        from crossomni import TASKS

        for candidate in template_candidates(aligned, TASKS[task_type], self.pool, seed=0):
            if check_candidate(aligned, candidate)[0]:
                fields = ("referent", "source_kind", "source_value", "target_kind", "question", "answer")
                return {"failed": False, **{f: getattr(candidate, f) for f in fields}}
        return {"failed": True}

    def generate(self, requests: Sequence[ModelRequest]) -> list[ModelResponse]:
        self.calls += 1
        responses = []
        for request in requests:
            try:
                text = json.dumps(self._reply(request), ensure_ascii=False)
                responses.append(ModelResponse(request.key(), request.model, text=text))
            except KeyError as err:
                responses.append(ModelResponse(request.key(), request.model, error=f"scripted: {err}"))
        return responses
