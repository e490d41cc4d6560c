"""The run viewer's server side on a real run over an exported sample (scripted backend)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder.export import export_release
from evaluation.runner import EvalConfig, run_eval
from evaluation.viewer import ViewerApp
from tests.test_eval_runner import ScriptedBackend


def make_run(sample_release: Path, tvqa_root: Path, folder: Path) -> Path:
    """Export the sample (reference media), then evaluate it with the scripted backend from the runner tests:
    single-modality items answered right, cross ones with junk (parse failures)."""
    import datasets

    export_dir = folder / "crossomni"
    export_release(sample_release, export_dir, tvqa_root=tvqa_root)
    test = datasets.load_dataset(str(export_dir), "all", split="test")
    tasks = dict(zip(test["id"], test.features["task_type"].int2str(test["task_type"]), strict=True))
    backend = ScriptedBackend(dict(zip(test["id"], test["answer"], strict=True)), tasks)
    cfg = EvalConfig(
        model="Qwen/Qwen2.5-Omni-7B", out=str(folder / "run"), dataset=str(export_dir), tvqa_root=str(tvqa_root)
    )
    run_eval(cfg, backend=backend, progress=False)
    from evaluation.report import write_run_report

    write_run_report(folder / "run", plots=True)  # what `crossomni eval report RUN` does: the plots on demand
    return folder / "run"


@pytest.fixture(scope="module")
def eval_run(sample_release: Path, sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(sample_release, sample_tvqa_root, tmp_path_factory.mktemp("viewer"))


def test_state_counts_and_table(eval_run: Path, sample_tvqa_root: Path) -> None:
    state = ViewerApp(eval_run, tvqa_root=str(sample_tvqa_root)).state()
    assert state["summary"].startswith("18 items, 6 correct, 12 wrong (12 parse failures)")
    header, accuracy, counts = state["table"]["header"], *state["table"]["rows"]
    assert dict(zip(header, accuracy, strict=True))["Overall"] == "33.33"
    assert dict(zip(header, accuracy, strict=True))["Au"] == "100.00"
    assert dict(zip(header, accuracy, strict=True))["Au→Vi"] == "0.00"
    assert counts[header.index("Vi")] == 2
    assert sorted(Path(p).name for p in state["plots"]) == ["fixed_groups.png", "per_task.png"]
    assert sum(not i["correct"] for i in state["items"]) == 12 and state["notes"] == []


def _test_instance(sample_release: Path, task: str) -> dict:
    """The first instance of ``task`` in the sample release's test split, with its clip's file."""
    clips = {c["clip_id"]: c for c in map(json.loads, (sample_release / "clips.jsonl").read_text().splitlines())}
    rows = map(json.loads, (sample_release / "test.jsonl").read_text().splitlines())
    row = next(r for r in rows if r["task_type"] == task)
    return {**row, "video": clips[row["clip_id"]]["video"]}


def test_items_show_the_recorded_question_and_clip(
    eval_run: Path, sample_tvqa_root: Path, sample_release: Path
) -> None:
    expected = _test_instance(sample_release, "audio_to_text")
    page = ViewerApp(eval_run, tvqa_root=str(sample_tvqa_root))
    item = page.item(expected["id"])
    assert item["question"] == expected["question"] and item["options"] == expected["options"]
    assert item["clip"]["url"] == f"/files/tvqa_root/{expected['video']}"
    assert item["raw_output"] == "no idea" and item["extracted"] is None and not item["correct"]
    assert item["biography"] == expected["biography"]


def test_the_media_root_recorded_by_eval_is_served_without_flags(
    eval_run: Path, sample_tvqa_root: Path, sample_release: Path
) -> None:
    meta = json.loads((eval_run / "run.json").read_text())
    assert meta["media_roots"] == {"tvqa_root": str(sample_tvqa_root.resolve()), "media_root": None}
    expected = _test_instance(sample_release, "audio_to_text")
    page = ViewerApp(eval_run)
    assert page.item(expected["id"])["clip"]["url"] == f"/files/tvqa_root/{expected['video']}"
    # only the clips the run used: the test split's; the train split's clips and TVQA's other files are not served
    used = {Path(r["video"]).relative_to(sample_tvqa_root).as_posix() for r in page.records.values()}
    assert expected["video"] in used
    for path in sample_tvqa_root.rglob("*"):
        relative = path.relative_to(sample_tvqa_root).as_posix()
        served = page.files.get("tvqa_root", relative) is not None
        assert served == (relative in used), relative
    assert {u.rsplit("/", 1)[1] for u in page.state()["plots"]} == {"per_task.png", "fixed_groups.png"}
    assert page.files.get("run", "predictions.jsonl") is None and page.files.get("run", "run.json") is None


def _copy_run(eval_run: Path, to: Path, edit_meta=None, edit_record=None) -> Path:
    shutil.copytree(eval_run, to)
    meta = json.loads((to / "run.json").read_text())
    (to / "run.json").write_text(json.dumps(edit_meta(meta) if edit_meta else meta))
    records = [json.loads(line) for line in (to / "predictions.jsonl").read_text().split("\n") if line]
    if edit_record:
        records = [edit_record(r) for r in records]
    (to / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return to


def test_media_that_moved_are_found_under_the_root_given(
    eval_run: Path, sample_tvqa_root: Path, sample_release: Path, tmp_path: Path
) -> None:
    moved = Path(shutil.copytree(sample_tvqa_root / "videos", tmp_path / "moved_tvqa" / "videos"))
    expected = _test_instance(sample_release, "audio_to_text")
    run = _copy_run(eval_run, tmp_path / "run", edit_meta=lambda m: m | {"media_roots": {"tvqa_root": "/gone"}})
    assert ViewerApp(run).item(expected["id"])["clip"]["url"] is None
    shutil.rmtree(tmp_path / "run")
    run = _copy_run(eval_run, tmp_path / "run")
    page = ViewerApp(run, tvqa_root=str(moved.parent))
    url = page.item(expected["id"])["clip"]["url"]
    assert url == f"/files/tvqa_root/{expected['video']}"
    assert page.files.get("tvqa_root", expected["video"]) == (moved.parent / expected["video"]).resolve()


def test_an_older_run_without_a_recorded_root_says_to_pass_one(
    eval_run: Path, sample_release: Path, tmp_path: Path
) -> None:
    expected = _test_instance(sample_release, "audio_to_text")
    run = _copy_run(eval_run, tmp_path / "run", edit_meta=lambda m: {k: v for k, v in m.items() if k != "media_roots"})
    item = ViewerApp(run).item(expected["id"])
    assert item["question"] == expected["question"] and item["clip"]["url"] is None
    assert "--tvqa-root" in item["clip"]["missing"] and expected["clip_id"] in item["clip"]["missing"]


def test_records_without_question_or_clip_are_completed_from_the_dataset(
    eval_run: Path, sample_release: Path, tmp_path: Path
) -> None:
    """An older runner recorded neither: they come from the run's dataset, its clips from the recorded root."""
    expected = _test_instance(sample_release, "audio_to_text")

    def strip(record: dict) -> dict:
        return {k: v for k, v in record.items() if k not in ("question", "video", "audio", "biography")}

    page = ViewerApp(_copy_run(eval_run, tmp_path / "run", edit_record=strip))
    item = page.item(expected["id"])
    assert item["question"] == expected["question"] and item["biography"] == expected["biography"]
    assert item["clip"]["url"] == f"/files/tvqa_root/{expected['video']}" and page.notes == []


def test_records_that_carry_the_question_are_used_as_they_are(eval_run: Path, tmp_path: Path) -> None:
    """If predictions.jsonl records the question and clip (a later runner may), no dataset is read."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("run.json", "metrics.json"):
        (run / name).write_text((eval_run / name).read_text())
    meta = json.loads((run / "run.json").read_text())
    meta["identity"]["dataset"] = str(tmp_path / "gone")  # would fail to load if it were read
    (run / "run.json").write_text(json.dumps(meta))
    records = [json.loads(line) for line in (eval_run / "predictions.jsonl").read_text().splitlines()]
    (run / "media").mkdir()
    (run / "media" / "clip.mp4").write_bytes(b"\x00" * 16)
    for record in records:
        record |= {"question": f"Q of {record['id']}", "video": str(run / "media" / "clip.mp4")}
    (run / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    page = ViewerApp(run)
    item = page.item(records[0]["id"])
    assert item["question"] == f"Q of {records[0]['id']}" and item["clip"]["url"] == "/files/run/media/clip.mp4"


def test_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a `crossomni eval` output folder"):
        ViewerApp(tmp_path)


def test_view_is_a_top_level_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crossomni_cli import app

    result = CliRunner().invoke(app, ["view", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a `crossomni eval` output folder" in " ".join(result.output.replace("│", " ").split())
