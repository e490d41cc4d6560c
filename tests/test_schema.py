"""The task taxonomy and configs in crossomni.py are the paper's: 9 tasks, 3 single, 6 cross."""

import pytest

import crossomni


def test_nine_tasks_three_single_six_cross():
    assert len(crossomni.TASK_TYPES) == 9
    assert set(crossomni.SINGLE_TASKS) == {"audio", "vision", "text"}
    assert set(crossomni.CROSS_TASKS) == {
        "audio_to_text",
        "audio_to_vision",
        "text_to_audio",
        "text_to_vision",
        "vision_to_audio",
        "vision_to_text",
    }
    # every (source, target) pair occurs exactly once
    pairs = {(t.source, t.target) for t in crossomni.TASK_TYPES}
    assert pairs == {(s, t) for s in crossomni.MODALITIES for t in crossomni.MODALITIES}


def test_task_lookup_and_labels():
    assert crossomni.task_for("vision", "text").name == "vision_to_text"
    assert crossomni.TASKS["audio_to_text"].short == "Au→Te"
    assert crossomni.TASKS["text"].short == "Te"
    with pytest.raises(ValueError, match="unknown task type 'smell'"):
        crossomni.get_task("smell")
    with pytest.raises(ValueError, match="unknown modality"):
        crossomni.task_for("audio", "smell")


def test_paper_groups_cover_every_task_once():
    grouped = [t for group in crossomni.PAPER_COLUMN_GROUPS.values() for t in group]
    assert sorted(grouped) == sorted(crossomni.TASK_NAMES)
    for group, tasks in zip(("audio", "text", "vision"), crossomni.PAPER_COLUMN_GROUPS.values(), strict=True):
        assert all(crossomni.TASKS[t].source == group for t in tasks)


def test_configs():
    assert crossomni.CONFIG_NAMES[:3] == ("all", "single", "cross")
    assert set(crossomni.CONFIG_NAMES[3:]) == set(crossomni.TASK_NAMES)
    assert crossomni.CONFIG_TASKS["cross"] == crossomni.CROSS_TASKS
    builder_names = [c.name for c in crossomni.CrossOmni.BUILDER_CONFIGS]
    assert builder_names == list(crossomni.CONFIG_NAMES)
    with pytest.raises(ValueError, match="unknown task type"):
        crossomni.CrossOmniConfig(name="bad", task_types=("audio", "taste"))


def test_features_have_every_field():
    features = crossomni.FEATURES
    for name in (
        "id",
        "clip_id",
        "show",
        "start",
        "end",
        "video",
        "audio",
        "biography",
        "question",
        "options",
        "answer",
        "rationale",
        "task_type",
        "source_modality",
        "target_modality",
        "is_cross",
        "referent",
    ):
        assert name in features
    assert features["audio"].sampling_rate == 16_000
    assert features["options"].length == 4
    assert features["task_type"].names == list(crossomni.TASK_NAMES)


def test_episode_of_tvqa_names():
    assert crossomni.episode_of("friends_s01e01_seg02_clip_14") == "friends_s01e01"
    assert crossomni.episode_of("s01e01_seg01_clip_00") == "s01e01"


def test_the_taxonomy_imports_without_datasets_or_pydantic():
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, crossomni, builder.config; "
        "print(sorted(m for m in ('datasets', 'pydantic', 'torch', 'pyarrow') if m in sys.modules)); "
        "crossomni.FEATURES; from crossomni import Clip, CrossOmni; print('datasets' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.split("\n")[:2] == ["[]", "True"]
