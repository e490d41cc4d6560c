"""The double checks (paper Table 14) and the source/target verification of candidates."""

from __future__ import annotations

import pytest

from builder.records import (
    VOICE_ATTRIBUTES,
    AlignedClip,
    AlignedPerson,
    Appearance,
    Decoy,
    PersonView,
    QACandidate,
    Voice,
)
from builder.stages.describe import person_double_check
from builder.stages.split import assign_episodes, keep_rates
from builder.stages.verify import check_candidate
from builder.stages.voice import voice_double_check


def view(segment: int, name: str, shirt: str | None, pants: str | None = "blue", failed: bool = False) -> PersonView:
    return PersonView(
        segment=segment,
        name=name,
        description=f"{name} in {shirt}",
        failed=failed,
        appearance=Appearance(shirt=shirt, pants=pants, position="left"),
    )


def test_person_double_check_rules() -> None:
    views = [
        view(0, "Ann", "red"),
        view(1, "Ann", "red"),
        view(2, "Ann", "green"),  # majority: red
        view(3, "Bob", "grey", failed=True),  # only failed descriptions
        view(4, "Cy", "black"),
        view(5, "Cy", "white"),  # no majority
        view(6, "Di", "yellow"),
        view(7, "Ed", "yellow"),  # two names, one description
        view(8, "Flo", None),  # no clothing
    ]
    people, dropped = person_double_check(views)
    assert [(p.name, p.appearance.shirt, p.support) for p in people] == [("Ann", "red", 2)]
    assert set(dropped) == {"Bob", "Cy", "Di", "Ed", "Flo"}
    assert dropped["Di"] == "same description as Ed" and "no majority" in dropped["Cy"]


def voice(name: str, *true: str) -> Voice:
    return Voice(name=name, attributes={a: a in true for a in VOICE_ATTRIBUTES})


def test_voice_double_check_keeps_distinct_attributes_and_drops_contradictions() -> None:
    voices = [voice("Ann", "high", "calm"), voice("Bob", "low", "calm"), voice("Cy", "high", "low")]
    assert voice_double_check(voices) is None
    assert [v.distinct for v in voices] == [["high"], ["low"], []]
    assert voices[2].attributes is None and "contradictory" in voices[2].error
    same = [voice("Ann", "calm"), voice("Bob", "calm")]
    assert voice_double_check(same) == "no voice stands out from the others"


def person(name: str, shirt: str, pants: str, side: str, place: str, lines: list[str], pitch: str) -> AlignedPerson:
    return AlignedPerson(
        name=name,
        utterances=lines,
        voice={a: a == pitch for a in VOICE_ATTRIBUTES},
        distinct_voice=[pitch],
        appearance=Appearance(shirt=shirt, pants=pants, position=side),
        description="",
        birthplace=place,
        birthdate="May 1, 1980",
        occupation="chef",
        biography=f"Born in {place}. Seen in a {shirt} shirt.",
    )


CLIP = AlignedClip(
    clip_id="c",
    show="S",
    episode="e",
    video="v.mp4",
    audio="v.mp4",
    duration=8.0,
    summary="",
    people=[
        person("Ann", "red", "blue", "left", "Oslo", ["Hello there."], "high"),
        person("Bob", "red", "black", "right", "Rome", ["Bye now."], "low"),
    ],
    decoys=[
        Decoy(name=n, birthplace=p, birthdate="May 2, 1970", occupation=j, biography=f"Born in {p}, works as a {j}.")
        for n, p, j in (("Cleo", "Lima", "pilot"), ("Dirk", "Kyiv", "nurse"))
    ],
)


def candidate(**changes) -> QACandidate:
    base = dict(
        id="c-vision_to_text-0",
        clip_id="c",
        task_type="vision_to_text",
        rank=0,
        referent="Ann",
        source_kind="pants",
        source_value="blue",
        target_kind="birthplace",
        question="Where was the person in the blue pants born?",
        answer="Oslo",
        distractors=["Rome", "Lima", "Kyiv"],
        generator="llm",
    )
    return QACandidate(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, ""),
        ({"source_kind": "shirt", "source_value": "red"}, "source-not-unique"),  # both wear red
        ({"source_value": "black"}, "source-not-unique"),  # fits Bob, not the referent
        ({"answer": "Rome", "distractors": ["Oslo", "Lima", "Kyiv"]}, "answer-not-supported"),
        ({"distractors": ["Rome", "Rome", "Kyiv"]}, "bad-distractors"),
        # options the release would refuse as reading the same: caught here, a recorded reject
        ({"distractors": ["Rome", "Ｒｏｍｅ", "Kyiv"]}, "bad-distractors"),
        ({"distractors": ["Rome", "Ro\u200bme", "Kyiv"]}, "bad-distractors"),
        ({"distractors": ["Rome", "R\u043eme", "Kyiv"]}, "bad-distractors"),
        ({"distractors": ["Rome", "\u200b", "Kyiv"]}, "bad-distractors"),
        ({"referent": "Zed"}, "unknown-referent"),
        ({"target_kind": "utterance", "answer": "Hello there."}, "wrong-modality"),
        (
            {"task_type": "vision", "target_kind": "shirt", "answer": "red", "distractors": ["green", "Red.", "pink"]},
            "bad-distractors",
        ),
        (
            {
                "task_type": "text_to_vision",
                "source_kind": "birthplace",
                "source_value": "Oslo",
                "target_kind": "shirt",
                "answer": "red",
                "distractors": ["green", "pink", "white"],
            },
            "text-shortcut",
        ),  # the biography says "red shirt"
        (
            {
                "task_type": "audio_to_vision",
                "source_kind": "voice",
                "source_value": "high-pitched",
                "target_kind": "position",
                "answer": "on the left side",
                "distractors": ["on the right side", "in the centre", "in the background"],
            },
            "",
        ),
    ],
)
def test_candidate_checks(changes: dict, reason: str) -> None:
    ok, why, _ = check_candidate(CLIP, candidate(**changes))
    assert (ok, why) == (reason == "", reason)


def test_split_assignment_is_seeded_and_balanced() -> None:
    episodes = [f"show_s01e{i:02d}" for i in range(10)]
    first = assign_episodes(episodes, 0.3, seed=0)
    assert sum(v == "test" for v in first.values()) == 3
    assert assign_episodes(reversed(episodes), 0.3, seed=0) == first
    assert any(assign_episodes(episodes, 0.3, seed=s) != first for s in range(1, 5))
    assert set(assign_episodes(["a", "b"], 0.1, seed=0).values()) == {"train", "test"}
    rates = keep_rates({("test", "audio"): 10, ("test", "vision"): 40}, {"audio": 1, "vision": 1})
    assert rates == {("test", "audio"): 1.0, ("test", "vision"): 0.25}


def test_video_double_check_conflict_drops_the_clip(sample_tvqa_root, tmp_path) -> None:
    from builder.config import BuildConfig
    from builder.pipeline import run_build
    from builder.sample.scripted import ScriptedBackend
    from model_calls import CachedBackend, ResponseCache
    from model_calls.outputs import claim_output_dir
    from model_calls.store import iter_records

    class Conflicting(ScriptedBackend):
        def _reply(self, request):
            if request.metadata.get("prompt") == "video_check" and request.metadata["clip_id"].startswith("castle"):
                return {"verdict": "failure", "reason": "a kitchen vs. a motorway"}
            return super()._reply(request)

    config = BuildConfig(tvqa_root=sample_tvqa_root, out=tmp_path, backend="scripted", progress=False)
    claim_output_dir(tmp_path, "build")  # a build folder: the cache below sits where run_build puts it
    run_build(config, backend=CachedBackend(Conflicting(), ResponseCache(tmp_path / "cache.sqlite")))
    dropped = [r for r in iter_records(tmp_path / "stages" / "describe.rejects.jsonl") if r["dropped"]]
    assert [(r["id"], r["reason"]) for r in dropped] == [("castle_s01e01_seg02_clip_00", "video-check")]
    assert "a kitchen vs. a motorway" in dropped[0]["detail"]
    clips = {r["clip_id"] for r in iter_records(tmp_path / "release" / "clips.jsonl")}
    assert clips and "castle_s01e01_seg02_clip_00" not in clips
