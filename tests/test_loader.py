"""The CrossOmni datasets builder on the sample release: fields, configs, media, bad releases."""

import json
import shutil
from pathlib import Path

import pytest

import crossomni


def test_sample_release_is_valid_and_covers_all_tasks_in_both_splits(sample_release):
    clips = crossomni.read_clips(sample_release)
    episodes = {}
    for split in crossomni.SPLITS:
        records = list(crossomni.read_instances(sample_release, split, clips))
        assert {r["task_type"] for r in records} == set(crossomni.TASK_NAMES)
        episodes[split] = {crossomni.episode_of(r["clip_id"]) for r in records}
        for r in records:
            assert r["options"][crossomni.LETTERS.index(r["answer"])]  # the answer points at an option
    assert not episodes["train"] & episodes["test"], "an episode is shared between train and test"
    assert len({c.show for c in clips.values()}) >= 2


def test_builder_round_trip_decodes_media(sample_dataset, sample_release):
    assert sample_dataset["train"].num_rows == 18 and sample_dataset["test"].num_rows == 18
    row = sample_dataset["train"][0]
    record = json.loads((sample_release / "train.jsonl").read_text().splitlines()[0])
    for key in ("id", "clip_id", "question", "options", "answer", "rationale", "biography", "referent"):
        assert row[key] == record[key]
    task = crossomni.TASKS[record["task_type"]]
    assert sample_dataset["train"].features["task_type"].int2str(row["task_type"]) == task.name
    assert (row["source_modality"], row["target_modality"], row["is_cross"]) == (
        task.source,
        task.target,
        task.is_cross,
    )
    frames = row["video"].get_frames_in_range(0, 3).data
    assert frames.shape[0] == 3 and frames.shape[1] == 3  # 3 RGB frames
    audio = row["audio"].get_all_samples()
    assert audio.sample_rate == 16_000 and audio.data.shape[0] == 1
    assert audio.data.abs().max() > 0.01  # speech, not silence


def test_config_selects_tasks(sample_release, sample_tvqa_root, tmp_path):
    builder = crossomni.CrossOmni(
        config_name="vision_to_text",
        release_dir=str(sample_release),
        data_dir=str(sample_tvqa_root),
        cache_dir=str(tmp_path),
    )
    builder.download_and_prepare()
    test = builder.as_dataset(split="test")
    assert test.num_rows == 2
    assert set(test["task_type"]) == {crossomni.TASK_NAMES.index("vision_to_text")}


def test_missing_clip_names_clip_and_root(sample_release, sample_tvqa_root, tmp_path):
    root = tmp_path / "tvqa"
    shutil.copytree(sample_tvqa_root, root)
    (root / "videos" / "s01e01_seg01_clip_00.mp4").unlink()
    builder = crossomni.CrossOmni(
        config_name="all", release_dir=str(sample_release), data_dir=str(root), cache_dir=str(tmp_path / "c")
    )
    with pytest.raises(Exception) as info:
        builder.download_and_prepare()
    message = "".join(str(e) for e in _chain(info.value))
    assert "s01e01_seg01_clip_00" in message and str(root) in message


def test_reference_release_without_tvqa_root_is_a_clear_error(sample_release, tmp_path):
    builder = crossomni.CrossOmni(config_name="all", release_dir=str(sample_release), cache_dir=str(tmp_path))
    with pytest.raises(crossomni.ReleaseError, match="data_dir=<your TVQA root>"):
        builder.download_and_prepare()


def _copy_release(sample_release: Path, tmp_path: Path) -> Path:
    release = tmp_path / "release"
    shutil.copytree(sample_release, release)
    return release


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(answer="E"), "answer must be one of"),
        (lambda r: r.update(options=r["options"][:3]), "options must be a list of 4"),
        (lambda r: r.update(task_type="smell_to_taste"), "unknown task_type"),
        (lambda r: r.update(clip_id="nowhere_s01e01_seg01_clip_01"), "not in clips.jsonl"),
        (lambda r: r.update(rationale=""), "train instances need a rationale"),
        (lambda r: r.pop("question"), "missing field 'question'"),
        (lambda r: r.update(options=["a", "A", "b", "c"]), "options must be distinct"),
    ],
)
def test_invalid_instances_name_file_and_line(sample_release, tmp_path, change, message):
    release = _copy_release(sample_release, tmp_path)
    lines = (release / "train.jsonl").read_text().splitlines()
    record = json.loads(lines[2])
    change(record)
    lines[2] = json.dumps(record)
    (release / "train.jsonl").write_text("\n".join(lines) + "\n")
    clips = crossomni.read_clips(release)
    with pytest.raises(crossomni.ReleaseError, match=message) as info:
        list(crossomni.read_instances(release, "train", clips))
    assert "train.jsonl:3" in str(info.value)


def test_malformed_json_line(sample_release, tmp_path):
    release = _copy_release(sample_release, tmp_path)
    with open(release / "test.jsonl", "a") as handle:
        handle.write("{not json\n")
    with pytest.raises(crossomni.ReleaseError, match=r"test.jsonl:19: not valid JSON"):
        list(crossomni.read_instances(release, "test", crossomni.read_clips(release)))


def _chain(error: BaseException):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__
