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


def _rename_clip(release: Path, old: str, new: str, episode: str) -> None:
    """Give clip ``old`` the name ``new`` (and ``episode``) in clips.jsonl and every split."""
    for name in ("clips.jsonl", *(f"{split}.jsonl" for split in crossomni.SPLITS)):
        lines = []
        for line in (release / name).read_text().splitlines():
            record = json.loads(line)
            if record["clip_id"] == old:
                record["clip_id"] = new
                if name == "clips.jsonl":
                    record["episode"] = episode
            lines.append(json.dumps(record))
        (release / name).write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("spell", [str, str.upper], ids=["same", "other-case"])
def test_an_episode_in_both_splits_is_refused(sample_release, tmp_path, spell):
    release = _copy_release(sample_release, tmp_path)
    clips = crossomni.read_clips(release)
    test_clip = json.loads((release / "test.jsonl").read_text().splitlines()[0])["clip_id"]
    train_clip = json.loads((release / "train.jsonl").read_text().splitlines()[0])["clip_id"]
    episode = spell(clips[train_clip].episode)  # another clip of the train clip's episode, in test
    _rename_clip(release, test_clip, f"{episode}_seg09_clip_99", episode)
    with pytest.raises(crossomni.ReleaseError, match=r"episode: '[A-Za-z0-9_]+' is in both train and test"):
        crossomni.validate_release(release)


@pytest.mark.parametrize(
    ("clip_id", "episode", "message"),
    [
        # the episode field is the split's unit: it must be the clip's own, never another clip's
        ("friends_s01e01_seg02_clip_14", "friends_s01e02", "episode: 'friends_s01e02' is not the episode of clip"),
        ("friends_s01e01_seg02_clip_14", "friends_s01e01\u200b", "is not the episode of clip"),
        # a look-alike clip name (zero-width space, Cyrillic letter) would be an episode of its own
        ("friends_s01e01\u200b_seg02_clip_14", "friends_s01e01\u200b", "clip_id: must be a TVQA clip name"),
        ("friends_s01e01_seg02_clip_1\u0430", "friends_s01e01", "clip_id: must be a TVQA clip name"),
        ("../friends_s01e01_seg02_clip_14", "../friends_s01e01", "clip_id: must be a TVQA clip name"),
    ],
)
def test_a_clip_carries_its_own_episode(sample_release, tmp_path, clip_id, episode, message):
    release = _copy_release(sample_release, tmp_path)
    first = json.loads((release / "clips.jsonl").read_text().splitlines()[0])["clip_id"]
    _rename_clip(release, first, clip_id, episode)
    with pytest.raises(crossomni.ReleaseError, match=f"clips.jsonl:1: .*{re.escape(message)}"):
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


# --- what looks valid but is not: look-alike options, invisible text, float32, typed manifest keys ----


def _options_with(record: dict, a: str, b: str) -> None:
    record["options"][0], record["options"][1] = a, b


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("The soup is salty.", "The soup\u200b is salty."),  # zero-width space
        ("Café au lait.", "Cafe\u0301 au lait."),  # NFC vs NFD
        ("The soup is salty.", "Ｔｈｅ ｓｏｕｐ ｉｓ ｓａｌｔｙ．"),  # fullwidth
        ("The soup is salty.", "The sou\u00adp is salty."),  # soft hyphen
        ("The soup is salty.", "\ufeffThe soup is salty."),  # BOM
        ("The soup is salty.", "The soup is\u00a0salty."),  # no-break space
        ("The soup is salty.", "The  soup is salty. "),  # spacing
        ("The soup is salty.", "THE SOUP IS SALTY."),  # case
        ("The soup is salty.", "The s\u043eup is s\u0430lty."),  # Cyrillic о and а
    ],
)
def test_options_that_read_the_same_are_refused(sample_release, tmp_path, first, second):
    release = _copy_release(sample_release, tmp_path)
    _edit_line(release, "test.jsonl", 0, lambda r: _options_with(r, first, second))
    with pytest.raises(crossomni.ReleaseError, match=r"test.jsonl:1: options: options must be distinct"):
        crossomni.validate_release(release)


def test_options_that_only_share_letters_stay_distinct(sample_release, tmp_path):
    release = _copy_release(sample_release, tmp_path)
    _edit_line(release, "test.jsonl", 0, lambda r: _options_with(r, "Résumé.", "Resume."))  # two words
    crossomni.validate_release(release)


def _set_text(record: dict, field: str, text: str) -> None:
    """``text`` as the value of ``field`` (for ``options``: as the last option)."""
    if field == "options":
        record["options"][3] = text
    else:
        record[field] = text


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\x00", " \u200d\u2060 ", "\u2800", "\u3164", "\u00ad"])
@pytest.mark.parametrize("field", ["question", "biography", "referent", "id", "rationale", "options"])
def test_text_that_shows_nothing_is_refused(sample_release, tmp_path, invisible, field):
    release = _copy_release(sample_release, tmp_path)
    _edit_line(release, "train.jsonl", 0, lambda r: _set_text(r, field, invisible))
    with pytest.raises(crossomni.ReleaseError, match=rf"train.jsonl:1: .*{field}"):
        crossomni.validate_release(release)


@pytest.mark.parametrize(
    ("where", "text", "message"),
    [
        ("question", "Who \ud83d speaks?", "question: contains a lone surrogate U+D83D at position 4"),
        ("biography", "Rachel\udc00", "biography: contains a lone surrogate U+DC00"),
        ("options", "Hi\udfff", "options.3: contains a lone surrogate U+DFFF"),
        ("question", "Who\x00 speaks?", "question: contains control character U+0000"),
        ("rationale", "Step 1.\x85Step 2.", "rationale: contains control character U+0085"),
    ],
)
def test_text_that_cannot_be_exported_is_refused_by_validation(sample_release, tmp_path, where, text, message):
    """A lone surrogate passed validation and then failed the export; now validation names it."""
    from builder.export import export_release

    release = _copy_release(sample_release, tmp_path)
    _edit_line(release, "train.jsonl", 0, lambda r: _set_text(r, where, text))  # json.dumps escapes a surrogate
    with pytest.raises(crossomni.ReleaseError, match=re.escape(message)):
        crossomni.validate_release(release)
    with pytest.raises(crossomni.ReleaseError, match=re.escape(message)):
        export_release(release, tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


@pytest.mark.parametrize(("start", "end"), [(0.0, 1e-46), (1e-46, 2e-46), (3.0, 3.0000000001)])
def test_a_segment_that_float32_collapses_is_refused(sample_release, tmp_path, start, end):
    release = _copy_release(sample_release, tmp_path)
    _edit_line(release, "test.jsonl", 0, lambda r: r.update(start=start, end=end))
    with pytest.raises(crossomni.ReleaseError, match=r"test.jsonl:1: end: segment start .* are one time as float32"):
        crossomni.validate_release(release)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("synthetic", "false", "synthetic: Input should be a valid boolean"),
        ("synthetic", 0, "synthetic: Input should be a valid boolean"),
        ("shortcut_audit", "passed", "shortcut_audit: Input should be a valid dictionary"),
        ("shortcut_audit", [], "shortcut_audit: Input should be a valid dictionary"),
        ("shortcut_audit", {"readers": "all"}, "missing field 'shortcut_audit.blind_model'"),
        ("media_root", "elsewhere", "media_root: Input should be 'tvqa' or 'derived'"),
        ("counts", {"train": {"audio": -1}}, "counts.train.audio: Input should be greater than or equal to 0"),
        ("description", "Made from TVQA\ud800", "description: contains a lone surrogate"),
    ],
)
def test_manifest_keys_the_card_reads_are_typed(sample_release, tmp_path, key, value, message):
    release = _copy_release(sample_release, tmp_path)
    manifest = json.loads((release / "release.json").read_text())
    (release / "release.json").write_text(json.dumps({**manifest, key: value}))
    with pytest.raises(crossomni.ReleaseError, match=re.escape(f"release.json: {message}")):
        crossomni.validate_release(release)


def test_a_shortcut_audit_row_without_a_reader_score_is_refused(sample_release, tmp_path):
    release = _copy_release(sample_release, tmp_path)
    manifest = json.loads((release / "release.json").read_text())
    del manifest["shortcut_audit"]["per_task"]["audio"]["accuracy"]["blind_model"]
    (release / "release.json").write_text(json.dumps(manifest))
    with pytest.raises(crossomni.ReleaseError, match=r"shortcut_audit: per_task\.audio: no accuracy for 'blind_model'"):
        crossomni.validate_release(release)


def test_the_builder_leaves_out_what_review_rejected(sample_release, sample_tvqa_root, tmp_path):
    from builder.review.decisions import append_decision

    release = _copy_release(sample_release, tmp_path)
    rejected = json.loads((release / "test.jsonl").read_text().splitlines()[0])["id"]
    cache = tmp_path / "cache"

    def load():
        builder = crossomni.CrossOmni(
            config_name="all", release_dir=str(release), data_dir=str(sample_tvqa_root), cache_dir=str(cache)
        )
        builder.download_and_prepare()
        return builder.as_dataset(split="test")

    assert rejected in load()["id"]
    append_decision(release, rejected, "reject", "the question names two people")
    again = load()  # the review is part of the release's fingerprint: prepared again, without it
    assert rejected not in again["id"] and again.num_rows == 17
    append_decision(release, rejected, "accept")  # the reviewer changed their mind
    assert rejected in load()["id"]


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
