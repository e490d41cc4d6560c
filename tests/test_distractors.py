"""Wrong options no learner can tell from right ones, in the stages that make options: decoys are
people of the same show from other clips of the same split (``Cast``), wrong options are real
people's values mixed so a value's count says nothing (``pick_distractors``), position answers are
balanced, answer letters are stratified per (split, task) in a seeded order (``answer_slots``), the
LLM path gets the same wrong options, and the audit's learned probe fails a build a learner reads."""

from __future__ import annotations

import json
from collections import Counter

import pytest

import crossomni
from builder.audit import probe_group, shortcut_audit
from builder.config import BuildConfig
from builder.records import (
    VOICE_ATTRIBUTES,
    AlignedClip,
    Appearance,
    Bio,
    Person,
    QACandidate,
    Segment,
    Voice,
    VoicedClip,
)
from builder.sample.generate import sample_spec
from builder.sample.scripted import bio_text
from builder.stages.align import AlignStage, Cast, decoy_count
from builder.stages.qa import DistractorPool, LLMQAStage, option_values, pick_distractors, template_candidates
from builder.stages.split import assign_episodes
from builder.stages.verify import VerifyStage, answer_slots, slot_key
from model_calls.base import ModelResponse


def voiced(clip: dict) -> dict:
    """A voice-stage record of a generated spec clip (what the annotation stages would write)."""
    people = clip["people"]
    return VoicedClip(
        clip_id=clip["vid_name"],
        show=clip["show_name"],
        episode=clip["vid_name"].split("_seg")[0],
        video=f"{clip['vid_name']}.mp4",
        audio=f"{clip['vid_name']}.mp4",
        duration=clip["duration"],
        segments=[
            Segment(index=i, start=line["start"], end=line["end"], speaker=line["speaker"], text=line["text"])
            for i, line in enumerate(clip["lines"])
        ],
        captions=[],
        views=[],
        people=[
            Person(
                name=p["name"],
                description=f"{p['name']} stands {p['side']}.",
                appearance=Appearance(shirt=p["shirt"], pants=p["pants"], position=p["side"]),
                support=1,
            )
            for p in people
        ],
        bios=[Bio(name=p["name"], **p["bio"], text=bio_text(p)) for p in people],
        voices=[Voice(name=p["name"], attributes={a: a == p["voice"] for a in VOICE_ATTRIBUTES}) for p in people],
    ).model_dump()


@pytest.fixture(scope="module")
def aligned() -> list[AlignedClip]:
    """60 generated clips aligned with decoys lent across the build (seed 5)."""
    records = [voiced(clip) for clip in sample_spec(60, seed=5)["clips"]]
    stage = AlignStage(Cast.from_records(records, seed=5, test_fraction=0.5))
    return [AlignedClip.model_validate(stage.process(r)[0][0]) for r in records]


def test_decoys_are_people_of_the_show_from_other_clips_of_the_split_lent_once(aligned) -> None:
    clips = {c.clip_id: c for c in aligned}
    split = assign_episodes([c.episode for c in aligned], 0.5, 5)
    lent: Counter[tuple[str, str]] = Counter()
    same_show = 0
    for clip in aligned:
        assert len(clip.decoys) == decoy_count(len(clip.people))
        for decoy in clip.decoys:
            source = clips[decoy.source_clip]
            assert source.clip_id != clip.clip_id and split[source.episode] == split[clip.episode]
            person = next(p for p in source.people if p.name == decoy.name)
            assert decoy.biography == person.biography  # their entry as written for them there
            assert (decoy.birthplace, decoy.occupation, decoy.utterance) == (
                person.birthplace,
                person.occupation,
                person.utterances[0],
            )
            same_show += source.show == clip.show
            lent[(source.clip_id, decoy.name)] += 1
        entries = [*clip.people, *clip.decoys]
        for kind in ("name", "birthplace", "birthdate", "occupation"):
            assert len({getattr(e, kind) for e in entries}) == len(entries), (clip.clip_id, kind)
        shirts = [p.appearance.shirt for p in clip.people] + [d.shirt for d in clip.decoys]
        pants = {p.appearance.pants for p in clip.people}
        assert len(set(shirts)) == len(shirts) and pants.isdisjoint(shirts)
    people = [(c.clip_id, p.name) for c in aligned for p in c.people]
    assert sum(lent[p] == 1 for p in people) >= 0.9 * len(people)  # each person lent about once
    assert same_show >= 0.6 * sum(lent.values())  # ~5 clips per show and split here: some run out


def test_wrong_options_are_one_other_person_and_two_decoys(aligned) -> None:
    pool = DistractorPool.from_records(c.model_dump() for c in aligned)
    clip = next(c for c in aligned if len(c.people) == 3)
    referent = clip.people[0]
    for kind in ("occupation", "utterance"):
        answer = option_values(referent, kind)[0]
        wrong = pick_distractors(clip, referent, kind, answer, pool, "salt")
        own = {v for p in clip.people[1:] for v in option_values(p, kind)}
        lent = {v for d in clip.decoys for v in option_values(d, kind)}
        assert len(wrong) == 3 and sum(w in own for w in wrong) == 1 and sum(w in lent for w in wrong) == 2, kind


def test_position_answers_are_balanced_and_every_option_is_a_real_value(aligned) -> None:
    pool = DistractorPool.from_records(c.model_dump() for c in aligned)
    task = crossomni.TASKS["text_to_vision"]
    answers = Counter()
    for clip in aligned:
        for seed in range(8):
            first = template_candidates(clip, task, pool, seed)[0]
            assert first.target_kind == "position"
            answers[first.answer] += 1
    people = Counter(p.appearance.position for c in aligned for p in c.people)
    cast_skew = max(people.values()) / min(people.values()) - 1  # 1.0 here: twice as many on the left
    answer_skew = max(answers.values()) / min(answers.values()) - 1  # centre is in only 15 clips: 0.27
    assert answer_skew < 0.5 * cast_skew, (answers, people)
    for clip in aligned:
        for candidate in template_candidates(clip, crossomni.TASKS["vision"], pool, 0):
            assert all(pool.frequency(candidate.target_kind, d) for d in candidate.distractors)


def test_answer_letters_are_stratified_and_do_not_follow_order() -> None:
    keys = [
        (split, task, f"{split}{k:03d}", 0) for split in ("train", "test") for task in ("a", "b") for k in range(101)
    ]
    slots = answer_slots(keys, seed=3)
    for split in ("train", "test"):
        for task in ("a", "b"):
            letters = [slots[f"{split}{k:03d}"][slot_key(task, 0)] for k in range(101)]
            assert sorted(Counter(letters).values()) == [25, 25, 25, 26]
            repeats = sum(letters[k] == letters[k + 4] for k in range(len(letters) - 4))
            assert repeats < 50  # a rotation would repeat every fourth letter (97 times)
    assert answer_slots(keys, seed=3) == slots and answer_slots(keys, seed=4) != slots


def test_the_llm_path_gets_the_same_wrong_options_not_the_models_own(aligned) -> None:
    """A model's reply names the question and answer; the stage draws the wrong options (the model's
    own, made-up ones never reach the release), and verify refuses an option nobody has."""
    pool = DistractorPool.from_records(c.model_dump() for c in aligned)
    clip = next(c for c in aligned if len(c.people) == 2)
    referent = clip.people[0]
    line = referent.utterances[0]
    reply = {
        "referent": referent.name,
        "source_kind": "pants",
        "source_value": referent.appearance.pants,
        "target_kind": "utterance",
        "question": f"What does the person in the {referent.appearance.pants} pants say?",
        "answer": line,
        "distractors": ["A line nobody says.", "Another invented line.", "Made up too."],
    }
    config = BuildConfig(tvqa_root=".", out=".", qa_generator="llm", seed=2)
    stage = LLMQAStage(config, pool)
    requests = stage.requests(clip.model_dump())
    assert all(r.metadata["decoys"] == [d.model_dump() for d in clip.decoys] for r in requests)
    responses = [ModelResponse(r.key(), r.model, text=json.dumps(reply)) for r in requests]
    outputs, _ = stage.finish(clip.model_dump(), responses)
    drawn = QACandidate.model_validate(next(o for o in outputs if o["task_type"] == "vision_to_audio"))
    entries = {v for e in [*clip.people[1:], *clip.decoys] for v in option_values(e, "utterance")}
    assert drawn.answer == line and set(drawn.distractors) <= entries and len(drawn.distractors) == 3
    made_up = drawn.model_copy(update={"distractors": reply["distractors"]})
    outputs, rejects = VerifyStage(config, pool).process(
        {"clip": clip.model_dump(), "candidates": [made_up.model_dump()]}
    )
    assert outputs == [] and [r["reason"] for r in rejects] == ["unattested-option"]
    outputs, rejects = VerifyStage(config, pool).process(
        {"clip": clip.model_dump(), "candidates": [drawn.model_dump()]}
    )
    assert len(outputs) == 1 and rejects == []


def _rows(split: str, n_clips: int, tell: bool) -> list[dict]:
    """Rows of two cross tasks; with ``tell``, the answer is the option with the word 'indeed'."""
    rows = []
    for k in range(n_clips):
        for t, task in enumerate(("audio_to_text", "vision_to_audio")):
            slot = (k + t) % 4
            options = [f"{split} option {k} {t} {i}" + (" indeed" if tell and i == slot else "") for i in range(4)]
            rows.append(
                {
                    "id": f"{split}{k}-{task}",
                    "clip_id": f"{split}{k}",
                    "task_type": task,
                    "biography": f"Entry{k}: someone.",
                    "question": "Which?",
                    "options": options,
                    "answer": crossomni.LETTERS[slot],
                }
            )
    return rows


@pytest.mark.parametrize("tell", [True, False])
def test_the_learned_probe_fails_a_build_a_learner_reads(tell: bool) -> None:
    from builder.probe import learned_probe

    train, test = _rows("train", 60, tell), _rows("test", 40, tell)
    learned = learned_probe(train, test, probe_group, seed=0)
    audit = shortcut_audit(test, {}, max_accuracy=0.4, blind_model="m", learned=learned)
    linear = learned["probes"]["linear"]["per_task"]["audio_to_text"]
    assert linear["n"] == 40 and linear["interval"][0] <= linear["accuracy"] <= linear["interval"][1]
    if tell:
        assert linear["accuracy"] > 0.9 and not audit["passed"]
        assert any("audio_to_text (learned linear probe" in v for v in audit["violations"])
    else:
        assert not any("learned" in v for v in audit["violations"])


def test_the_card_says_what_a_model_trained_on_the_text_scores(sample_release, sample_tvqa_root, tmp_path) -> None:
    from builder.export import export_release

    learned = json.loads((sample_release / "release.json").read_text())["shortcut_audit"]["learned_probe"]
    export_release(sample_release, tmp_path / "export", tvqa_root=sample_tvqa_root)
    card = (tmp_path / "export" / "README.md").read_text()
    assert "### What a model trained on the train split's text scores" in card
    for task, entry in learned["probes"]["linear"]["per_task"].items():
        cells = [learned["probes"][kind]["per_task"][task] for kind in ("linear", "tree")]
        shown = " | ".join(
            f"{100 * e['accuracy']:.1f} ({100 * e['interval'][0]:.1f}–{100 * e['interval'][1]:.1f})" for e in cells
        )
        assert f"| `{task}` | {entry['n']} | {shown} |" in card, task


def _clip_echo_rows(split: str, n_clips: int, seed: int) -> list[dict]:
    """Three questions per clip whose answer is the one option offered in all three; every option string
    comes from one shared vocabulary, so counts over the whole split do not single the answer out."""
    import random

    rng = random.Random(seed)
    vocabulary = [f"value {w}" for w in range(30)]
    rows = []
    for k in range(n_clips):
        answer = rng.choice(vocabulary)
        for q in range(3):
            wrong = rng.sample([v for v in vocabulary if v != answer], 3)
            slot = rng.randrange(4)
            options = [*wrong[:slot], answer, *wrong[slot:]]
            rows.append(
                {
                    "id": f"{split}{k}-{q}",
                    "clip_id": f"{split}{k}",
                    "task_type": "audio_to_text",
                    "biography": "Entry: someone.",
                    "question": "Which?",
                    "options": options,
                    "answer": crossomni.LETTERS[slot],
                }
            )
    return rows


def test_the_learned_probe_counts_options_across_the_clips_other_questions() -> None:
    """A release whose answer is the value a clip's questions share: only counting within the clip finds it."""
    from builder.probe import learned_probe

    learned = learned_probe(_clip_echo_rows("train", 80, 1), _clip_echo_rows("test", 40, 2), probe_group, seed=0)
    best = max(learned["probes"][kind]["per_task"]["audio_to_text"]["accuracy"] for kind in ("linear", "tree"))
    assert best > 0.9
