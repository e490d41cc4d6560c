"""The crossomni_acc metric: hand-computed aggregates, parse failures, bad inputs, doctests, evaluate.load."""

from __future__ import annotations

import doctest
import math
import shutil
import sys

import pytest

from builder.export import METRIC_DIR
from crossomni import CROSS_TASKS, SINGLE_TASKS, TASK_NAMES
from evaluation.crossomni_acc.scoring import score


@pytest.fixture(scope="module")
def metric():
    import evaluate

    return evaluate.load(str(METRIC_DIR))


def _unbalanced():
    """Text has 10 instances (all right), every other task one; five of those eight are wrong."""
    tasks = ["text"] * 10 + [name for name in TASK_NAMES if name != "text"]
    references = ["C"] * len(tasks)
    right = {"text", "audio", "audio_to_text", "text_to_vision"}
    predictions = ["C" if task in right else "A" for task in tasks]
    return predictions, references, tasks


def test_macro_single_and_cross_differ_from_micro_overall(metric):
    predictions, references, tasks = _unbalanced()
    results = metric.compute(predictions=predictions, references=references, task_types=tasks)
    # by hand: 13 of 18 instances right; single = (audio 1 + vision 0 + text 1) / 3; cross = 2 of 6 tasks
    assert results["overall"] == pytest.approx(13 / 18)
    assert results["single"] == pytest.approx(2 / 3)
    assert results["cross"] == pytest.approx(2 / 6)
    mean_of_nine = sum(results[name] for name in TASK_NAMES) / 9
    assert mean_of_nine == pytest.approx(4 / 9)
    assert results["overall"] != pytest.approx(mean_of_nine)
    assert results["count_text"] == 10 and results["count"] == 18
    assert results["fixed_source_audio"] == pytest.approx(0.5)  # audio_to_text 1, audio_to_vision 0
    assert results["fixed_source_text"] == pytest.approx(0.5)  # text_to_vision 1, text_to_audio 0
    assert results["fixed_source_vision"] == 0.0
    assert results["fixed_target_text"] == pytest.approx(0.5)  # audio_to_text 1, vision_to_text 0
    assert results["fixed_target_vision"] == pytest.approx(0.5)  # text_to_vision 1, audio_to_vision 0
    assert results["fixed_target_audio"] == 0.0
    assert all(type(value) in (int, float) for value in results.values())


def test_paper_average_row_aggregates():
    """Table 5's average row: single/cross are unweighted means of the task columns."""
    paper = {"audio": 46.89, "text": 64.36, "vision": 55.82, "audio_to_text": 45.97, "audio_to_vision": 41.77}
    paper |= {"text_to_audio": 35.94, "text_to_vision": 47.84, "vision_to_audio": 32.58, "vision_to_text": 48.60}
    assert sum(paper[t] for t in SINGLE_TASKS) / 3 == pytest.approx(55.69, abs=0.01)
    assert sum(paper[t] for t in CROSS_TASKS) / 6 == pytest.approx(42.12, abs=0.01)


def test_parse_failures_count_as_wrong(metric):
    results = metric.compute(
        predictions=["I am not sure.", None, "answer: b", "The correct answer is (B)"],
        references=["A", "A", "B", "B"],
        task_types=["audio", "audio", "vision", "text"],
        confidence_level=None,
    )
    assert results["audio"] == 0.0 and results["vision"] == 1.0 and results["text"] == 1.0
    assert results["parse_failures"] == 2 and results["parse_failure_rate"] == 0.5
    assert results["overall"] == 0.5
    assert "ci_low_overall" not in results


def test_missing_task_makes_its_aggregates_nan(metric):
    results = metric.compute(predictions=["A", "A"], references=["A", "B"], task_types=["audio", "vision_to_text"])
    assert math.isnan(results["text"]) and results["count_text"] == 0
    assert math.isnan(results["single"]) and math.isnan(results["cross"])
    assert math.isnan(results["fixed_source_vision"])
    assert results["overall"] == 0.5


def test_class_label_indices_are_accepted(metric):
    by_index = metric.compute(predictions=["A", "B"], references=["A", "A"], task_types=[0, 8])
    assert by_index["audio"] == 1.0 and by_index["vision_to_text"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"predictions": ["A"], "references": ["A", "B"], "task_types": ["audio", "audio"]}, "predictions"),
        ({"predictions": ["A"], "references": ["E"], "task_types": ["audio"]}, "references\\[0\\]"),
        ({"predictions": ["A"], "references": [""], "task_types": ["audio"]}, "references\\[0\\]"),
        ({"predictions": ["A"], "references": ["A"], "task_types": ["audio_to_smell"]}, "audio_to_smell"),
        ({"predictions": ["A"], "references": ["A"], "task_types": ["audio"], "clip_ids": ["a", "b"]}, "clip_ids"),
        ({"predictions": [], "references": [], "task_types": []}, "empty"),
    ],
)
def test_bad_inputs_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        score(**kwargs)


def test_mismatched_lengths_through_evaluate(metric):
    with pytest.raises(ValueError, match="Mismatch"):
        metric.compute(predictions=["A"], references=["A", "B"], task_types=["audio", "text"])


def test_clustered_interval_is_reproducible_and_wider_than_iid():
    # 10 clips of 10 questions each; a clip is either all right or all wrong: strongly clustered
    clips = [f"clip_{i // 10}" for i in range(100)]
    references = ["A"] * 100
    predictions = ["A" if (i // 10) % 2 == 0 else "B" for i in range(100)]
    tasks = ["vision"] * 100
    clustered = score(predictions, references, tasks, clip_ids=clips)
    iid = score(predictions, references, tasks)
    assert clustered["ci_low_overall"] <= 0.5 <= clustered["ci_high_overall"]
    width = clustered["ci_high_overall"] - clustered["ci_low_overall"]
    assert width > 1.5 * (iid["ci_high_overall"] - iid["ci_low_overall"])
    assert score(predictions, references, tasks, clip_ids=clips) == clustered


def test_kwargs_doctests_run_with_the_bare_name(tmp_path, monkeypatch):
    """The _KWARGS_DESCRIPTION examples use evaluate.load("crossomni_acc") from a folder holding a copy."""
    import evaluate

    shutil.copytree(METRIC_DIR, tmp_path / "crossomni_acc")
    monkeypatch.chdir(tmp_path)
    loaded = evaluate.load("crossomni_acc")
    module = sys.modules[type(loaded).__module__]
    parser = doctest.DocTestParser()
    test = parser.get_doctest(module._KWARGS_DESCRIPTION, {"evaluate": evaluate}, "crossomni_acc", None, 0)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_extraction_doctests():
    from evaluation.crossomni_acc import answer_extraction

    assert doctest.testmod(answer_extraction).failed == 0
