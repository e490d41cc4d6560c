"""No question is answerable from the biography or the question alone: the leak rules of verify
(reason ``text-shortcut``, with the evidence), for both generators; placeholder replies are parse
failures at the stage that receives them; the blind filter drops what reading solves."""

from __future__ import annotations

import json

import pytest

from builder.config import BuildConfig
from builder.prompts import load_templates, parse_reply
from builder.records import VOICE_ATTRIBUTES, AlignedClip, AlignedPerson, Appearance, Instance, QACandidate
from builder.replies import BiographyReply, CaptionReply, PersonReply, QAReply, RationaleReply, SummaryReply
from builder.stages.align import make_decoys, merged_biography
from builder.stages.blind import BlindStage, option_orders
from builder.stages.qa import LLMQAStage
from builder.stages.verify import VerifyStage, check_candidate
from model_calls.base import ModelResponse


def person(name: str, shirt: str, pants: str, side: str, place: str, job: str, line: str, pitch: str):
    bio = f"Born on May 1, 1980 in {place}, {name} works as a {job}."
    return AlignedPerson(
        name=name,
        utterances=[line],
        voice={a: a == pitch for a in VOICE_ATTRIBUTES},
        distinct_voice=[pitch],
        appearance=Appearance(shirt=shirt, pants=pants, position=side),
        description="",
        birthplace=place,
        birthdate=f"May {len(name)}, 1980",
        occupation=job,
        biography=merged_biography(bio, shirt, name),
    )


PEOPLE = [
    person("Ann", "red", "blue", "left", "Oslo, Norway", "chef", "The kettle is boiling.", "high"),
    person("Bob", "green", "black", "right", "Rome, Italy", "pilot", "My train leaves soon.", "low"),
]
CLIP = AlignedClip(
    clip_id="c",
    show="S",
    episode="e",
    video="v.mp4",
    audio="v.mp4",
    duration=8.0,
    summary="",
    people=PEOPLE,
    decoys=make_decoys("c", PEOPLE),
)
DECOY_PLACES = [d.birthplace for d in CLIP.decoys]
FREE = [c for c in load_templates()["vocabulary"]["pants"] if c not in CLIP.biography() and c not in ("blue", "black")]


def candidate(generator: str, **fields) -> QACandidate:
    base = dict(id="c-x-0", clip_id="c", rank=0, referent="Ann", generator=generator)
    return QACandidate(**{**base, **fields})


# (fields, passes): each leak rule with a crafted leaking candidate and a clean one.
CASES = {
    # (i) target vision: the answer written in the biography (the shirt grounds the text)
    "i-answer-in-biography": (
        dict(
            task_type="audio_to_vision",
            source_kind="utterance",
            source_value="The kettle is boiling.",
            target_kind="shirt",
            question='What colour is the shirt of the person who says "The kettle is boiling."?',
            answer="red",
            distractors=FREE[:3],
        ),
        False,
    ),
    "i-clean": (
        dict(
            task_type="audio_to_vision",
            source_kind="utterance",
            source_value="The kettle is boiling.",
            target_kind="pants",
            question='What colour are the pants of the person who says "The kettle is boiling."?',
            answer="blue",
            distractors=["black", *FREE[:2]],
        ),
        True,
    ),
    # (i) the attribute value behind the option ("left" of "on the left side") written in the question
    "i-raw-value-in-question": (
        dict(
            task_type="text_to_vision",
            source_kind="birthplace",
            source_value="Oslo, Norway",
            target_kind="position",
            question="Where in the frame is the person born in Oslo, Norway, who left early?",
            answer="on the left side",
            distractors=["on the right side", "in the centre", "in the background"],
        ),
        False,
    ),
    # (i) a wrong option readable in the biography while the answer is not: reading rules it out
    "i-distractor-in-biography": (
        dict(
            task_type="text_to_vision",
            source_kind="birthplace",
            source_value="Oslo, Norway",
            target_kind="pants",
            question="What colour are the pants of the person born in Oslo, Norway?",
            answer="blue",
            distractors=["green", *FREE[:2]],  # green is Bob's shirt in the biography
        ),
        False,
    ),
    # (ii) a vision cue the biography states: reading ties "red" to Ann
    "ii-cue-in-biography": (
        dict(
            task_type="vision_to_text",
            source_kind="shirt",
            source_value="red",
            target_kind="birthplace",
            question="Where was the person in the red shirt born?",
            answer="Oslo, Norway",
            distractors=["Rome, Italy", *DECOY_PLACES],
        ),
        False,
    ),
    "ii-clean": (
        dict(
            task_type="vision_to_text",
            source_kind="pants",
            source_value="blue",
            target_kind="birthplace",
            question="Where was the person in the blue pants born?",
            answer="Oslo, Norway",
            distractors=["Rome, Italy", *DECOY_PLACES],
        ),
        True,
    ),
    # (ii) an audio question that names the person: the biography does the rest
    "ii-question-names-person": (
        dict(
            task_type="audio_to_text",
            source_kind="utterance",
            source_value="The kettle is boiling.",
            target_kind="birthplace",
            question='Where was Ann, who says "The kettle is boiling.", born?',
            answer="Oslo, Norway",
            distractors=["Rome, Italy", *DECOY_PLACES],
        ),
        False,
    ),
    # (ii) an audio question that quotes a biography fact: the fact names the entry
    "ii-question-quotes-biography": (
        dict(
            task_type="audio",
            source_kind="voice",
            source_value="high-pitched",
            target_kind="utterance",
            question="What does the high-pitched speaker, the chef, say?",
            answer="The kettle is boiling.",
            distractors=["My train leaves soon.", "Close the door please.", "We are late again."],
        ),
        False,
    ),
    # text target: an option the biography does not hold is ruled out by reading
    "text-target-option-outside-biography": (
        dict(
            task_type="audio_to_text",
            source_kind="utterance",
            source_value="The kettle is boiling.",
            target_kind="birthplace",
            question='Where was the person who says "The kettle is boiling." born?',
            answer="Oslo, Norway",
            distractors=["Rome, Italy", DECOY_PLACES[0], "Lima, Peru"],
        ),
        False,
    ),
    # (iii) a single-modality vision question that is a reading question (the old shirt -> pants plan
    # once the biography stated pants too; here: shirt -> position, the cue in the text)
    "iii-vision-cue-in-text": (
        dict(
            task_type="vision",
            source_kind="shirt",
            source_value="red",
            target_kind="position",
            question="Where in the frame is the person in the red shirt?",
            answer="on the left side",
            distractors=["on the right side", "in the centre", "in the background"],
        ),
        False,
    ),
    "iii-vision-clean": (
        dict(
            task_type="vision",
            source_kind="position",
            source_value="on the left side",
            target_kind="pants",
            question="What colour are the pants of the person on the left side of the frame?",
            answer="blue",
            distractors=["black", *FREE[:2]],
        ),
        True,
    ),
    # (iii) a single-modality audio question whose answer line is in the question
    "iii-audio-answer-in-question": (
        dict(
            task_type="audio",
            source_kind="voice",
            source_value="high-pitched",
            target_kind="utterance",
            question='Does the speaker with the high-pitched voice say "The kettle is boiling."?',
            answer="The kettle is boiling.",
            distractors=["My train leaves soon.", "Close the door please.", "We are late again."],
        ),
        False,
    ),
    "iii-audio-clean": (
        dict(
            task_type="audio",
            source_kind="voice",
            source_value="high-pitched",
            target_kind="utterance",
            question="What does the speaker with the high-pitched voice say?",
            answer="The kettle is boiling.",
            distractors=["My train leaves soon.", "Close the door please.", "We are late again."],
        ),
        True,
    ),
}


@pytest.mark.parametrize("generator", ["template", "llm"])
@pytest.mark.parametrize("case", list(CASES))
def test_leak_rules(case: str, generator: str) -> None:
    fields, passes = CASES[case]
    ok, reason, evidence = check_candidate(CLIP, candidate(generator, **fields))
    if passes:
        assert (ok, reason) == (True, ""), evidence
    else:
        assert (ok, reason) == (False, "text-shortcut")
        assert evidence  # says what can be read where


def test_verify_records_text_shortcut_with_evidence() -> None:
    config = BuildConfig(tvqa_root=".", out=".")
    leaking = candidate("llm", **CASES["ii-cue-in-biography"][0]).model_dump()
    clean = candidate("llm", **{**CASES["ii-clean"][0], "id": "c-y-0"}).model_dump()
    outputs, rejects = VerifyStage(config).process({"clip": CLIP.model_dump(), "candidates": [leaking, clean]})
    assert [r["reason"] for r in rejects] == ["text-shortcut"] and rejects[0]["id"] == "c-x-0"
    assert "'red'" in rejects[0]["detail"] and "Ann:" in rejects[0]["detail"]  # the cue and the entry it is in
    assert [o["question"] for o in outputs] == [clean["question"]]


def test_biography_states_the_shirt_only_and_decoys_fill_it_to_four_entries() -> None:
    text = CLIP.biography()
    assert "red shirt" in text and "blue" not in text and "left" not in text
    assert len(text.splitlines()) == 4 and {d.name for d in CLIP.decoys}.isdisjoint({"Ann", "Bob"})
    taken = {"red", "blue", "green", "black"}
    assert all(not any(colour in d.biography for colour in taken) for d in CLIP.decoys)


@pytest.mark.parametrize("text", ["", "   ", "?", "null", "None", "n/a", " N/A. "])
def test_placeholder_text_is_a_parse_failure(text: str) -> None:
    payloads = [
        (CaptionReply, {"description": text}),
        (SummaryReply, {"summary": text}),
        (
            BiographyReply,
            {"name": "Ann", "birthplace": "Oslo", "birthdate": "May 1, 1980", "occupation": text, "biography": "x"},
        ),
        (PersonReply, {"failed": False, "description": text}),
        (RationaleReply, {"steps": ["a", "b", text, "d"], "answer": "A"}),
        (
            QAReply,
            {
                "referent": "Ann",
                "source_kind": "voice",
                "source_value": "high",
                "target_kind": "utterance",
                "question": text,
                "answer": "Hi.",
                "distractors": ["a", "b", "c"],
            },
        ),
    ]
    for schema, payload in payloads:
        parsed, error = parse_reply(json.dumps(payload), schema)
        assert parsed is None and "placeholder" in error, schema.__name__
    assert parse_reply(json.dumps({"failed": True}), QAReply)[0] is not None  # a declared failure is no text


def test_llm_qa_placeholder_question_is_recorded_with_its_raw_reply() -> None:
    config = BuildConfig(tvqa_root=".", out=".")
    stage = LLMQAStage(config, pool=None)
    raw = json.dumps(
        {
            "referent": "Ann",
            "source_kind": "voice",
            "source_value": "high-pitched",
            "target_kind": "utterance",
            "question": "   ",
            "answer": "The kettle is boiling.",
            "distractors": ["x.", "y.", "z."],
        }
    )
    responses = [ModelResponse(f"k{i}", "m", text=raw) for i in range(9)]
    outputs, rejects = stage.finish(CLIP.model_dump(), responses)
    assert outputs == [] and len(rejects) == 9
    assert {r["reason"] for r in rejects} == {"unparseable-reply"} and rejects[0]["raw"] == raw
    # and should such a question reach verify, it is refused there, never in the release step
    blank = candidate("llm", **{**CASES["iii-audio-clean"][0], "question": "   "})
    assert check_candidate(CLIP, blank)[:2] == (False, "bad-question")


def _instance() -> Instance:
    return Instance(
        id="c-text", clip_id="c", start=0.0, end=8.0, task_type="text", referent="Ann",
        biography=CLIP.biography(), question="What does the person born in Oslo, Norway do for a living?",
        options=["pilot", "chef", CLIP.decoys[0].occupation, CLIP.decoys[1].occupation], answer="B",
        source_kind="birthplace", source_value="Oslo, Norway", target_kind="occupation", answer_text="chef",
    )  # fmt: skip


def test_option_orders_move_the_answer_to_every_letter() -> None:
    orders = option_orders(_instance(), 4, seed=0)
    assert orders[0] == _instance().options
    assert sorted(order.index("chef") for order in orders) == [0, 1, 2, 3]


@pytest.mark.parametrize(("always_right", "dropped"), [(True, True), (False, False)])
def test_blind_filter_drops_what_reading_solves(always_right: bool, dropped: bool) -> None:
    stage = BlindStage(BuildConfig(tvqa_root=".", out=".", blind_filter=3))
    instance = _instance()
    requests = stage.requests(instance.model_dump())
    assert len(requests) == 3 and all("Ann:" in r.messages[0]["content"] for r in requests)
    letters = []
    for order in stage._orders(instance):
        letters.append("ABCD"[order.index("chef")] if always_right else "A")
    responses = [
        ModelResponse(r.key(), r.model, text=json.dumps({"answer": x})) for r, x in zip(requests, letters, strict=True)
    ]
    outputs, rejects = stage.finish(instance.model_dump(), responses)
    assert (outputs == []) == dropped
    assert [r["reason"] for r in rejects] == (["blind-answerable"] if dropped else [])
    if not dropped:
        assert outputs[0]["blind_answer"] == "A"
