"""Export → load_dataset round trip, the dataset card, and the Hub push boundary."""

import json
import os
import re
from pathlib import Path

import pytest
import yaml

import crossomni
from builder.export import export_release
from builder.push import push_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported(sample_release, sample_tvqa_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "crossomni"
    export_release(sample_release, out, tvqa_root=sample_tvqa_root)
    return out


def _records(sample_release: Path, split: str) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (sample_release / f"{split}.jsonl").read_text().splitlines())}


def test_load_dataset_round_trips_every_field(exported, sample_release, sample_tvqa_root):
    from datasets import load_dataset

    loaded = load_dataset(str(exported), "all")
    clips = crossomni.read_clips(sample_release)
    for split in crossomni.SPLITS:
        records = _records(sample_release, split)
        ds = crossomni.resolve_media(loaded[split], sample_tvqa_root)
        assert ds.num_rows == len(records)
        assert ds.features == crossomni.FEATURES
        for row in ds:
            _same_fields(row, crossomni.to_example(records[row["id"]], clips[row["clip_id"]], Path(sample_tvqa_root)))
        row = ds[0]
        assert row["video"].metadata.num_frames == 24
        audio = row["audio"].get_all_samples()
        assert audio.sample_rate == 16_000 and audio.data.shape == (1, 128_000)


def test_reference_export_holds_relative_paths_only(exported):
    import pyarrow.parquet as pq

    table = pq.read_table(next((exported / "data" / "vision_to_text").glob("test-*.parquet")))
    videos = table.column("video").to_pylist()
    assert all(v["bytes"] is None and not os.path.isabs(v["path"]) for v in videos)
    assert videos[0]["path"].startswith("videos/")


def _release_rows(sample_release: Path, split: str, tasks) -> dict[str, dict]:
    clips = crossomni.read_clips(sample_release)
    return {
        r["id"]: crossomni.to_example(r, clips[r["clip_id"]], None)
        for r in crossomni.read_instances(sample_release, split, clips)
        if r["task_type"] in tasks
    }


def _same_fields(row: dict, expected: dict) -> None:
    for key, value in expected.items():
        if key in ("video", "audio"):
            continue
        if key == "task_type":
            value = crossomni.TASK_NAMES.index(value)
        assert row[key] == pytest.approx(value) if isinstance(value, float) else row[key] == value, key


def test_every_config_loads_its_tasks_rows(exported, sample_release):
    from datasets import Video, load_dataset

    for config in crossomni.CONFIG_NAMES:
        for split in crossomni.SPLITS:
            expected = _release_rows(sample_release, split, crossomni.CONFIG_TASKS[config])
            ds = load_dataset(str(exported), config, split=split)
            assert ds.num_rows == len(expected) and sorted(ds["id"]) == sorted(expected), (config, split)
            for row in ds.cast_column("video", Video(decode=False)).remove_columns("audio"):
                _same_fields(row, expected[row["id"]])
                assert row["video"]["path"] == expected[row["id"]]["video"]["path"]


def test_each_row_is_stored_once_under_its_task(exported):
    import pyarrow.parquet as pq

    shards = sorted(exported.glob("data/*/*.parquet"))
    assert {shard.parent.name for shard in shards} == set(crossomni.TASK_NAMES)
    ids = [i for shard in shards for i in pq.read_table(shard, columns=["id"]).column("id").to_pylist()]
    assert len(ids) == len(set(ids)) == 36


def test_card_yaml_is_valid_and_matches_data(exported):
    from huggingface_hub import DatasetCard

    text = (exported / "README.md").read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["license"] == "cc-by-4.0"
    assert [c["config_name"] for c in header["configs"]] == list(crossomni.CONFIG_NAMES)
    assert next(c for c in header["configs"] if c["config_name"] == "all")["default"] is True
    configs = {c["config_name"]: {f["split"]: f["path"] for f in c["data_files"]} for c in header["configs"]}
    for name, splits in configs.items():
        for split, paths in splits.items():
            assert all((exported / path).is_file() for path in paths)
            assert {Path(path).parent.name for path in paths} == set(crossomni.CONFIG_TASKS[name])
            assert all(Path(path).name.startswith(f"{split}-") for path in paths)
    assert configs["cross"]["test"] == [f"data/{t}/test-00000-of-00001.parquet" for t in crossomni.CROSS_TASKS]
    assert "| `single` | The three single-modality tasks (source = target). | `data/audio/`, `data/vision/`, " in text
    info = {i["config_name"]: i for i in header["dataset_info"]}
    assert {s["name"]: s["num_examples"] for s in info["cross"]["splits"]} == {"train": 12, "test": 12}
    card = DatasetCard.load(exported / "README.md")
    assert card.data.size_categories == ["n<1K"]
    assert "| `vision_to_text` | Vi→Te | vision | text | cross |" in text
    assert "| `audio` | 2 | 2 |" in text  # statistics computed from the data
    assert "arXiv:2604.05522" in text and "TVQA" in text


@pytest.fixture(scope="module")
def embedded(sample_release, sample_tvqa_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("embed") / "embedded"
    export_release(sample_release, out, tvqa_root=sample_tvqa_root, media="embed")
    return out


def test_embed_mode_decodes_without_root_the_clip_itself(embedded, sample_release, sample_tvqa_root):
    from datasets import load_dataset
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    ds = load_dataset(str(embedded), "audio", split="train")
    row = ds[0]
    clip = Path(sample_tvqa_root) / crossomni.read_clips(sample_release)[row["clip_id"]].video
    original_frames = VideoDecoder(str(clip)).get_frames_in_range(0, 24).data
    assert row["video"].metadata.num_frames == 24
    assert (row["video"].get_frames_in_range(0, 24).data == original_frames).all()
    audio = row["audio"].get_all_samples()
    original = AudioDecoder(str(clip), sample_rate=16_000, num_channels=1).get_all_samples()
    assert audio.sample_rate == 16_000 and audio.data.shape == original.data.shape == (1, 128_000)
    assert (audio.data == original.data).all()
    assert "clip bytes are embedded" in (embedded / "README.md").read_text()


def test_embed_keeps_the_clip_whole_and_only_its_audio_track_again(embedded, sample_release, sample_tvqa_root):
    """``video`` is the clip itself (omni models hear its track with its frames); ``audio`` adds the track only."""
    import pyarrow.parquet as pq
    from torchcodec.decoders import AudioDecoder

    from builder.clip_probe import stream_copy

    clips = crossomni.read_clips(sample_release)
    files = {c.clip_id: Path(sample_tvqa_root) / c.video for c in clips.values()}
    frames_only = {clip_id: len(stream_copy(str(path), "video")) for clip_id, path in files.items()}
    shards = sorted(embedded.glob("data/*.parquet"))
    assert len(shards) == 2  # one per split, every task's rows
    for shard in shards:
        for row in pq.read_table(shard, columns=["clip_id", "video", "audio"]).to_pylist():
            clip = files[row["clip_id"]]
            assert row["video"]["bytes"] == clip.read_bytes(), (shard, row["clip_id"])
            assert AudioDecoder(row["video"]["bytes"]).get_all_samples().data.numel() > 0  # the track is in it
            # the audio column holds no frames: with the frames alone it is no bigger than the clip
            assert len(row["audio"]["bytes"]) + frames_only[row["clip_id"]] <= clip.stat().st_size + 4096
    sizes = [path.stat().st_size for path in files.values()]
    total = sum(path.stat().st_size for path in embedded.rglob("*") if path.is_file())
    assert total <= 36 * max(sizes) * 2  # at worst each row's clip and track once, never a second clip


def _column_bytes(shard: Path, column: str) -> int:
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(shard).metadata
    return sum(
        metadata.row_group(g).column(c).total_compressed_size
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
        if metadata.row_group(g).column(c).path_in_schema == column
    )


def _stores_each_clip_once(folder: Path, clip_files: dict[str, Path]) -> None:
    """Per shard, ``video.bytes`` takes no more than the distinct clips its rows name (plus page overhead)."""
    import pyarrow.parquet as pq

    shards = sorted(folder.glob("data/*.parquet"))
    assert shards, "no shared shards: the clips are stored per task shard"
    seen: set[str] = set()
    for shard in shards:
        in_shard = set(pq.read_table(shard, columns=["clip_id"]).column("clip_id").to_pylist())
        assert not in_shard & seen, f"a clip's rows are split across shards: {in_shard & seen}"
        seen |= in_shard
        clip_bytes = sum(clip_files[c].stat().st_size for c in in_shard)
        assert 0.9 * clip_bytes <= _column_bytes(shard, "video.bytes") <= clip_bytes + 2048, shard.name


def test_embed_stores_each_clip_once_for_all_its_rows(embedded, sample_release, sample_tvqa_root):
    """A clip asked about by nine task types is in the export once, not once per task shard."""
    clips = crossomni.read_clips(sample_release)
    files = {c.clip_id: Path(sample_tvqa_root) / c.video for c in clips.values()}
    _stores_each_clip_once(embedded, files)
    card = yaml.safe_load((embedded / "README.md").read_text().split("---")[1])
    configs = {c["config_name"]: c for c in card["configs"]}
    assert "filters" not in configs["all"]
    assert configs["cross"]["filters"] == [
        ["task_type", "in", [crossomni.TASK_NAMES.index(t) for t in crossomni.CROSS_TASKS]]
    ]
    assert configs["audio"]["filters"] == [["task_type", "in", [crossomni.TASK_NAMES.index("audio")]]]
    assert {tuple(c["data_files"][0]["path"]) for c in configs.values()} == {("data/train-00000-of-00001.parquet",)}


def test_embed_card_describes_the_shared_shards_even_without_filters(sample_release, sample_tvqa_root, tmp_path):
    """An embed export of one config needs no filter, but its rows still sit in ``data/<split>-*``: the card
    must say so, not describe per-task folders that do not exist."""
    out = tmp_path / "text-only"
    summary = export_release(sample_release, out, tvqa_root=sample_tvqa_root, media="embed", configs=("text",))
    assert summary.filters == {} and summary.files["text"]["test"] == ["data/test-00000-of-00001.parquet"]
    card = (out / "README.md").read_text()
    assert "share\n`data/<split>-XXXXX-of-YYYYY.parquet`" in card and "| `text` |" in card
    assert "data/<task>/" not in card and "`data/text/`" not in card
    assert not (out / "data" / "text").exists()


def test_embed_groups_a_clip_rows_whatever_the_release_order(sample_release, sample_tvqa_root, tmp_path):
    """Rows of one clip interleaved with other clips' rows (a merged release) still share one shard; with one
    clip's worth of rows per shard every shard holds exactly one clip, and every config loads its rows in order."""
    import shutil

    from datasets import load_dataset

    release = tmp_path / "release"
    shutil.copytree(sample_release, release)
    for split in crossomni.SPLITS:
        lines = (release / f"{split}.jsonl").read_text().splitlines()
        half = len(lines) // 2
        interleaved = [line for pair in zip(lines[:half], lines[half:], strict=True) for line in pair]
        (release / f"{split}.jsonl").write_text("\n".join(interleaved) + "\n")
    out = tmp_path / "x"
    export_release(release, out, tvqa_root=sample_tvqa_root, media="embed", rows_per_shard=1)
    clips = crossomni.read_clips(release)
    files = {c.clip_id: Path(sample_tvqa_root) / c.video for c in clips.values()}
    _stores_each_clip_once(out, files)
    assert len(list(out.glob("data/*.parquet"))) == len(clips)  # one clip per shard at one row per shard
    for config in ("vision_to_audio", "single"):
        tasks = crossomni.CONFIG_TASKS[config]
        expected = [json.loads(line)["id"] for line in (release / "test.jsonl").read_text().splitlines()]
        expected = [i for i in expected if _records(release, "test")[i]["task_type"] in tasks]
        loaded = load_dataset(str(out), config, split="test")
        assert sorted(loaded["id"]) == sorted(expected)
        streamed = load_dataset(str(out), config, split="test", streaming=True)
        assert sorted(row["id"] for row in streamed) == sorted(expected)
        assert {crossomni.TASK_NAMES[t] for t in loaded["task_type"]} == set(tasks)


def test_sample_card_says_it_is_synthetic(exported):
    card = (exported / "README.md").read_text()
    assert "embedded synthetic sample" in card and "no TVQA data" in card
    assert "regenerated from TVQA" not in card and "pip install crossomni " not in card
    assert "- original" in card.split("---")[1]  # source_datasets: not TVQA


def test_every_embedded_config_loads_and_decodes(embedded, sample_release):
    from datasets import load_dataset

    for config in crossomni.CONFIG_NAMES:
        ds = load_dataset(str(embedded), config, split="test")
        assert sorted(ds["id"]) == sorted(_release_rows(sample_release, "test", crossomni.CONFIG_TASKS[config]))
    assert ds[0]["audio"].get_all_samples().sample_rate == 16_000


def test_export_imports_no_torch(sample_release, sample_tvqa_root, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from builder.export import export_release; "
        f"export_release({str(sample_release)!r}, {str(tmp_path / 'e')!r}, tvqa_root={str(sample_tvqa_root)!r}, "
        "media='embed', configs=('text',)); "
        "print(sorted(m for m in ('torch', 'torchcodec', 'torchvision') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_embed_names_a_corrupt_clip(sample_release, sample_tvqa_root, tmp_path):
    import shutil

    from builder.clip_probe import ClipDecodeError

    root = tmp_path / "tvqa"
    shutil.copytree(sample_tvqa_root, root)
    clip = root / "videos" / "castle_s01e01_seg02_clip_00.mp4"
    data = clip.read_bytes()
    clip.write_bytes(data[:64] + bytes(len(data) - 64))  # header kept, the rest zeroed
    with pytest.raises(ClipDecodeError, match="clip castle_s01e01_seg02_clip_00"):
        export_release(sample_release, tmp_path / "x", tvqa_root=root, media="embed")
    assert not (tmp_path / "x").exists()


def _hostile_release(sample_release: Path, tmp_path: Path, video: str) -> Path:
    import shutil

    release = tmp_path / "release"
    shutil.copytree(sample_release, release)
    lines = (release / "clips.jsonl").read_text().splitlines()
    clip = json.loads(lines[0])
    clip["video"] = clip["audio"] = video
    lines[0] = json.dumps(clip)
    (release / "clips.jsonl").write_text("\n".join(lines) + "\n")
    return release


@pytest.mark.parametrize("video", ["../../../../../../etc/passwd", "/etc/hostname", "videos/../../x.mp4"])
def test_export_refuses_paths_out_of_the_root(sample_release, sample_tvqa_root, tmp_path, video):
    release = _hostile_release(sample_release, tmp_path, video)
    for media in ("embed", "reference"):
        with pytest.raises(crossomni.ReleaseError, match=r"clips.jsonl:1: clip 'friends_s01e01_seg02_clip_14'") as err:
            export_release(release, tmp_path / media, tvqa_root=sample_tvqa_root, media=media)
        assert video in str(err.value) and "\n" not in str(err.value)
    assert not list(tmp_path.glob("embed*")) and not list(tmp_path.glob("reference*"))


def test_export_refuses_a_symlink_out_of_the_root(sample_release, sample_tvqa_root, tmp_path):
    import shutil

    root = tmp_path / "tvqa"
    shutil.copytree(sample_tvqa_root, root)
    (root / "videos" / "evil.mp4").symlink_to("/etc/passwd")
    release = _hostile_release(sample_release, tmp_path, "videos/evil.mp4")
    with pytest.raises(
        crossomni.UnsafePathError, match=re.escape("clip friends_s01e01_seg02_clip_14 video: path 'videos/evil.mp4'")
    ):
        export_release(release, tmp_path / "x", tvqa_root=root, media="embed")
    assert not (tmp_path / "x").exists()


def test_embed_needs_the_tvqa_root(sample_release, tmp_path):
    with pytest.raises(crossomni.ReleaseError, match="data_dir=<your TVQA root>"):
        export_release(sample_release, tmp_path / "x", media="embed")


def test_export_checks_media_exist_when_root_given(sample_release, tmp_path):
    with pytest.raises(FileNotFoundError, match="clip friends_s01e01_seg02_clip_14"):
        export_release(sample_release, tmp_path / "x", tvqa_root=tmp_path)
    assert not (tmp_path / "x").exists()  # nothing half-written left behind


class FakeHfApi:
    """Records the Hub calls and copies the upload into a local folder."""

    def __init__(self, hub: Path) -> None:
        self.hub = hub
        self.calls: list[tuple[str, dict]] = []

    def create_repo(self, **kwargs):
        self.calls.append(("create_repo", kwargs))
        return f"https://huggingface.co/datasets/{kwargs['repo_id']}"

    def upload_folder(self, **kwargs):
        import shutil

        self.calls.append(("upload_folder", kwargs))
        shutil.copytree(kwargs["folder_path"], self.hub / kwargs["repo_id"], dirs_exist_ok=True)


def test_push_uploads_the_folder_as_a_dataset_repo(exported, tmp_path):
    from datasets import load_dataset

    api = FakeHfApi(tmp_path / "hub")
    url = push_dataset(exported, "someorg/crossomni", api=api)
    assert url.endswith("datasets/someorg/crossomni")
    assert [name for name, _ in api.calls] == ["create_repo", "upload_folder"]
    assert all(kwargs["repo_type"] == "dataset" for _, kwargs in api.calls)
    pushed = load_dataset(str(tmp_path / "hub" / "someorg" / "crossomni"), "text", split="train")
    assert pushed.num_rows == 2


def test_push_refuses_a_folder_that_is_not_an_export(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an exported CrossOmni folder"):
        push_dataset(tmp_path, "org/name", api=FakeHfApi(tmp_path))
    with pytest.raises(ValueError, match="ORG/NAME"):
        push_dataset(Path(__file__).parent, "noslash", api=FakeHfApi(tmp_path))


def test_export_metric_loads_by_bare_name(tmp_path, monkeypatch):
    import evaluate

    from builder.export import export_metric

    monkeypatch.chdir(tmp_path)
    folder = export_metric()
    assert not list(folder.rglob("__pycache__"))
    metric = evaluate.load("crossomni_acc")
    result = metric.compute(predictions=["The answer is B."], references=["B"], task_types=["vision_to_text"])
    assert result["vision_to_text"] == 1.0 and result["overall"] == 1.0


def test_small_shards_split_the_data_and_load_back_whole(sample_release, tmp_path):
    from datasets import load_dataset

    out = tmp_path / "sharded"
    summary = export_release(sample_release, out, rows_per_shard=1, configs=("all", "cross"))
    assert summary.files["all"]["train"][:2] == [f"data/audio/train-{i:05d}-of-00002.parquet" for i in range(2)]
    assert len(summary.files["cross"]["test"]) == 12  # 2 rows per cross task, one per shard
    ds = load_dataset(str(out), "all", split="train")
    assert ds.num_rows == 18 and len(set(ds["id"])) == 18
    assert not list(out.rglob("*.tmp"))


def test_export_command_reports_a_bad_release_in_one_line(sample_release, sample_tvqa_root, tmp_path):
    import subprocess
    import sys

    release = _hostile_release(sample_release, tmp_path, "/etc/hostname")
    args = ["export", str(release), "--out", str(tmp_path / "x"), "--media", "embed"]
    result = subprocess.run([sys.executable, "-m", "crossomni_cli", *args], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2  # the message, and how to see the traceback
    assert "'/etc/hostname'" in lines[0] and "clips.jsonl:1" in lines[0]


def test_embed_keeps_a_separate_audio_file_as_it_is(sample_release, sample_tvqa_root, tmp_path):
    import shutil

    import numpy as np
    import soundfile
    from datasets import load_dataset

    root = tmp_path / "tvqa"
    shutil.copytree(sample_tvqa_root, root)
    tone = (0.1 * np.sin(np.arange(16_000 * 8) * 2 * np.pi * 220 / 16_000)).astype(np.float32)
    (root / "audio").mkdir()
    soundfile.write(root / "audio" / "friends.wav", tone, 16_000)
    release = _hostile_release(sample_release, tmp_path, "videos/friends_s01e01_seg02_clip_14.mp4")
    lines = (release / "clips.jsonl").read_text().splitlines()
    clip = json.loads(lines[0])
    clip["audio"] = "audio/friends.wav"
    lines[0] = json.dumps(clip)
    (release / "clips.jsonl").write_text("\n".join(lines) + "\n")
    export_release(release, tmp_path / "x", tvqa_root=root, media="embed", configs=("audio",))
    exported = load_dataset(str(tmp_path / "x"), "audio")
    rows = [r for split in exported.values() for r in split if r["clip_id"] == clip["clip_id"]]
    samples = rows[0]["audio"].get_all_samples()
    assert samples.sample_rate == 16_000 and np.allclose(samples.data[0].numpy(), tone, atol=1e-4)
    assert rows[0]["video"].metadata.num_frames == 24


# --- review outcomes: a config without rows in a split, a failed export leaves nothing ---------------


def _reject(release: Path, keep) -> set[str]:
    """Reject every instance for which ``keep(split, record)`` is false; return the rejected ids."""
    from builder.review.decisions import append_decision

    rejected = set()
    for split in crossomni.SPLITS:
        for record in _records(release, split).values():
            if not keep(split, record):
                append_decision(release, record["id"], "reject", "not what the question says")
                rejected.add(record["id"])
    return rejected


@pytest.mark.parametrize("media", ["reference", "embed"])
def test_a_task_review_emptied_in_one_split_exports_and_loads(sample_release, sample_tvqa_root, tmp_path, media):
    import shutil

    from datasets import load_dataset

    release = Path(shutil.copytree(sample_release, tmp_path / "release"))
    rejected = _reject(release, lambda split, r: not (split == "test" and r["task_type"] == "audio"))
    out = tmp_path / "crossomni"
    configs = ("all", "single", "audio", "vision")
    summary = export_release(release, out, tvqa_root=sample_tvqa_root, media=media, configs=configs)
    assert not out.with_name("crossomni.partial").exists() and not list(out.rglob("*.tmp"))
    assert summary.empty == {"audio": ["test"]} and set(summary.files["audio"]) == {"train"}
    audio = load_dataset(str(out), "audio")  # what users get: the split that has rows
    assert set(audio) == {"train"} and audio["train"].num_rows == 2
    everything = load_dataset(str(out), "all", split="test")
    assert everything.num_rows == 16 and not set(everything["id"]) & rejected
    assert load_dataset(str(out), "vision", split="test").num_rows == 2
    card = (out / "README.md").read_text()
    assert '- `audio`: no `test` rows; `load_dataset(…, "audio")` has only `train`' in card
    header = yaml.safe_load(card.split("---")[1])
    audio_config = next(c for c in header["configs"] if c["config_name"] == "audio")
    assert [f["split"] for f in audio_config["data_files"]] == ["train"]
    info = next(i for i in header["dataset_info"] if i["config_name"] == "audio")
    assert [s["name"] for s in info["splits"]] == ["train"]


def test_a_task_without_rows_anywhere_is_left_out_with_a_note(sample_release, tmp_path):
    import shutil

    from datasets import load_dataset

    release = Path(shutil.copytree(sample_release, tmp_path / "release"))
    _reject(release, lambda split, r: r["task_type"] != "text")
    out = tmp_path / "crossomni"
    summary = export_release(release, out)
    assert "text" not in summary.files and summary.empty["text"] == ["train", "test"]
    assert not (out / "data" / "text").exists()
    card = (out / "README.md").read_text()
    assert "- `text`: no rows in any split; not exported" in card
    names = [c["config_name"] for c in yaml.safe_load(card.split("---")[1])["configs"]]
    assert "text" not in names and "single" in names
    assert load_dataset(str(out), "single", split="train").num_rows == 4


def test_an_export_that_fails_leaves_no_partial_folder(sample_release, tmp_path, monkeypatch):
    import shutil

    import builder.export

    release = Path(shutil.copytree(sample_release, tmp_path / "release"))
    out = tmp_path / "crossomni"

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(builder.export, "write_dataset_card", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export_release(release, out)
    assert not out.exists() and not out.with_name("crossomni.partial").exists()
    monkeypatch.undo()
    _reject(release, lambda split, r: False)  # nothing left to publish: one line, nothing written
    with pytest.raises(crossomni.ReleaseError, match=r"no instance to export .*rejected in review"):
        export_release(release, out)
    assert not out.exists() and not out.with_name("crossomni.partial").exists()


def test_the_builder_and_the_export_publish_the_same_instances(sample_release, sample_tvqa_root, tmp_path):
    """One rule (crossomni.published_instances): a rejected instance neither loads nor exports."""
    import shutil

    import pyarrow.parquet as pq

    release = Path(shutil.copytree(sample_release, tmp_path / "release"))

    def keep(split: str, record: dict) -> bool:
        task = record["task_type"]
        return not ((split, task) in {("test", "audio"), ("train", "text_to_vision")} or task == "vision")

    rejected = _reject(release, keep)
    configs = ("all", "audio", "text_to_vision", "vision")
    summary = export_release(release, tmp_path / "crossomni", configs=configs)
    assert set(summary.files) == {"all", "audio", "text_to_vision"}
    for config in configs:
        builder = crossomni.CrossOmni(
            config_name=config, release_dir=str(release), data_dir=str(sample_tvqa_root), cache_dir=str(tmp_path / "c")
        )
        if config not in summary.files:  # nothing of it is published: neither loads
            with pytest.raises(crossomni.ReleaseError, match=f"config '{config}' has no published instance"):
                builder.download_and_prepare()
            continue
        builder.download_and_prepare()
        loaded = builder.as_dataset()
        assert set(loaded) == set(summary.files[config])
        for split, ds in loaded.items():
            exported = {
                i
                for path in summary.files[config][split]
                for i in pq.read_table(tmp_path / "crossomni" / path, columns=["id"]).column("id").to_pylist()
            }
            assert set(ds["id"]) == exported and not exported & rejected


def test_a_media_symlink_loop_is_one_line_naming_the_clip(sample_release, sample_tvqa_root, tmp_path):
    import shutil
    import subprocess
    import sys

    root = tmp_path / "tvqa"
    shutil.copytree(sample_tvqa_root, root)
    clip = root / "videos" / "friends_s01e01_seg02_clip_14.mp4"
    clip.unlink()
    clip.symlink_to(root / "videos" / "loop.mp4")
    (root / "videos" / "loop.mp4").symlink_to(clip)
    args = ["export", str(sample_release), "--out", str(tmp_path / "x"), "--tvqa-root", str(root)]
    result = subprocess.run([sys.executable, "-m", "crossomni_cli", *args], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("error: clip friends_s01e01_seg02_clip_14 video: path") and "cannot be resolved" in first
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()
