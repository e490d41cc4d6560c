"""The lmms-eval task folder: generated from the schema, shipped in the wheel, its hooks, and real lmms-eval runs.

The slow tests run lmms-eval 0.7.3 itself (installed by `make install`) in a subprocess with its built-in
``dummy`` model on the exported sample; lmms-eval exits 0 even when a task fails, so they read the files
it writes, never its exit status.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import av
import pytest
import yaml
from typer.testing import CliRunner

import crossomni
from builder.export import METRIC_DIR, export_release
from crossomni_cli import app
from evaluation.lmms_tasks import TASKS_DIR, TEMPLATE, task_files
from evaluation.prompting import render_prompt

REPO = Path(__file__).resolve().parents[1]
TASK_IDS = [f"crossomni_{name}" for name in crossomni.TASK_NAMES]
GROUPS = ["crossomni", "crossomni_single", "crossomni_cross"]


def load_hooks():
    """``utils.py`` loaded from its file, the way lmms-eval's ``!function utils.NAME`` does."""
    spec = importlib.util.spec_from_file_location("utils", TASKS_DIR / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _IgnoreFunctions(yaml.SafeLoader):
    pass


_IgnoreFunctions.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def read_yaml(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_IgnoreFunctions)


@pytest.fixture(scope="module")
def sample_export(sample_release: Path, sample_tvqa_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample release exported as a Hub-ready folder (reference media under the sample TVQA root)."""
    out = tmp_path_factory.mktemp("lmms_export") / "crossomni"
    export_release(sample_release, out, tvqa_root=sample_tvqa_root)
    return out


# ---------------------------------------------------------------------------------------------- the folder


def test_shipped_yaml_files_are_the_generated_ones():
    shipped = {p.name: p.read_text(encoding="utf-8") for p in TASKS_DIR.iterdir() if p.is_file() and p.suffix != ".py"}
    assert shipped == task_files(), "run `python -m evaluation.lmms_tasks` after changing crossomni.py"


def test_tasks_and_groups_follow_the_taxonomy():
    yamls = {p.stem: read_yaml(p) for p in TASKS_DIR.glob("*.yaml")}
    assert sorted(yamls) == sorted(TASK_IDS + GROUPS)
    for name in crossomni.TASK_NAMES:
        task = yamls[f"crossomni_{name}"]
        assert task["dataset_name"] == name and task["include"] == TEMPLATE
    single, cross, overall = (yamls[g] for g in GROUPS[1:] + GROUPS[:1])
    assert single["task"] == [f"crossomni_{t}" for t in crossomni.SINGLE_TASKS]
    assert cross["task"] == [f"crossomni_{t}" for t in crossomni.CROSS_TASKS]
    assert overall["task"] == ["crossomni_single", "crossomni_cross"]
    # the paper: Single/Cross are unweighted means of task accuracies, Overall is over all instances
    assert [g["aggregate_metric_list"][0]["weight_by_size"] for g in (single, cross, overall)] == [False, False, True]
    template = read_yaml(TASKS_DIR / TEMPLATE)
    assert template["test_split"] == "test" and template["doc_to_target"] == "answer"
    assert template["metric_list"][0]["metric"] == "acc"


def test_wheel_ships_the_task_folder(tmp_path: Path):
    source = tmp_path / "src"
    skip = {".git", ".venv", "build", "dist", "crossomni", "runs", ".pytest_cache", ".ruff_cache"}
    shutil.copytree(
        REPO,
        source,
        ignore=lambda folder, names: [
            n for n in names if n == "__pycache__" or n.endswith(".egg-info") or (Path(folder) == REPO and n in skip)
        ],
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(source),
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("crossomni-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"evaluation/lmms_tasks/crossomni/{p.name}" for p in TASKS_DIR.iterdir() if p.is_file()}
    assert expected - names == set()
    assert "evaluation/lmms_tasks/crossomni/_default_template_yaml" in names


def test_cli_prints_the_folder_and_writes_a_copy_for_another_dataset(
    sample_export: Path, sample_tvqa_root: Path, tmp_path: Path, monkeypatch
):
    runner = CliRunner()
    shipped = runner.invoke(app, ["lmms-tasks"])
    assert shipped.exit_code == 0, shipped.output
    assert shipped.output.strip() == str(TASKS_DIR)

    monkeypatch.setenv("CROSSOMNI_MEDIA_ROOT", str(sample_tvqa_root))
    copy = runner.invoke(app, ["lmms-tasks", "--dataset", str(sample_export), "--out", str(tmp_path / "tasks")])
    assert copy.exit_code == 0, copy.output
    folder = Path(copy.output.strip())
    assert folder == tmp_path / "tasks"
    assert read_yaml(folder / TEMPLATE)["dataset_path"] == str(sample_export.resolve())
    assert (folder / "utils.py").read_bytes() == (TASKS_DIR / "utils.py").read_bytes()
    assert sorted(p.stem for p in folder.glob("*.yaml")) == sorted(TASK_IDS + GROUPS)

    # a Hub dataset is checked where lmms-eval runs (offline here: --no-check-media)
    hub_args = ["lmms-tasks", "--dataset", "ORG/crossomni", "--no-check-media"]
    hub = runner.invoke(app, [*hub_args, "--out", str(tmp_path / "hub")])
    assert read_yaml(Path(hub.output.strip()) / TEMPLATE)["dataset_path"] == "ORG/crossomni"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = [runner.invoke(app, hub_args).output.strip() for _ in range(2)]
    assert cached[0] == cached[1] and Path(cached[0]).parent == tmp_path / "cache" / "crossomni" / "lmms_tasks"
    assert read_yaml(Path(cached[0]) / TEMPLATE)["dataset_path"] == "ORG/crossomni"

    typo = runner.invoke(app, ["lmms-tasks", "--dataset", str(tmp_path / "no_such_export")])
    assert typo.exit_code != 0 and "neither an exported dataset folder nor a Hub id" in typo.output


def test_cli_checks_every_clip_under_the_media_root_first(
    sample_export: Path, sample_tvqa_root: Path, tmp_path, monkeypatch
):
    """A wrong root is one line naming the first missing clip and how many are missing, exit 1, no folder printed
    (lmms-eval itself would print a traceback, write no results and exit 0)."""
    import shutil

    from evaluation.lmms_tasks import check_media

    root = Path(shutil.copytree(sample_tvqa_root, tmp_path / "tvqa"))
    monkeypatch.setenv("CROSSOMNI_MEDIA_ROOT", str(root))
    clips = check_media(str(sample_export))
    assert clips >= 2
    missing = sorted((root / "videos").glob("*.mp4"))
    for clip in missing:
        clip.unlink()
    with pytest.raises(FileNotFoundError, match=rf"not found under CROSSOMNI_MEDIA_ROOT=.* \({clips} of {clips} clips"):
        check_media(str(sample_export))
    result = CliRunner().invoke(app, ["lmms-tasks", "--dataset", str(sample_export), "--out", str(tmp_path / "t")])
    assert isinstance(result.exception, FileNotFoundError) and result.output == "" and not (tmp_path / "t").exists()
    monkeypatch.delenv("CROSSOMNI_MEDIA_ROOT")
    with pytest.raises(FileNotFoundError, match="set CROSSOMNI_MEDIA_ROOT"):
        check_media(str(sample_export))
    skipped = CliRunner().invoke(app, ["lmms-tasks", "--dataset", str(sample_export), "--no-check-media"])
    assert skipped.exit_code == 0, skipped.output


# ----------------------------------------------------------------------------------------------- the hooks


@pytest.fixture(scope="module")
def test_docs(sample_export: Path):
    from datasets import load_dataset

    return load_dataset(str(sample_export), "all", split="test")


def test_process_docs_resolves_each_clip_to_its_mp4_with_audio(test_docs, sample_tvqa_root, monkeypatch):
    hooks = load_hooks()
    monkeypatch.setenv("CROSSOMNI_MEDIA_ROOT", str(sample_tvqa_root))
    docs = hooks.process_docs(test_docs)
    assert "video" not in docs.column_names and "audio" not in docs.column_names
    assert len(docs) == len(test_docs) == 18
    root = sample_tvqa_root.resolve()
    for doc in docs:
        (path,) = hooks.doc_to_visual(doc)
        assert Path(path).is_absolute() and Path(path).resolve().is_relative_to(root)
        assert Path(path).name == f"{doc['clip_id']}.mp4"
    with av.open(hooks.doc_to_visual(docs[0])[0]) as container:
        assert container.streams.video and container.streams.audio


def test_doc_to_text_is_the_default_prompt_of_crossomni_eval(test_docs, sample_tvqa_root, monkeypatch):
    hooks = load_hooks()
    monkeypatch.setenv("CROSSOMNI_MEDIA_ROOT", str(sample_tvqa_root))
    doc = hooks.process_docs(test_docs)[3]
    text = hooks.doc_to_text(doc, {"prompting": "default", "prompt_version": "v1"})
    assert text == render_prompt(doc, "default", "v1")
    assert doc["question"] in text
    assert all(f"{letter}. {option}" in text for letter, option in zip("ABCD", doc["options"], strict=True))


def test_process_results_reads_the_letter_and_logs_task_clip_and_letter(test_docs, sample_tvqa_root, monkeypatch):
    hooks = load_hooks()
    monkeypatch.setenv("CROSSOMNI_MEDIA_ROOT", str(sample_tvqa_root))
    doc = hooks.process_docs(test_docs)[0]
    wrong = "C" if doc["answer"] != "C" else "D"
    response = f"<think>maybe {wrong}</think> The answer is ({doc['answer'].lower()})."
    right = hooks.process_results(doc, [response])["acc"]
    assert right == {
        "id": doc["id"],
        "task": crossomni.TASK_NAMES[doc["task_type"]],
        "clip_id": doc["clip_id"],
        "answer": doc["answer"],
        "extracted": doc["answer"],
        "correct": True,
    }
    by_text = hooks.process_results(doc, [f"I think: {doc['options'][ord(wrong) - 65]}"])["acc"]
    assert (by_text["extracted"], by_text["correct"]) == (wrong, False)
    unreadable = hooks.process_results(doc, ["I cannot tell."])["acc"]
    assert (unreadable["extracted"], unreadable["correct"]) == (None, False)
    assert hooks.accuracy([right, by_text, unreadable]) == pytest.approx(1 / 3)


def test_media_paths_must_stay_inside_the_root(tmp_path: Path, monkeypatch):
    hooks = load_hooks()
    root = tmp_path / "root"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "a.mp4").write_bytes(b"x")
    (tmp_path / "outside.mp4").write_bytes(b"x")
    ref = lambda path: {"path": path, "bytes": None}  # noqa: E731
    assert hooks.clip_media_path("a", ref("videos/a.mp4"), ref("videos/a.mp4"), root) == str(root / "videos/a.mp4")
    for escape in ("../outside.mp4", "videos/../../outside.mp4", str(tmp_path / "outside.mp4")):
        with pytest.raises(ValueError, match=r"clip a: media path .* leaves the media root"):
            hooks.clip_media_path("a", ref(escape), ref(escape), root)
    with pytest.raises(FileNotFoundError, match=r"clip b: media file 'videos/b.mp4' not found under"):
        hooks.clip_media_path("b", ref("videos/b.mp4"), ref("videos/b.mp4"), root)
    with pytest.raises(ValueError, match="set CROSSOMNI_MEDIA_ROOT"):
        hooks.clip_media_path("a", ref("videos/a.mp4"), ref("videos/a.mp4"), None)
    with pytest.raises(ValueError, match=r"clip a: audio 'audio/a.wav' is not the video's own track"):
        hooks.clip_media_path("a", ref("videos/a.mp4"), ref("audio/a.wav"), root)
    monkeypatch.setenv("CROSSOMNI_MEDIA_ROOT", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"CROSSOMNI_MEDIA_ROOT=.*missing: not a folder"):
        hooks.media_root()


def test_embedded_clips_are_written_once_to_a_file(tmp_path: Path, monkeypatch):
    hooks = load_hooks()
    monkeypatch.setattr(hooks, "EMBED_CACHE", tmp_path / "cache")
    media = {"path": "a.mp4", "bytes": b"mp4 bytes"}
    first = hooks.clip_media_path("a", media, dict(media), None)
    assert Path(first).read_bytes() == b"mp4 bytes" and Path(first).suffix == ".mp4"
    assert hooks.clip_media_path("a", media, dict(media), None) == first
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_embed_export_needs_no_media_root(sample_release, sample_tvqa_root, tmp_path: Path, monkeypatch):
    from datasets import load_dataset

    hooks = load_hooks()
    monkeypatch.setattr(hooks, "EMBED_CACHE", tmp_path / "cache")
    monkeypatch.delenv("CROSSOMNI_MEDIA_ROOT", raising=False)
    export_release(sample_release, tmp_path / "embedded", tvqa_root=sample_tvqa_root, media="embed", configs=("audio",))
    docs = hooks.process_docs(load_dataset(str(tmp_path / "embedded"), "audio", split="test"))
    for doc in docs:
        (path,) = hooks.doc_to_visual(doc)
        original = sample_tvqa_root / "videos" / f"{doc['clip_id']}.mp4"
        assert Path(path).parent == tmp_path / "cache" and Path(path).read_bytes() == original.read_bytes()


# ------------------------------------------------------------------------------------ lmms-eval itself


def lmms_eval(args: list[str], cwd: Path, media_root: Path | None) -> subprocess.CompletedProcess:
    """``python -m lmms_eval ARGS`` offline, with this checkout's code and a private Hugging Face cache."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(cwd / "hf_home"),
    }
    env.pop("CROSSOMNI_MEDIA_ROOT", None)
    if media_root is not None:
        env["CROSSOMNI_MEDIA_ROOT"] = str(media_root)
    result = subprocess.run(
        [sys.executable, "-m", "lmms_eval", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if "No module named lmms_eval" in result.stderr:
        pytest.fail("lmms-eval is not installed: `make install` installs it (pip install lmms-eval==0.7.3 --no-deps)")
    return result


def configured_tasks(dataset: Path, out: Path, media_root: Path) -> Path:
    """`crossomni lmms-tasks --dataset ...` as a user runs it (it checks the clips under the root); its folder."""
    printed = subprocess.run(
        [sys.executable, "-m", "crossomni_cli", "lmms-tasks", "--dataset", str(dataset), "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "CROSSOMNI_MEDIA_ROOT": str(media_root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(printed.stdout.strip())


@pytest.mark.slow
def test_lmms_eval_lists_the_group_and_the_nine_tasks(tmp_path: Path):
    result = lmms_eval(["--tasks", "list", "--include_path", str(TASKS_DIR)], tmp_path, None)
    listed = {
        line.strip()[2:] for line in (result.stdout + result.stderr).splitlines() if line.strip().startswith("- ")
    }
    assert set(TASK_IDS + GROUPS) <= listed, result.stderr[-2000:]


@pytest.mark.slow
def test_dummy_model_run_matches_crossomni_acc(sample_export: Path, sample_tvqa_root: Path, test_docs, tmp_path: Path):
    import evaluate

    tasks = configured_tasks(sample_export, tmp_path / "tasks", sample_tvqa_root)
    run = tmp_path / "run"  # no ./crossomni here: lmms-eval would read `--tasks crossomni` as that folder
    run.mkdir()
    args = ["--include_path", str(tasks), "--tasks", "crossomni", "--model", "dummy"]
    # read_bytes: the dummy model opens every path doc_to_visual hands over (and fails on a missing one)
    args += ["--model_args", "response=B,read_bytes=16", "--log_samples", "--output_path", "out"]
    result = lmms_eval(args, run, sample_tvqa_root)
    found = list((run / "out").rglob("*_results.json"))
    assert len(found) == 1, result.stderr[-3000:]
    report = json.loads(found[0].read_text(encoding="utf-8"))
    assert report["group_subtasks"]["crossomni"] == ["crossomni_single", "crossomni_cross"]

    samples = []
    for task_id in TASK_IDS:
        (path,) = (run / "out").rglob(f"*_samples_{task_id}.jsonl")
        samples += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    records = [sample["acc"] for sample in samples]
    assert sorted(r["id"] for r in records) == sorted(test_docs["id"])
    assert {r["extracted"] for r in records} == {"B"}
    assert Counter(r["task"] for r in records) == dict.fromkeys(crossomni.TASK_NAMES, 2)

    ours = evaluate.load(str(METRIC_DIR)).compute(
        predictions=[sample["filtered_resps"] for sample in samples],
        references=[sample["target"] for sample in samples],
        task_types=[record["task"] for record in records],
        clip_ids=[record["clip_id"] for record in records],
    )
    # what a careful human computes: the share of answers that are B, per task
    answers = {}
    for record in records:
        answers.setdefault(record["task"], []).append(record["answer"])
    by_hand = {task: letters.count("B") / len(letters) for task, letters in answers.items()}
    lmms = report["results"]
    for name in crossomni.TASK_NAMES:
        assert lmms[f"crossomni_{name}"]["acc,none"] == pytest.approx(ours[name]) == pytest.approx(by_hand[name])
    assert lmms["crossomni_single"]["acc,none"] == pytest.approx(ours["single"])
    assert lmms["crossomni_cross"]["acc,none"] == pytest.approx(ours["cross"])
    assert lmms["crossomni"]["acc,none"] == pytest.approx(ours["overall"])
    assert ours["single"] != pytest.approx(ours["overall"])  # the sample tells macro and micro apart


@pytest.mark.slow
def test_wrong_media_root_fails_loudly(sample_export: Path, sample_tvqa_root: Path, tmp_path: Path):
    """Inside lmms-eval (a root that changed after `crossomni lmms-tasks` checked it): process_docs names the clip."""
    tasks = configured_tasks(sample_export, tmp_path / "tasks", sample_tvqa_root)
    wrong_root = tmp_path / "not_tvqa"
    wrong_root.mkdir()
    args = ["--include_path", str(tasks), "--tasks", "crossomni_audio", "--model", "dummy"]
    args += ["--model_args", "response=B", "--output_path", "out"]
    result = lmms_eval(args, tmp_path, wrong_root)
    assert not list(tmp_path.glob("out/**/*_results.json"))
    assert f"not found under CROSSOMNI_MEDIA_ROOT={wrong_root}" in result.stderr
    assert "media file 'videos/" in result.stderr
