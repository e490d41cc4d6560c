"""`crossomni build` on the embedded sample: the release it writes, and the pipeline's properties
(resume after a crash, cache, batching, sharding, split) — all offline with the replay backend."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import crossomni
from builder.config import BuildConfig, Shard
from builder.pipeline import STAGE_NAMES, run_build
from builder.records import AlignedClip, QACandidate
from builder.sample import SAMPLE_REPLAY
from builder.stages.verify import check_candidate
from model_calls import CachedBackend, ResponseCache, get_backend
from model_calls.outputs import claim_output_dir
from model_calls.store import iter_records

RELEASE_FILES = ("release.json", "clips.jsonl", "train.jsonl", "test.jsonl")


def config_for(root: Path, out: Path, **overrides) -> BuildConfig:
    return BuildConfig(tvqa_root=root, out=out, backend="replay", progress=False, name="crossomni-sample", **overrides)


def release_bytes(out: Path) -> dict[str, bytes]:
    return {name: (out / "release" / name).read_bytes() for name in RELEASE_FILES}


def rejects(out: Path, stage: str) -> list[dict]:
    return list(iter_records(out / "stages" / f"{stage}.rejects.jsonl"))


@pytest.fixture(scope="module")
def built(sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("build")
    report = run_build(config_for(sample_tvqa_root, out))
    return out, report


def test_sample_release_loads_with_all_task_types(built, sample_tvqa_root, tmp_path) -> None:
    out, report = built
    release = out / "release"
    clips = crossomni.read_clips(release)
    records = {split: list(crossomni.read_instances(release, split, clips)) for split in crossomni.SPLITS}
    assert {r["task_type"] for split in records.values() for r in split} == set(crossomni.TASK_NAMES)
    assert all(len(records[split]) > 0 for split in crossomni.SPLITS)
    assert report["release"]["train"] == len(records["train"]) and report["release"]["test"] == len(records["test"])
    for record in records["train"]:
        steps = record["rationale"].splitlines()
        assert [s.split(":")[0] for s in steps[:4]] == ["Step 1", "Step 2", "Step 3", "Step 4"]
        assert steps[-1] == f"So the answer is {record['answer']}."
    builder = crossomni.CrossOmni(
        config_name="cross", release_dir=str(release), data_dir=str(sample_tvqa_root), cache_dir=str(tmp_path / "hf")
    )
    builder.download_and_prepare()
    dataset = builder.as_dataset()
    assert len(dataset["test"]) == sum(1 for r in records["test"] if r["task_type"] in crossomni.CROSS_TASKS)
    assert set(dataset["test"].features) == set(crossomni.FEATURES)


def model_failures(out: Path) -> list[dict]:
    return [
        r for stage in STAGE_NAMES for r in rejects(out, stage) if r["reason"] in ("model-error", "unparseable-reply")
    ]


def test_the_recorded_replies_cover_every_request(built) -> None:
    out, report = built
    assert report["model_calls"]["requests"] > 0 and model_failures(out) == []


def test_every_instance_passes_verification_against_the_annotations(built) -> None:
    out, _ = built
    aligned = {r["clip_id"]: AlignedClip.model_validate(r) for r in iter_records(out / "stages" / "align.jsonl")}
    instances = list(iter_records(out / "stages" / "rationale.jsonl"))
    assert instances
    for instance in instances:
        answer = instance["options"][crossomni.LETTERS.index(instance["answer"])]
        candidate = QACandidate(
            id=instance["id"],
            clip_id=instance["clip_id"],
            task_type=instance["task_type"],
            rank=0,
            referent=instance["referent"],
            source_kind=instance["source_kind"],
            source_value=instance["source_value"],
            target_kind=instance["target_kind"],
            question=instance["question"],
            answer=answer,
            distractors=[o for o in instance["options"] if o != answer],
            generator="template",
        )
        assert check_candidate(aligned[instance["clip_id"]], candidate) == (True, "", ""), instance["id"]


def test_the_annotations_match_the_sample_ground_truth(built) -> None:
    from builder.sample.generate import load_spec

    out, _ = built
    spec = {c["vid_name"]: c for c in load_spec()["clips"]}
    for record in iter_records(out / "stages" / "align.jsonl"):
        clip = AlignedClip.model_validate(record)
        for person in clip.people:
            truth = next(p for p in spec[clip.clip_id]["people"] if p["name"] == person.name)
            assert (person.appearance.shirt, person.appearance.pants, person.appearance.position) == (
                truth["shirt"],
                truth["pants"],
                truth["side"],
            )
            assert person.voice[truth["voice"]] and person.birthplace == truth["bio"]["birthplace"]


def test_bad_clips_are_dropped_with_reasons(built) -> None:
    out, report = built
    reasons = {r["id"]: r["reason"] for r in rejects(out, "preprocess")}
    assert reasons == {"met_s06e22_seg01_clip_02": "no-speaker-names", "house_s02e05_seg02_clip_07": "no-subtitles"}
    kept = {r["clip_id"]: r for r in iter_records(out / "stages" / "preprocess.jsonl")}
    castle = kept["castle_s01e01_seg02_clip_00"]
    assert castle["subtitle_encoding"] == "latin-1" and "café" in castle["segments"][-1]["text"]
    preprocess = next(s for s in report["stages"] if s["name"] == "preprocess")
    assert preprocess["reasons"] == {"no-speaker-names": 1, "no-subtitles": 1}
    report_md = (out / "report.md").read_text()
    assert "- **preprocess**: no-speaker-names × 1, no-subtitles × 1" in report_md
    assert "- preprocess: no-speaker-names × 1 (e.g. met_s06e22_seg01_clip_02)" in report_md
    assert [(d["stage"], d["reason"], d["examples"]) for d in report["drops"] if d["stage"] == "preprocess"] == [
        ("preprocess", "no-speaker-names", ["met_s06e22_seg01_clip_02"]),
        ("preprocess", "no-subtitles", ["house_s02e05_seg02_clip_07"]),
    ]


def test_same_clips_and_tasks_as_the_hand_checked_release(built, sample_release) -> None:
    out, _ = built

    def tasks_per_clip(release: Path) -> dict[str, list[str]]:
        clips = crossomni.read_clips(release)
        found: dict[str, list[str]] = {clip_id: [] for clip_id in clips}
        for split in crossomni.SPLITS:
            for record in crossomni.read_instances(release, split, clips):
                found[record["clip_id"]].append(record["task_type"])
        return {clip_id: sorted(tasks) for clip_id, tasks in found.items()}

    assert tasks_per_clip(out / "release") == tasks_per_clip(sample_release)


def test_split_is_by_episode(built) -> None:
    out, _ = built
    clips = crossomni.read_clips(out / "release")
    split_episodes = {
        split: {clips[r["clip_id"]].episode for r in crossomni.read_instances(out / "release", split, clips)}
        for split in crossomni.SPLITS
    }
    assert split_episodes["train"] and split_episodes["test"]
    assert not split_episodes["train"] & split_episodes["test"]


def assert_every_candidate_accounted_for(report: dict) -> dict:
    """Each stage from verify on: its input is kept, dropped by a reason, or not selected; returns verify's row."""
    flow = {row["stage"]: row for row in report["candidates"]}
    by_stage = {s["name"]: s for s in report["stages"]}
    assert flow["verify"]["in"] == by_stage["qa"]["outputs"] > 0
    previous = flow["verify"]["in"]
    for name in ("verify", "blind", "split", "rationale"):
        row = flow[name]
        assert row["in"] == previous and row["unaccounted"] == 0, row
        assert row["kept"] + sum(row["dropped"].values()) + row["not_selected"] == row["in"], row
        previous = row["kept"]
    assert previous == report["release"]["train"] + report["release"]["test"]
    return flow["verify"]


def test_the_report_accounts_for_every_candidate(built) -> None:
    out, report = built
    verify = assert_every_candidate_accounted_for(report)
    # the template generator writes several candidates per (clip, task); one each is kept, the rest are not selected
    assert verify["not_selected"] > 0 and verify["not_selected"] == verify["in"] - verify["kept"] - sum(
        verify["dropped"].values()
    )
    unselected = [r for r in rejects(out, "verify") if r["reason"] == "not-selected"]
    assert sum(r["count"] for r in unselected) == verify["not_selected"] and not any(r["dropped"] for r in unselected)
    text = (out / "report.md").read_text()
    assert "## Where the candidates went" in text
    assert f"| verify | {verify['in']} | {verify['kept']} |" in text


def test_llm_generator_replays_offline(sample_tvqa_root, tmp_path) -> None:
    report = run_build(config_for(sample_tvqa_root, tmp_path, qa_generator="llm"))
    assert_every_candidate_accounted_for(report)
    by_stage = {s["name"]: s for s in report["stages"]}
    assert by_stage["qa"]["requests"] == 9 * 4 and by_stage["verify"]["requests"] == 2 * by_stage["qa"]["outputs"]
    assert by_stage["rationale"]["requests"] == report["release"]["train"] > 0
    assert model_failures(tmp_path) == []
    clips = crossomni.read_clips(tmp_path / "release")
    tasks = {r["task_type"] for s in crossomni.SPLITS for r in crossomni.read_instances(tmp_path / "release", s, clips)}
    assert tasks == set(crossomni.TASK_NAMES)


def test_second_build_makes_no_model_calls(built, sample_tvqa_root, tmp_path) -> None:
    out, first = built
    assert first["model_calls"]["backend_calls"] > 0
    again = run_build(config_for(sample_tvqa_root, tmp_path, cache_path=out / "cache.sqlite"))
    assert again["model_calls"]["backend_calls"] == 0
    assert again["model_calls"]["cache_hits"] == first["model_calls"]["requests"]
    assert release_bytes(tmp_path) == release_bytes(out)
    rerun = run_build(config_for(sample_tvqa_root, out))  # same folder: every stage is already done
    assert rerun["model_calls"]["backend_calls"] == 0 and all(s["skipped"] for s in rerun["stages"])


def test_backend_calls_per_stage_are_batched(sample_tvqa_root, tmp_path) -> None:
    report = run_build(config_for(sample_tvqa_root, tmp_path, batch_size=5, qa_generator="llm"))
    model_stages = [s for s in report["stages"] if s["requests"]]
    assert {s["name"] for s in model_stages} == {
        "caption",
        "describe",
        "voice",
        "biography",
        "qa",
        "verify",
        "blind",
        "rationale",
    }
    for stage in model_stages:
        assert stage["backend_calls"] == math.ceil(stage["requests"] / 5), stage["name"]


class Crash(RuntimeError):
    pass


class CrashAfter:
    """A backend that dies on its n-th call, like a killed process (nothing after it runs)."""

    def __init__(self, inner, n: int) -> None:
        self.inner, self.n, self.name = inner, n, "crashing"
        self.count = 0

    @property
    def calls(self) -> int:
        return self.inner.calls

    def generate(self, requests):
        self.count += 1
        if self.count == self.n:
            raise Crash(f"killed at call {self.n}")
        return self.inner.generate(requests)


@pytest.mark.parametrize("crash_at", [1, 3, 6, 9])
def test_resume_after_crash_gives_the_same_release(built, sample_tvqa_root, tmp_path, crash_at) -> None:
    reference, _ = built
    config = config_for(sample_tvqa_root, tmp_path, batch_size=3)
    claim_output_dir(tmp_path, "build")  # a build folder: the cache below sits where run_build puts it
    backend = CachedBackend(get_backend("replay", path=SAMPLE_REPLAY), ResponseCache(tmp_path / "cache.sqlite"))
    with pytest.raises(Crash):
        run_build(config, backend=CrashAfter(backend, crash_at))
    assert not (tmp_path / "release" / "release.json").exists()
    run_build(config)
    assert release_bytes(tmp_path) == release_bytes(reference)
    for stage in STAGE_NAMES:  # nothing duplicated in any stage output
        ids = [r.get("id") or r["clip_id"] for r in iter_records(tmp_path / "stages" / f"{stage}.jsonl")]
        assert len(ids) == len(set(ids)), stage


def test_shards_partition_episodes(sample_tvqa_root, tmp_path, built) -> None:
    full_out, _ = built
    full = set(crossomni.read_clips(full_out / "release"))
    parts = []
    for index in range(2):
        out = tmp_path / f"shard{index}"
        run_build(config_for(sample_tvqa_root, out, shard=Shard(index, 2), cache_path=full_out / "cache.sqlite"))
        parts.append(crossomni.read_clips(out / "release"))
    assert set(parts[0]) | set(parts[1]) == full
    assert not {c.episode for c in parts[0].values()} & {c.episode for c in parts[1].values()}
    from builder.merge import merge_releases

    merged = merge_releases([tmp_path / f"shard{i}" / "release" for i in range(2)], tmp_path / "merged")
    assert set(crossomni.read_clips(tmp_path / "merged")) == full
    assert sum(sum(c.values()) for c in merged["counts"].values()) == sum(
        1
        for s in crossomni.SPLITS
        for _ in crossomni.read_instances(tmp_path / "merged", s, crossomni.read_clips(tmp_path / "merged"))
    )
    with pytest.raises(crossomni.ReleaseError, match="in another shard too"):
        merge_releases([tmp_path / "shard0" / "release"] * 2, tmp_path / "twice")


def test_task_proportions_and_limit(sample_tvqa_root, tmp_path) -> None:
    weights = {"audio": 1.0, "vision_to_text": 1.0}
    report = run_build(config_for(sample_tvqa_root, tmp_path, task_proportions=weights, limit=3))
    assert set(assert_every_candidate_accounted_for(report)) and report["candidates"][2]["dropped"]["task-proportion"]
    manifest = json.loads((tmp_path / "release" / "release.json").read_text())
    for split, counts in manifest["counts"].items():
        assert set(counts) <= set(weights), split
    clips = crossomni.read_clips(tmp_path / "release")
    assert len(clips) <= 3
    reasons = {r["reason"] for r in rejects(tmp_path, "split")}
    assert reasons == {"task-proportion"}


def test_several_instances_per_task_and_clip(sample_tvqa_root, tmp_path, built) -> None:
    out, _ = built
    run_build(config_for(sample_tvqa_root, tmp_path, per_task_per_clip=2, cache_path=out / "cache.sqlite"))
    clips = crossomni.read_clips(tmp_path / "release")
    records = [r for s in crossomni.SPLITS for r in crossomni.read_instances(tmp_path / "release", s, clips)]
    per_pair: dict[tuple[str, str], int] = {}
    for record in records:
        per_pair[(record["clip_id"], record["task_type"])] = (
            per_pair.get((record["clip_id"], record["task_type"]), 0) + 1
        )
    assert max(per_pair.values()) == 2 and len(records) > 36
    assert len({(r["clip_id"], r["question"]) for r in records}) == len(records)  # no question asked twice of a clip


def test_the_report_and_release_name_what_answered_each_role(built) -> None:
    """The sample is answered by replayed replies, not by the models builder/models.yaml names: nothing says
    Qwen/Qwen3-8B answered."""
    out, report = built
    manifest = json.loads((out / "release" / "release.json").read_text())
    for answered in (report["answered_by"], manifest["answered_by"]):
        assert set(answered) == {"caption", "text", "voice"}
        assert all(who.startswith("replayed recorded replies, no model: requests named ") for who in answered.values())
    assert manifest["shortcut_audit"]["blind_model"] == report["answered_by"]["text"]
    assert (
        "blind text-only\nmodel (replayed recorded replies, no model: requests named Qwen/Qwen3-8B;"
        in (out / "report.md").read_text()
    )
