"""Paper reference data, the paper-layout table, compare, and the generic multiple-choice adapter."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from PIL import Image

from crossomni import PAPER_COLUMN_GROUPS, TASK_NAMES, TASKS
from evaluation.compare import compare_runs
from evaluation.crossomni_acc.scoring import task_intervals
from evaluation.items import MCQColumns, PreflightError, mcq_items
from evaluation.reference import find_paper_rows, paper_rows
from evaluation.report import headline, paper_table, plot_fixed_groups, plot_per_task, write_run_report
from evaluation.runlog import restore_nan
from evaluation.runner import EvalConfig, run_eval
from model_calls import ModelResponse


@pytest.mark.parametrize(
    ("method", "single", "cross", "overall"),
    [("default", 55.69, 42.12, 46.01), ("cot", 55.52, 43.56, 46.83), ("icl", 57.29, 50.98, 52.63)],
)
def test_paper_rows_reproduce_table_6(method, single, cross, overall):
    rows = [row for row in find_paper_rows(method=method) if row.model != "Average"]
    assert len(rows) == 13
    (average,) = find_paper_rows("Average", method)
    for key in (*TASK_NAMES, "overall"):  # the transcription: the Average row is the mean of the 13 rows
        assert sum(row.metrics[key] for row in rows) / 13 == pytest.approx(average.metrics[key], abs=1.5e-4)
    assert 100 * average.metrics["single"] == pytest.approx(single, abs=0.01)
    assert 100 * average.metrics["cross"] == pytest.approx(cross, abs=0.01)
    assert 100 * average.metrics["overall"] == pytest.approx(overall, abs=0.01)


def test_paper_rows_for_a_hub_id_and_table_8():
    (row,) = find_paper_rows("Qwen/Qwen2.5-Omni-3B", "default")
    assert 100 * row.metrics["single"] == pytest.approx(55.15, abs=0.01)  # paper Table 8
    assert 100 * row.metrics["cross"] == pytest.approx(41.82, abs=0.01)
    assert {r.method for r in find_paper_rows("Qwen2.5-Omni-7B")} == {"default", "cot", "icl", "sft", "grpo"}
    assert len(paper_rows()) == 46


def test_paper_table_layout_and_deltas():
    base = {name: 0.5 for name in TASK_NAMES} | {"overall": 0.5, "single": 0.5, "cross": 0.5}
    better = {**base, "audio": 0.75, "cross": float("nan")}
    text = paper_table([("A", base), ("B", better)], deltas_against=0)
    header = next(line for line in text.splitlines() if line.startswith("| Run"))
    expected = [TASKS[t].short for group in PAPER_COLUMN_GROUPS.values() for t in group]
    assert header.split(" | ")[1:10] == expected
    assert "| B | 75.00 | 50.00" in text
    delta = next(line for line in text.splitlines() if line.startswith("| Δ vs A"))
    assert delta.split(" | ")[1] == "+25.00" and delta.rstrip(" |").endswith("–")


class EchoBackend:
    name = "echo"
    calls = 0

    def __init__(self, reply):
        self.reply = reply

    def generate(self, requests):
        self.calls += 1
        return [ModelResponse(key="k", model=r.model, text=self.reply(r)) for r in requests]


def test_compare_two_runs(tmp_path, sample_dataset):
    a = EvalConfig(model="m", out=str(tmp_path / "a"))
    b = EvalConfig(model="m", out=str(tmp_path / "b"), prompting="icl")
    run_eval(a, sample_dataset, EchoBackend(lambda r: "A"), progress=False)
    run_eval(b, sample_dataset, EchoBackend(lambda r: "<think>...</think>\nB"), progress=False)
    text = compare_runs([tmp_path / "a", tmp_path / "b"], out_dir=tmp_path / "cmp", paper=["Average:icl"])
    assert "a (default.v2, full)" in text and "b (icl.v2, full)" in text and "paper: Average (icl)" in text
    groups = text.split("## Fixed-source / fixed-target groups")[1]
    # the paper prints no group table: its row there is computed, and says so
    assert "| derived from the paper's Table 12: Average (icl) | " in groups and "paper:" not in groups
    assert text.count("| Δ vs a (default.v2, full)") == 2
    metrics_a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    metrics_b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    delta = next(line for line in text.splitlines() if line.startswith("| Δ"))
    overall_cell = delta.split(" | ")[10]
    assert float(overall_cell) == pytest.approx(100 * (metrics_b["overall"] - metrics_a["overall"]), abs=0.006)
    for name in ("compare_per_task.png", "compare_fixed_groups.png"):
        with Image.open(tmp_path / "cmp" / name) as image:
            assert image.format == "PNG" and image.width > 300
    with pytest.raises(ValueError, match="no published row"):
        compare_runs([tmp_path / "a"], paper=["GPT-9:default"])


def test_compare_refuses_runs_over_different_items_unless_allowed(tmp_path, sample_dataset):
    from typer.testing import CliRunner

    from crossomni_cli import app
    from evaluation.compare import DifferentItemsError

    full = EvalConfig(model="m", out=str(tmp_path / "full"))
    part = EvalConfig(model="m", out=str(tmp_path / "part"), prompting="icl", limit=7)
    run_eval(full, sample_dataset, EchoBackend(lambda r: "A"), progress=False)
    run_eval(part, sample_dataset, EchoBackend(lambda r: "B"), progress=False)
    with pytest.raises(DifferentItemsError, match=r"full 18, part 7; 7 in common"):
        compare_runs([tmp_path / "full", tmp_path / "part"])
    refused = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "full"), str(tmp_path / "part")])
    assert refused.exit_code == 2 and "--allow-different-items" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "Traceback" not in refused.output

    text = compare_runs([tmp_path / "full", tmp_path / "part"], allow_different_items=True)
    assert "**The runs score different items**" in text and "part (icl.v2, full) [7 items]" in text
    records = [json.loads(line) for line in (tmp_path / "part" / "predictions.jsonl").read_text().splitlines()]
    header = next(line for line in text.splitlines() if line.startswith("| Run |")).split(" | ")
    delta = next(line for line in text.splitlines() if line.startswith("| Δ")).split(" | ")
    full_items = {r["task_type"]: 0 for r in records}
    for line in (tmp_path / "full" / "predictions.jsonl").read_text().splitlines():
        record = json.loads(line)
        full_items[record["task_type"]] = full_items.get(record["task_type"], 0) + 1
    part_items = {t: sum(r["task_type"] == t for r in records) for t in {r["task_type"] for r in records}}
    from crossomni import TASKS

    for task, count in full_items.items():
        cell = delta[header.index(TASKS[task].short)]
        # a Δ only where both runs scored the same items of the task
        assert (cell != "–") == (part_items.get(task) == count), (task, cell)
    assert delta[header.index("Overall")] == "–"
    # the same items: compared as before, no note
    same = compare_runs([tmp_path / "full", tmp_path / "full"])
    assert "different items" not in same and "[18 items]" not in same


def _generic(clip: str, answers=("(b)", "the woman", "C")) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {
            "qid": ["q1", "q2", "q3"],
            "question": ["What plays?", "Who laughs?", "What colour?"],
            "c0": ["a piano", "the man", "red"],
            "c1": ["a drum", "the woman", "blue"],
            "c2": ["a violin", "nobody", "green"],
            "c3": ["a flute", "a child", "black"],
            "answer": list(answers),
            "video_path": [clip, clip, clip],
            "domain": ["music", "people", "people"],
        }
    )


def test_generic_mcq_adapter(tmp_path, sample_tvqa_root):
    clip = str(next((sample_tvqa_root / "videos").glob("*.mp4")))
    columns = MCQColumns(id="qid", options=["c0", "c1", "c2", "c3"], video="video_path", category="domain")
    items = mcq_items(_generic(clip), columns, tmp_path / "media")
    assert [item.answer for item in items] == ["B", "B", "C"]
    by_index = mcq_items(_generic(clip, answers=(1, 1, 2)), columns, tmp_path / "media")
    assert [item.answer for item in by_index] == ["B", "B", "C"]
    assert items[0].audio == clip  # the video's own soundtrack
    cfg = EvalConfig(model="m", out=str(tmp_path / "run"), mcq=columns, config=None)
    result = run_eval(cfg, _generic(clip), EchoBackend(lambda r: "The answer is B"), progress=False)
    assert result.metrics["acc_music"] == 1.0 and result.metrics["acc_people"] == 0.5
    assert result.metrics["overall"] == pytest.approx(2 / 3)
    assert "| people | 50.00 | 2 |" in (tmp_path / "run" / "report.md").read_text()
    with pytest.raises(PreflightError, match="no column"):
        mcq_items(_generic(clip), MCQColumns(id="missing"), tmp_path)
    bad = _generic(clip).map(lambda row: {"answer": "purple"} if row["qid"] == "q3" else {"answer": row["answer"]})
    with pytest.raises(PreflightError, match="q3"):
        mcq_items(bad, columns, tmp_path)


def _run_with(tmp_path, sample_dataset, name: str, reply, **options) -> Path:
    run_eval(
        EvalConfig(model="m", out=str(tmp_path / name), **options), sample_dataset, EchoBackend(reply), progress=False
    )
    return tmp_path / name


def test_report_is_written_without_plotting_and_plots_on_demand(tmp_path, sample_dataset):
    run = _run_with(tmp_path, sample_dataset, "full", lambda r: "A")
    report = (run / "report.md").read_text()
    assert not (run / "plots").exists() and f"crossomni eval report {run}" in report
    # matplotlib is not even imported for report.md (what a run pays); drawing is asked for
    probe = "import sys; from evaluation.report import write_run_report; write_run_report(sys.argv[1]); "
    probe += "print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe, str(run)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    write_run_report(run, plots=True)
    report = (run / "report.md").read_text()
    assert "(plots/per_task.png)" in report and "(plots/fixed_groups.png)" in report
    with Image.open(run / "plots" / "fixed_groups.png") as image:
        assert image.width > 600
    # a later report without plots still links the plots, which are newer than the metrics
    write_run_report(run)
    assert "(plots/per_task.png)" in (run / "report.md").read_text()


def test_a_short_run_never_prints_nan_and_writes_no_empty_figure(tmp_path, sample_dataset):
    run = _run_with(tmp_path, sample_dataset, "limit3", lambda r: "B", limit=3)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["cross"] is None  # NaN in the file: 3 items cannot cover the 6 cross tasks
    line = headline(restore_nan(metrics))
    assert "nan" not in line.lower() and "cross –" in line and "no item scored for Au→Te" in line
    write_run_report(run, plots=True)
    report = (run / "report.md").read_text()
    assert not re.search(r"\bnan\b", report, re.IGNORECASE)
    assert (run / "plots" / "per_task.png").exists()
    assert not (run / "plots" / "fixed_groups.png").exists() and "No fixed groups plot" in report
    assert "| Au→Te | – | not evaluated (no items) | 0 |" in report


def test_plots_refuse_to_draw_nothing(tmp_path):
    nothing = {key: float("nan") for key in (*TASK_NAMES, "overall", "single", "cross")}
    stale = tmp_path / "groups.png"
    stale.write_bytes(b"old")
    assert plot_fixed_groups([("empty", nothing)], stale) is None and not stale.exists()
    assert plot_per_task([("empty", nothing)], tmp_path / "tasks.png") is None
    assert not (tmp_path / "tasks.png").exists()


def _run_metrics(tasks, n: int, groups: str | None = None) -> dict:
    """A run's metrics with values, counts and intervals for ``tasks`` (the rest not evaluated)."""
    from crossomni import CROSS_TASKS, SINGLE_TASKS
    from evaluation.report import GROUP_KEYS

    metrics: dict = {"count": n * len(tasks), "overall": 0.5, "ci_low_overall": 0.4, "ci_high_overall": 0.6}
    for index, task in enumerate(TASK_NAMES):
        value = (index + 1) / 10 if task in tasks else float("nan")
        metrics |= {task: value, f"count_{task}": n if task in tasks else 0}
        if task in tasks:
            metrics |= {f"ci_low_{task}": max(0.0, value - 0.1), f"ci_high_{task}": min(1.0, value + 0.1)}
    metrics["single"] = 0.4 if set(SINGLE_TASKS) <= set(tasks) else float("nan")
    metrics["cross"] = 0.3 if set(CROSS_TASKS) <= set(tasks) else float("nan")
    for key in GROUP_KEYS:
        metrics[key] = 0.35 if set(CROSS_TASKS) <= set(tasks) and key.startswith(groups or "fixed") else float("nan")
    return metrics


def _texts(figure) -> list:
    from matplotlib.text import Text

    figure.canvas.draw()
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _overlaps(figure) -> list[tuple[str, str]]:
    """Pairs of visible texts whose drawn boxes intersect (tick labels, value labels, legend, titles)."""
    import itertools

    renderer = figure.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer).expanded(0.98, 0.98)) for t in _texts(figure)]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def _legend_texts(figure) -> list[str]:
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def test_plots_never_overstate(tmp_path):
    """Paper bars say they have no interval; n belongs to the runs; labels never overlap; a slot without a value is
    a label at the axis, never a bar; no legend entry for a mark that is not drawn; no empty panel."""
    from crossomni import SINGLE_TASKS
    from evaluation.report import NO_INTERVAL, NOT_EVALUATED, fixed_groups_figure, per_task_figure

    (paper,) = find_paper_rows("Qwen2.5-Omni-7B", "default")
    rows = [("single run", _run_metrics(SINGLE_TASKS, 6)), ("full run", _run_metrics(TASK_NAMES, 180))]
    rows.append((paper.label, paper.metrics))
    for count in (1, 2, 3):  # value labels turn upright when the bars get narrow
        figure = per_task_figure(rows[-count:])
        assert _overlaps(figure) == [], count
    figure = per_task_figure(rows)
    (axes,) = figure.axes
    bars = [patch for patch in axes.patches if patch.get_height() > 0]
    known = sum(
        not math.isnan(metrics[key]) for _, metrics in rows for key in (*TASK_NAMES, "overall", "single", "cross")
    )
    assert len(bars) == known and max(bar.get_height() for bar in bars) <= 100
    marks = [t for t in _texts(figure) if t.get_text() == NOT_EVALUATED]
    assert len(marks) == 6 + 1 and all(t.get_position()[1] == 1.0 for t in marks)  # 6 cross tasks + Cross
    legend = _legend_texts(figure)
    assert f"{paper.label} — {NO_INTERVAL}" in legend and "single run" in legend
    assert not any("hatch" in text or "no items" in text for text in legend)
    ticks = [label.get_text() for label in axes.get_xticklabels()]
    assert ticks[0] == "Au\nn=6 | 180" and ticks[1] == "Au→Te\nn=0 | 180"  # the runs' n; the paper has none
    assert "published rows" in axes.get_xlabel()

    alone = per_task_figure([rows[0]])
    assert not any("n=" in t and "|" in t for t in (label.get_text() for label in alone.axes[0].get_xticklabels()))

    source_only = fixed_groups_figure([("half", _run_metrics(TASK_NAMES, 20, groups="fixed_source"))])
    assert [a.get_title() for a in source_only.axes] == ["fixed source (mean of its 2 cross tasks)"]
    both = fixed_groups_figure(rows)
    assert len(both.axes) == 2 and _overlaps(both) == []
    assert "single run — not evaluated here" in _legend_texts(both)  # its colour still says which labels are its
    assert _legend_texts(both).count("full run") == 1


def test_loss_plot_axis_starts_at_zero_or_states_its_range():
    from model_cards.adapter_card import LossSummary, loss_figure

    flat = loss_figure(LossSummary(steps=(1, 2, 3), losses=(6.487, 6.42, 6.375), total_steps=3), "SFT")
    low, high = flat.axes[0].get_ylim()
    assert low == 0 and high > 6.487  # a 0.11 drop looks as small as it is
    signed = loss_figure(LossSummary(steps=(1, 2), losses=(-0.5, 0.25), total_steps=2), "GRPO")
    assert "not from 0" in signed.axes[0].get_ylabel() and signed.axes[0].get_ylim()[0] < -0.5


def test_per_task_intervals_resample_clips():
    # two clips of text items (one all right, one all wrong), vision items all in one clip
    correct = [True] * 5 + [False] * 5 + [True, False]
    tasks = ["text"] * 10 + ["vision"] * 2
    clips = ["c1"] * 5 + ["c2"] * 5 + ["c3", "c3"]
    intervals = task_intervals(correct, tasks, clips)
    # resampling two clips: 0/10, 5/10 or 10/10 right, with chances 1/4, 1/2, 1/4
    assert intervals["text"] == (0.0, 1.0)
    assert all(math.isnan(v) for v in intervals["vision"])  # one clip: nothing to resample
    assert all(math.isnan(v) for v in intervals["audio"])  # no items
    assert all(math.isnan(v) for v in intervals["single"])  # needs audio
