"""Reports of evaluation runs: markdown tables in the paper's layout and matplotlib plots."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crossomni import MODALITIES, PAPER_COLUMN_GROUPS, TASKS
from evaluation.reference import find_paper_rows
from evaluation.runlog import METRICS, PREDICTIONS, REPORT, RUN, read_json, restore_nan

PAPER_COLUMNS: tuple[str, ...] = tuple(task for group in PAPER_COLUMN_GROUPS.values() for task in group)
SUMMARY_COLUMNS: tuple[str, ...] = ("overall", "single", "cross")
Row = tuple[str, Mapping[str, Any]]


def percent(value: Any) -> str:
    """A fraction as a percentage with two decimals; missing or NaN as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * float(value):.2f}"


def paper_table(rows: Sequence[Row], deltas_against: int | None = None) -> str:
    """Markdown table with the paper's columns: audio-, text-, visual-centric groups, then overall/single/cross.

    With ``deltas_against`` set, every other row is followed by its difference (percentage points).
    """
    groups = " · ".join(
        f"{name}: {', '.join(TASKS[t].short for t in tasks)}" for name, tasks in PAPER_COLUMN_GROUPS.items()
    )
    header = ["Run", *(TASKS[t].short for t in PAPER_COLUMNS), "Overall", "Single", "Cross"]
    keys = [*PAPER_COLUMNS, *SUMMARY_COLUMNS]
    lines = [f"Columns by group — {groups}.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, (label, metrics) in enumerate(rows):
        lines.append("| " + " | ".join([label, *(percent(metrics.get(k)) for k in keys)]) + " |")
        if deltas_against is not None and index != deltas_against:
            base = rows[deltas_against][1]
            cells = [_delta(metrics.get(k), base.get(k)) for k in keys]
            lines.append("| " + " | ".join([f"Δ vs {rows[deltas_against][0]}", *cells]) + " |")
    return "\n".join(lines) + "\n"


def _delta(value: Any, base: Any) -> str:
    try:
        difference = 100 * (float(value) - float(base))
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(difference) else f"{difference:+.2f}"


def groups_table(rows: Sequence[Row]) -> str:
    """Fixed-source / fixed-target group accuracies (means of the two cross tasks per modality)."""
    keys = [f"fixed_source_{m}" for m in MODALITIES] + [f"fixed_target_{m}" for m in MODALITIES]
    header = ["Run", *(f"source {m}" for m in MODALITIES), *(f"target {m}" for m in MODALITIES)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, metrics in rows:
        lines.append("| " + " | ".join([label, *(percent(metrics.get(k)) for k in keys)]) + " |")
    return "\n".join(lines) + "\n"


def category_table(metrics: Mapping[str, Any]) -> str:
    """Per-category accuracy of a generic MCQ run."""
    categories = sorted(key[4:] for key in metrics if key.startswith("acc_"))
    lines = ["| Category | Accuracy | N |", "|---|---|---|"]
    lines += [f"| {c} | {percent(metrics[f'acc_{c}'])} | {metrics[f'count_{c}']} |" for c in categories]
    lines.append(f"| overall | {percent(metrics['overall'])} | {metrics['count']} |")
    return "\n".join(lines) + "\n"


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """``run.json``, ``metrics.json`` (NaN restored) and the prediction records of a run folder."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN).exists():
        raise FileNotFoundError(f"{run_dir}: no {RUN}; not a `crossomni eval` output folder")
    meta = read_json(run_dir / RUN)
    metrics = restore_nan(read_json(run_dir / METRICS)) if (run_dir / METRICS).exists() else {}
    records = []
    if (run_dir / PREDICTIONS).exists():
        records = [json.loads(line) for line in (run_dir / PREDICTIONS).read_text().splitlines() if line.strip()]
    return meta, metrics, records


def run_label(meta: Mapping[str, Any], run_dir: Path) -> str:
    identity = meta.get("identity", {})
    return f"{run_dir.name} ({identity.get('prompt_id', '?')}, {identity.get('input_config', {}).get('inputs', '?')})"


def write_run_report(run_dir: str | Path) -> Path:
    """Write ``report.md`` and ``plots/*.png`` for one run folder; returns the report path."""
    run_dir = Path(run_dir)
    meta, metrics, records = load_run(run_dir)
    identity = meta["identity"]
    label = run_label(meta, run_dir)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    lines = [
        f"# CrossOmni evaluation: {identity['model']}",
        "",
        *([f"- adapter: {identity['peft_adapter']['id']}"] if identity.get("peft_adapter") else []),
        f"- dataset: {identity['dataset'] or 'in-memory'} (config {identity['config']}, split {identity['split']})",
        f"- prompting: {identity['prompt_id']}; inputs: {identity['input_config']['inputs']} "
        f"({meta.get('media_order')}, audio-in-video: {meta.get('audio_in_video')})",
        f"- backend: {identity['backend']}; sampling: {json.dumps(identity['sampling'])}",
        f"- system prompt: {identity['input_config']['system_prompt']!r}",
        f"- items: {meta.get('n_items')} · scored: {meta.get('n_scored')} · pending (generation errors, "
        f"rerun to retry): {meta.get('n_pending')} · status: {meta.get('status')}",
        f"- parse failures: {metrics.get('parse_failures')} ({percent(metrics.get('parse_failure_rate'))}%)",
    ]
    if "ci_low_overall" in metrics:
        lines.append(
            f"- overall {percent(metrics['overall'])}%, 95% clip-clustered bootstrap CI "
            f"[{percent(metrics['ci_low_overall'])}, {percent(metrics['ci_high_overall'])}]"
        )
    reached = Counter("+".join(r["modalities"]) if r.get("modalities") else "unreported" for r in records)
    lines.append("- modalities that reached the model: " + ", ".join(f"{k}: {v}" for k, v in sorted(reached.items())))
    lines.append("")
    if identity.get("adapter") == "crossomni":
        method = identity["prompt_id"].split(".")[0]
        references = [(row.label, row.metrics) for row in find_paper_rows(identity["model"], method)]
        references += [(row.label, row.metrics) for row in find_paper_rows("Average", method)]
        rows: list[Row] = [(label, metrics), *references]
        lines += ["## Accuracy (%) in the paper's layout", "", paper_table(rows), ""]
        lines += ["## Fixed-source / fixed-target groups (%)", "", groups_table([(label, metrics)]), ""]
        counts = " · ".join(f"{TASKS[t].short}: {metrics.get(f'count_{t}', 0)}" for t in PAPER_COLUMNS)
        lines += [f"Instances per task — {counts}.", ""]
        if references:
            lines += ["Paper rows are the published numbers on the full CrossOmni test set (2,460 questions).", ""]
        plot_per_task([(label, metrics), *references[:1]], plots / "per_task.png")
        plot_fixed_groups([(label, metrics)], plots / "fixed_groups.png")
        lines += ["![per task](plots/per_task.png)", "", "![fixed groups](plots/fixed_groups.png)", ""]
    else:
        lines += ["## Accuracy (%) per category", "", category_table(metrics), ""]
    path = run_dir / REPORT
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finite(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(number) else 100 * number


def plot_per_task(rows: Sequence[Row], path: Path, title: str = "Accuracy per task") -> Path:
    """Grouped bars: the nine tasks in the paper's order, then overall/single/cross, one bar per row."""
    plt = _pyplot()
    keys = [*PAPER_COLUMNS, *SUMMARY_COLUMNS]
    labels = [TASKS[k].short if k in TASKS else k.capitalize() for k in keys]
    width = 0.8 / max(len(rows), 1)
    figure, axes = plt.subplots(figsize=(max(8, 0.9 * len(keys)), 4))
    for index, (label, metrics) in enumerate(rows):
        positions = [k + index * width for k in range(len(keys))]
        axes.bar(positions, [_finite(metrics.get(k)) for k in keys], width, label=label)
    axes.set_xticks([k + width * (len(rows) - 1) / 2 for k in range(len(keys))], labels, rotation=30)
    axes.set_ylabel("accuracy (%)")
    axes.set_ylim(0, 100)
    axes.axvline(len(PAPER_COLUMNS) - 0.5 + width * (len(rows) - 1) / 2, color="grey", linewidth=0.8)
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_fixed_groups(rows: Sequence[Row], path: Path) -> Path:
    """Two panels like the paper's Figure 3: fixed-source and fixed-target group accuracies per modality."""
    plt = _pyplot()
    figure, panels = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    width = 0.8 / max(len(rows), 1)
    for panel, kind in zip(panels, ("source", "target"), strict=True):
        for index, (label, metrics) in enumerate(rows):
            values = [_finite(metrics.get(f"fixed_{kind}_{m}")) for m in MODALITIES]
            panel.bar([k + index * width for k in range(len(MODALITIES))], values, width, label=label)
        panel.set_xticks([k + width * (len(rows) - 1) / 2 for k in range(len(MODALITIES))], list(MODALITIES))
        panel.set_title(f"fixed {kind}")
        panel.set_ylim(0, 100)
    panels[0].set_ylabel("accuracy (%)")
    panels[1].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
