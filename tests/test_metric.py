"""The crossomni_acc metric: hand-computed aggregates, parse failures, bad inputs, doctests, evaluate.load."""

from __future__ import annotations

import doctest
import math
import shutil
import sys
import tracemalloc

import numpy as np
import pytest

from builder.export import METRIC_DIR
from crossomni import CROSS_TASKS, LETTERS, SINGLE_TASKS, TASK_NAMES
from evaluation.crossomni_acc.answer_extraction import extract_choice
from evaluation.crossomni_acc.scoring import _replicates, bare_letters, read_choices, score


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
    with pytest.raises(ValueError, match="got 1 predictions but 2 references"):
        metric.compute(predictions=["A"], references=["A", "B"], task_types=["audio", "text"])


def _same(a: dict, b: dict) -> bool:
    """Equal metric dicts, NaN equal to NaN."""
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


VALID = {"predictions": ["A", "B", "C"], "references": ["A", "A", "C"], "task_types": ["audio", "text", "vision"]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"task_types": [0, 1, 99]}, "task_types\\[2\\]: class index 99"),
        # evaluate picked its int32 feature format from the first value and kept it after the error
        ({"task_types": [0, "vision_to_smell", 2]}, "task_types\\[1\\]: unknown task type"),
        ({"task_types": ["audio", [1], "text"]}, "task_types\\[1\\]"),
        ({"task_types": ["audio", True, "text"]}, "task_types\\[1\\]"),
        ({"references": ["A", "Z", "C"]}, "references\\[1\\]"),
        ({"predictions": ["A", 3, "C"]}, "predictions\\[1\\]"),
        ({"predictions": [], "references": [], "task_types": []}, "empty"),
        ({"n_bootstrap": 0}, "n_bootstrap"),
        ({"n_bootstrap": 2.5}, "n_bootstrap"),
        ({"confidence_level": 1.5}, "confidence_level"),
        ({"options": [["a", "b", "c", "d"], ["a", 2, "c", "d"], None]}, "options\\[1\\]\\[1\\]"),
        ({"options": ["abcd", None, None]}, "options\\[0\\]"),
        ({"clip_ids": ["c1", None, "c2"]}, "clip_ids\\[1\\]"),
        ({"clip_ids": ["c1", "c2"]}, "2 clip_ids"),
    ],
)
def test_a_bad_call_is_a_value_error_and_does_not_poison_the_next(metric, bad, message):
    with pytest.raises(ValueError, match=message):
        metric.compute(**{**VALID, **bad})
    with pytest.raises(ValueError, match=message):
        score(**{**VALID, **bad})
    # the same module object still scores valid calls, with names and with class indices
    by_name = metric.compute(**VALID, confidence_level=None)
    by_index = metric.compute(**{**VALID, "task_types": [0, 2, 1]}, confidence_level=None)
    assert _same(by_name, by_index)
    assert by_name["overall"] == pytest.approx(2 / 3) and by_name["text"] == 0.0


def test_none_is_a_parse_failure_anywhere(metric):
    for predictions in ([None, "B", "C"], ["A", None, "C"], [None, None, None]):
        expected = score(predictions, VALID["references"], VALID["task_types"], confidence_level=None)
        assert expected["parse_failures"] == predictions.count(None)
        through_evaluate = metric.compute(
            predictions=predictions,
            references=VALID["references"],
            task_types=VALID["task_types"],
            confidence_level=None,
        )
        assert _same(through_evaluate, expected)
    assert expected["overall"] == 0.0 and expected["parse_failure_rate"] == 1.0


def test_add_batch_accumulates_with_indices_and_none(metric):
    metric.add_batch(predictions=[None, "B"], references=["A", "B"], task_types=[0, "text"])
    metric.add(prediction="The answer is (C).", reference="C", task_types=1)
    results = metric.compute(confidence_level=None)
    assert results["count"] == 3 and results["parse_failures"] == 1
    assert results["audio"] == 0.0 and results["text"] == 1.0 and results["vision"] == 1.0


def test_fast_bare_letter_path_returns_what_the_reader_returns():
    """Every bare-letter form, padded, among raw outputs: the lookup and the regex reader agree item by item."""
    options = ["stage actor", "pastry chef", "nurse", "B"]  # an option whose text is itself a letter
    bare = list(bare_letters("ABCD"))
    mixed = [f"{pad}{text}{pad}" for text in bare for pad in ("", " ", "\n", " \t")]
    mixed += ["E", "e.", "(A", "B)", "**B**", "b!", "a pastry chef", "A nurse.", "The answer is (b).", "", " ", "a"]
    mixed += ["<think>A</think>c", "D. nurse", "(c) or (d)", "B\nC", "answer: d", "Answer: A.", "I choose c", "x"]
    with_options = [options if i % 2 else None for i in range(len(mixed))]
    fast = read_choices(mixed, with_options, LETTERS, fast=True)
    general = [extract_choice(text, opts, LETTERS) for text, opts in zip(mixed, with_options, strict=True)]
    assert fast == general
    assert read_choices(mixed, with_options, LETTERS, fast=False) == general
    assert fast[:4] == ["A"] * 4 and fast.count(None) >= 3
    generic = read_choices(["E", " e. ", "(b)"], [["p", "q", "r", "s", "t"]] * 3, letters=None)
    assert generic == ["E", "E", "B"]


def test_exact_interval_for_independent_items():
    # the percentile bootstrap of 50/100 tends to the quantiles of Binomial(100, 0.5)/100: 40 and 60
    predictions = ["A"] * 50 + ["B"] * 50
    results = score(predictions, ["A"] * 100, ["text"] * 100)
    assert (results["ci_low_overall"], results["ci_high_overall"]) == (0.40, 0.60)
    distinct_clips = score(predictions, ["A"] * 100, ["text"] * 100, clip_ids=[f"c{i}" for i in range(100)])
    assert distinct_clips == results
    assert score(["A"] * 10, ["A"] * 10, ["text"] * 10)["ci_low_overall"] == 1.0


def test_cluster_kind_bootstrap_matches_resampling_clips():
    """Resampling by (hits, size) kinds has the distribution of resampling the clips themselves."""
    generator = np.random.default_rng(7)
    sizes = generator.integers(1, 10, size=400)
    hits = generator.binomial(sizes, 0.6)
    kinds = _replicates(hits, sizes, 20_000, np.random.default_rng(1))
    picks = np.random.default_rng(2).integers(0, len(sizes), size=(20_000, len(sizes)))
    direct = hits[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    for q in (0.025, 0.5, 0.975):
        assert np.quantile(kinds, q) == pytest.approx(np.quantile(direct, q), abs=0.004)
    assert kinds.std() == pytest.approx(direct.std(), rel=0.05)
    # every clip its own kind: clips are drawn directly, a bounded block of replicates at a time
    sizes, hits = np.arange(1, 61), np.arange(1, 61) // 3
    drawn = _replicates(hits, sizes, 20_000, np.random.default_rng(3))
    picks = np.random.default_rng(4).integers(0, 60, size=(20_000, 60))
    direct = hits[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    assert np.quantile(drawn, 0.975) == pytest.approx(np.quantile(direct, 0.975), abs=0.004)


def test_interval_without_clips_allocates_no_replicate_matrix():
    n = 200_000
    predictions = ["A", "B", "A", "A"] * (n // 4)
    references, tasks = ["A"] * n, ["vision"] * n
    tracemalloc.start()
    results = score(predictions, references, tasks)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert results["ci_low_overall"] < 0.75 < results["ci_high_overall"]
    assert peak < 40 * 2**20  # a 1000 x n index matrix alone would be 1.6 GB


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


def test_compute_scores_as_the_arrow_cache_path_does(metric):
    """``compute(predictions=...)`` scores the columns directly; feeding them through ``add_batch`` (evaluate's
    Arrow cache) gives the same result, and batches added before a ``compute(predictions=...)`` still count."""
    import math

    predictions = [None, "B", " c.", "The answer is (d).", "", "<think>A?</think> B", "I cannot tell.", "nurse"]
    references = ["A", "b", "C", "D", "A", "B", "C", "C"]
    task_types = [0, "text", "vision_to_audio", 3, "text", "audio", 8, "vision"]
    clip_ids = ["c1", "c1", "c2", "c2", "c3", "c3", "c4", "c4"]
    options = [["x", "y", "z", "w"]] * 7 + [["stage actor", "pastry chef", "nurse", "data analyst"]]
    columns = {"predictions": predictions, "references": references, "task_types": task_types}
    extra = {"clip_ids": clip_ids, "options": options, "n_bootstrap": 200}
    direct = metric.compute(**columns, **extra)
    metric.add_batch(**columns)
    cached = metric.compute(**extra)
    assert direct.keys() == cached.keys()
    for key, value in direct.items():
        assert (math.isnan(value) and math.isnan(cached[key])) or value == cached[key], key
    assert direct["count"] == 8 and direct["parse_failures"] == 3 and direct["vision"] == 1.0
    metric.add_batch(predictions=["A"], references=["A"], task_types=["audio"])
    combined = metric.compute(predictions=["B"], references=["A"], task_types=["audio"], confidence_level=None)
    assert combined["count"] == 2 and combined["audio"] == 0.5


def test_the_metric_folder_imports_only_evaluate_datasets_numpy_and_the_stdlib():
    import ast

    allowed = {"evaluate", "datasets", "numpy", "__future__"} | set(sys.stdlib_module_names)
    siblings = {path.stem for path in METRIC_DIR.glob("*.py")}
    for path in METRIC_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if not node.level else []
                assert node.level == 0 or (node.module or "").split(".")[0] in siblings, (path.name, node.module)
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_the_metric_taxonomy_equals_the_schema():
    from builder.export import metric_taxonomy_problems
    from evaluation.crossomni_acc import taxonomy

    assert metric_taxonomy_problems() == []
    assert taxonomy.TASK_NAMES == TASK_NAMES and taxonomy.LETTERS == LETTERS
    assert taxonomy.SINGLE_TASKS == SINGLE_TASKS and taxonomy.CROSS_TASKS == CROSS_TASKS


def test_export_refuses_a_metric_whose_taxonomy_drifted(tmp_path, monkeypatch):
    from builder.export import export_metric
    from evaluation.crossomni_acc import taxonomy

    monkeypatch.setattr(taxonomy, "TASK_NAMES", (*taxonomy.TASK_NAMES[1:], taxonomy.TASK_NAMES[0]))
    with pytest.raises(RuntimeError, match="TASK_NAMES"):
        export_metric(tmp_path / "out")
    assert not (tmp_path / "out").exists()


# A process where this project cannot be imported, as on a machine with only `pip install evaluate`.
_WITHOUT_PROJECT = r"""
import importlib.abc, json, sys
BLOCKED = {"crossomni", "crossomni_cli", "builder", "evaluation", "model_calls", "training", "model_cards"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
        return None

sys.meta_path.insert(0, Block())
sys.path = [p for p in sys.path if p not in ("", ".", sys.argv[1])]
import evaluate
try:
    import crossomni
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("crossomni is importable")
inputs = json.loads(open(sys.argv[2], encoding="utf-8").read())
results = [evaluate.load(folder).compute(**inputs) for folder in sys.argv[3:]]
print(json.dumps(results))
"""


def test_the_exported_metric_loads_and_scores_without_this_project(tmp_path):
    import json
    import os
    import subprocess

    from builder.export import export_metric
    from tests.test_answer_shapes import ROWS
    from tests.test_extraction import TABLE

    exported = export_metric(tmp_path / "crossomni_acc")
    # both answer tables: this project's shapes and the public ones (those of four-option questions)
    table = [(text, options) for text, options, _ in TABLE]
    table += [(r["text"], r["options"]) for r in ROWS if len(r["options"] or r.get("letters") or "ABCD") == 4]
    inputs = {
        "predictions": [text for text, _ in table],
        "references": ["ABCD"[i % 4] for i in range(len(table))],
        "task_types": [TASK_NAMES[i % 9] for i in range(len(table))],
        "clip_ids": [f"clip_{i // 3}" for i in range(len(table))],
        "options": [list(options) if options else None for _, options in table],
    }
    (tmp_path / "inputs.json").write_text(json.dumps(inputs), encoding="utf-8")
    repo = str(METRIC_DIR.parents[1])
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env |= {"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PROJECT, repo, str(tmp_path / "inputs.json"), str(exported), str(METRIC_DIR)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    from_export, from_repo = json.loads(run.stdout.strip().splitlines()[-1])
    expected = score(**inputs)
    assert expected["parse_failures"] < len(table) and expected["overall"] > 0
    for results in (from_export, from_repo):
        assert results.keys() == expected.keys()
        for key, value in expected.items():
            assert results[key] == pytest.approx(value, nan_ok=True), key
