"""Export → load_dataset round trip, the dataset card, and the Hub push boundary."""

import json
import os
from pathlib import Path

import pytest
import yaml

import crossomni
from builder.export import export_release
from builder.push import push_dataset


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
            expected = crossomni.to_example(records[row["id"]], clips[row["clip_id"]], Path(sample_tvqa_root))
            for key, value in expected.items():
                if key in ("video", "audio"):
                    continue
                if key == "task_type":
                    value = crossomni.TASK_NAMES.index(value)
                assert row[key] == pytest.approx(value) if isinstance(value, float) else row[key] == value, key
        row = ds[0]
        assert row["video"].metadata.num_frames == 24
        audio = row["audio"].get_all_samples()
        assert audio.sample_rate == 16_000 and audio.data.shape == (1, 128_000)


def test_reference_export_holds_relative_paths_only(exported):
    import pyarrow.parquet as pq

    table = pq.read_table(next((exported / "data" / "all").glob("test-*.parquet")))
    videos = table.column("video").to_pylist()
    assert all(v["bytes"] is None and not os.path.isabs(v["path"]) for v in videos)
    assert videos[0]["path"].startswith("videos/")


def test_every_config_loads_with_its_tasks(exported):
    from datasets import load_dataset

    for config in ("single", "cross", "audio_to_vision"):
        ds = load_dataset(str(exported), config, split="test")
        names = {ds.features["task_type"].int2str(i) for i in ds["task_type"]}
        assert names == set(crossomni.CONFIG_TASKS[config])


def test_card_yaml_is_valid_and_matches_data(exported):
    from huggingface_hub import DatasetCard

    text = (exported / "README.md").read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["license"] == "cc-by-4.0"
    assert [c["config_name"] for c in header["configs"]] == list(crossomni.CONFIG_NAMES)
    assert next(c for c in header["configs"] if c["config_name"] == "all")["default"] is True
    for config in header["configs"]:
        for data_files in config["data_files"]:
            assert list(exported.glob(data_files["path"])), data_files
    info = {i["config_name"]: i for i in header["dataset_info"]}
    assert {s["name"]: s["num_examples"] for s in info["cross"]["splits"]} == {"train": 12, "test": 12}
    card = DatasetCard.load(exported / "README.md")
    assert card.data.size_categories == ["n<1K"]
    assert "| `vision_to_text` | Vi→Te | vision | text | cross |" in text
    assert "| `audio` | 2 | 2 |" in text  # statistics computed from the data
    assert "arXiv:2604.05522" in text and "TVQA" in text


def test_embed_mode_carries_bytes_and_decodes_without_root(sample_release, sample_tvqa_root, tmp_path):
    from datasets import load_dataset

    out = tmp_path / "embedded"
    export_release(sample_release, out, tvqa_root=sample_tvqa_root, media="embed", configs=("audio",))
    ds = load_dataset(str(out), "audio", split="train")
    row = ds[0]
    assert row["video"].metadata.num_frames == 24
    assert row["audio"].get_all_samples().sample_rate == 16_000
    assert "clip bytes are embedded" in (out / "README.md").read_text()


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
    summary = export_release(sample_release, out, rows_per_shard=5, configs=("all", "cross"))
    assert summary.files["all"]["train"] == [f"data/all/train-{i:05d}-of-00004.parquet" for i in range(4)]
    assert len(summary.files["cross"]["test"]) == 3  # 12 rows in shards of 5
    ds = load_dataset(str(out), "all", split="train")
    assert ds.num_rows == 18 and len(set(ds["id"])) == 18
    assert not list(out.rglob("*.tmp"))
