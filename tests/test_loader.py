"""The CrossOmni datasets builder on the sample release: fields, configs, media, bad releases."""

import json
import re
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


def _edit_line(release: Path, name: str, index: int, change) -> None:
    lines = (release / name).read_text().splitlines()
    record = json.loads(lines[index])
    change(record)
    lines[index] = json.dumps(record)
    (release / name).write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.update(rationale=None), "rationale"),
        (lambda r: r.update(rationale="   "), "rationale"),
        (lambda r: r.update(id=None), "id"),
        (lambda r: r.update(id=""), "id"),
        (lambda r: r.update(id=7), "id"),
        (lambda r: r.update(id=["a", "b"]), "id"),
        (lambda r: r.update(clip_id=["x"]), "clip_id"),
        (lambda r: r.update(task_type=["audio"]), "task_type"),
        (lambda r: r.update(start=True), "start"),
        (lambda r: r.update(end=False), "end"),
        (lambda r: r.update(end=float("inf")), "end"),
        (lambda r: r.update(start=float("nan")), "start"),
        (lambda r: r.update(end=508.0), "end"),  # 500 s past an 8 s clip
        (lambda r: r.update(start=-1.0), "start"),
        (lambda r: r.update(start=3.0, end=3.0), "start"),
        (lambda r: r.update(options=["a", "b", "c", 4]), "options"),
        (lambda r: r.update(question=" "), "question"),
    ],
)
def test_hostile_instance_values_are_refused_naming_line_and_field(sample_release, tmp_path, change, field):
    release = _copy_release(sample_release, tmp_path)
    _edit_line(release, "train.jsonl", 4, change)
    with pytest.raises(crossomni.ReleaseError) as info:
        crossomni.validate_release(release)
    message = str(info.value)
    assert f"train.jsonl:5: {field}" in message or f"train.jsonl:5: missing field '{field}'" in message, message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.update(show=None), "show"),
        (lambda c: c.update(video=["videos/a.mp4"]), "video"),
        (lambda c: c.update(audio=3), "audio"),
        (lambda c: c.update(duration=float("inf")), "duration"),
        (lambda c: c.update(video="/etc/hostname"), "video"),
        (lambda c: c.update(audio="../../../../etc/passwd"), "audio"),
    ],
)
def test_hostile_clip_values_are_refused(sample_release, tmp_path, change, field):
    release = _copy_release(sample_release, tmp_path)
    _edit_line(release, "clips.jsonl", 1, change)
    with pytest.raises(crossomni.ReleaseError, match=rf"clips.jsonl:2: clip '[a-z0-9_]+': {field}"):
        crossomni.read_clips(release)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "release.json: not valid JSON"),
        (b"[1, 2]", "release.json: expected a JSON object, got list"),
        (b'{"format": "crossomni-release", "version": 1, "media": "\xff"}', "release.json: not UTF-8"),
        (b'{"format": "crossomni-release", "version": true}', "release.json: version"),
        (b'{"format": "crossomni-release", "version": 1, "media": "stream"}', "release.json: media"),
        (b"[" * 100_000 + b"]" * 100_000, "release.json: JSON nested too deeply"),
    ],
)
def test_broken_manifest_is_a_release_error_naming_the_file(sample_release, tmp_path, content, message):
    release = _copy_release(sample_release, tmp_path)
    (release / "release.json").write_bytes(content)
    with pytest.raises(crossomni.ReleaseError, match=message):
        crossomni.read_release_manifest(release)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"id": "\xff\xfe"}', "test.jsonl:19: not UTF-8"),
        (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, "test.jsonl:19: JSON nested too deeply"),
        (b"[1]", "test.jsonl:19: expected a JSON object, got list"),
        (b"null", "test.jsonl:19: expected a JSON object, got NoneType"),
    ],
)
def test_broken_lines_are_release_errors(sample_release, tmp_path, line, message):
    release = _copy_release(sample_release, tmp_path)
    with open(release / "test.jsonl", "ab") as handle:
        handle.write(line + b"\n")
    with pytest.raises(crossomni.ReleaseError, match=message):
        crossomni.validate_release(release)


def _move_first_test_instance_to_train(release: Path, change=None) -> None:
    test_lines = (release / "test.jsonl").read_text().splitlines()
    moved = json.loads(test_lines[0])
    if change:
        change(moved)
    with open(release / "train.jsonl", "a") as handle:
        handle.write(json.dumps(moved) + "\n")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(id="dup"), r"id: 'dup' is in both train and test"),
        (lambda r: r.update(id="new-id", rationale="Step 1."), "clip_id: '[a-z0-9_]+' is in both"),
    ],
)
def test_nothing_is_shared_between_splits(sample_release, tmp_path, change, message):
    release = _copy_release(sample_release, tmp_path)
    if "dup" in message:
        _edit_line(release, "train.jsonl", 0, lambda r: r.update(id="dup"))
        _edit_line(release, "test.jsonl", 0, lambda r: r.update(id="dup"))
    else:
        _move_first_test_instance_to_train(release, change)
    with pytest.raises(crossomni.ReleaseError, match=message):
        crossomni.validate_release(release)


def test_an_episode_in_both_splits_is_refused(sample_release, tmp_path):
    release = _copy_release(sample_release, tmp_path)
    clips = crossomni.read_clips(release)
    test_clip = json.loads((release / "test.jsonl").read_text().splitlines()[0])["clip_id"]
    train_clip = json.loads((release / "train.jsonl").read_text().splitlines()[0])["clip_id"]
    _edit_line(
        release, "clips.jsonl", list(clips).index(test_clip), lambda c: c.update(episode=clips[train_clip].episode)
    )
    with pytest.raises(crossomni.ReleaseError, match=r"episode: '[a-z0-9_]+' is in both train and test"):
        crossomni.validate_release(release)


def test_an_edited_release_is_prepared_again_in_the_same_cache(sample_release, sample_tvqa_root, tmp_path):
    release = _copy_release(sample_release, tmp_path)
    cache = tmp_path / "cache"

    def load():
        builder = crossomni.CrossOmni(
            config_name="all", release_dir=str(release), data_dir=str(sample_tvqa_root), cache_dir=str(cache)
        )
        builder.download_and_prepare()
        return builder.as_dataset(split="test")

    first = load()
    _edit_line(release, "test.jsonl", 0, lambda r: r.update(question="Who was edited in?"))
    again = load()
    assert first[0]["question"] != "Who was edited in?"
    assert again[0]["question"] == "Who was edited in?"


def test_tvqa_media_are_manual_data(sample_release, tmp_path):
    builder = crossomni.CrossOmni(config_name="all", release_dir=str(sample_release), cache_dir=str(tmp_path))
    assert "TVQA" in builder.manual_download_instructions and "data_dir" in builder.manual_download_instructions
    with pytest.raises(crossomni.ReleaseError, match="obtain yourself"):
        builder.download_and_prepare()


def test_builder_refuses_a_symlink_out_of_the_root(sample_release, sample_tvqa_root, tmp_path):
    root = tmp_path / "tvqa"
    shutil.copytree(sample_tvqa_root, root)
    target = root / "videos" / "friends_s01e01_seg02_clip_14.mp4"
    target.unlink()
    target.symlink_to("/etc/passwd")
    builder = crossomni.CrossOmni(
        config_name="all", release_dir=str(sample_release), data_dir=str(root), cache_dir=str(tmp_path / "c")
    )
    with pytest.raises(Exception) as info:
        builder.download_and_prepare()
    message = "".join(str(e) for e in _chain(info.value))
    assert "clip friends_s01e01_seg02_clip_14 video" in message and "outside the root" in message


@pytest.mark.parametrize("path", ["../../../../../../etc/passwd", "/etc/hostname"])
def test_resolve_media_refuses_paths_out_of_the_root(sample_dataset, sample_tvqa_root, path):
    import datasets

    rows = sample_dataset["test"].select(range(2)).cast_column("video", datasets.Video(decode=False))
    rows = rows.cast_column("audio", datasets.Audio(decode=False))
    hostile = rows.map(lambda row: {"video": {"path": path, "bytes": None}})
    with pytest.raises(crossomni.UnsafePathError, match=re.escape(f"video: {'absolute ' if path[0] == '/' else ''}")):
        crossomni.resolve_media(hostile, sample_tvqa_root)


def test_contained_path_is_the_one_check():
    root = Path("/srv/tvqa")
    assert crossomni.contained_path(root, "videos/a.mp4", "clip a video") == root.resolve() / "videos" / "a.mp4"
    for bad in ("../x", "/etc/passwd", "a/../../x", "~/x", "", "C:\\x"):
        with pytest.raises(crossomni.UnsafePathError, match="clip a video"):
            crossomni.contained_path(root, bad, "clip a video")


def test_a_release_or_build_folder_where_an_export_is_expected_says_how_to_export_it(
    sample_release: Path, tmp_path: Path
) -> None:
    import shutil

    import crossomni

    build = tmp_path / "build"
    shutil.copytree(sample_release, build / "release")
    (build / "sample_tvqa").mkdir()
    with pytest.raises(crossomni.ReleaseError, match="is an annotation release") as err:
        crossomni.check_not_release(build / "release")
    assert f"`crossomni export {build / 'release'} --out DIR --tvqa-root {build / 'sample_tvqa'}`" in str(err.value)
    with pytest.raises(crossomni.ReleaseError, match="is a build folder"):
        crossomni.check_not_release(build, "dataset_name")
    crossomni.check_not_release(tmp_path / "crossomni")  # not a release (an export, a Hub id): load_dataset decides
    crossomni.check_not_release("ORG/crossomni")
