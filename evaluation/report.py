"""Reports of evaluation runs: markdown tables in the paper's layout and matplotlib plots."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from crossomni import CROSS_TASKS, MODALITIES, PAPER_COLUMN_GROUPS, SINGLE_TASKS, TASKS
from evaluation.crossomni_acc.scoring import task_intervals
from evaluation.reference import find_paper_rows
from evaluation.runlog import (
    METRICS,
    PREDICTIONS,
    REPORT,
    RUN,
    RunFileError,
    read_json,
    read_predictions,
    restore_nan,
    short_repr,
)

PAPER_COLUMNS: tuple[str, ...] = tuple(task for group in PAPER_COLUMN_GROUPS.values() for task in group)
SUMMARY_COLUMNS: tuple[str, ...] = ("overall", "single", "cross")
GROUP_TASKS: dict[str, tuple[str, ...]] = {"single": SINGLE_TASKS, "cross": CROSS_TASKS} | {
    f"fixed_{end}_{m}": tuple(t for t in CROSS_TASKS if getattr(TASKS[t], end) == m)
    for end in ("source", "target")
    for m in MODALITIES
}
MISSING_NOTE = "A task shown – has no scored item; an aggregate shown – needs every task it averages."
GROUP_KEYS: tuple[str, ...] = tuple(key for key in GROUP_TASKS if key.startswith("fixed_"))
Row = tuple[str, Mapping[str, Any]]


def percent(value: Any) -> str:
    """A fraction as a percentage with two decimals; missing or NaN as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * float(value):.2f}"


def paper_table(
    rows: Sequence[Row], deltas_against: int | None = None, delta_keys: Sequence[AbstractSet[str] | None] = ()
) -> str:
    """Markdown table with the paper's columns: audio-, text-, visual-centric groups, then overall/single/cross.

    With ``deltas_against`` set, every other row is followed by its difference (percentage points); where
    ``delta_keys[i]`` is a set, row ``i``'s difference is shown only for those keys (– elsewhere).
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
            allowed = delta_keys[index] if index < len(delta_keys) else None
            cells = [_delta(metrics.get(k), base.get(k)) if allowed is None or k in allowed else "–" for k in keys]
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
    keys = list(GROUP_KEYS)
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


IDENTITY_FIELDS = ("model", "backend", "dataset", "config", "split", "prompt_id", "input_config", "sampling", "adapter")


FIGURE_PREFIXES = ("acc_", "count", "ci_", "parse_")


def _figure_key(key: str) -> bool:
    """A ``metrics.json`` key the reports read as a number."""
    return key in TASKS or key in SUMMARY_COLUMNS or key in GROUP_KEYS or key.startswith(FIGURE_PREFIXES)


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """``run.json``, ``metrics.json`` (NaN restored) and the prediction records of a run folder.

    A file that is not what ``crossomni eval`` writes is a ``RunFileError`` naming the file, line and field.
    """
    run_dir = Path(run_dir)
    if not (run_dir / RUN).is_file():
        raise FileNotFoundError(f"{run_dir}: no {RUN}; not a `crossomni eval` output folder")
    meta = read_json(run_dir / RUN)
    identity = meta.get("identity")
    if not isinstance(identity, dict):
        raise RunFileError(f"{run_dir / RUN}: 'identity' must be an object, got {short_repr(identity)}")
    for key in IDENTITY_FIELDS:
        if key not in identity:
            raise RunFileError(f"{run_dir / RUN}: 'identity' has no {key!r}")
    if not isinstance(identity["input_config"], dict):
        raise RunFileError(f"{run_dir / RUN}: 'identity.input_config' must be an object")
    metrics = restore_nan(read_json(run_dir / METRICS)) if (run_dir / METRICS).exists() else {}
    for key, value in metrics.items():
        if _figure_key(key) and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise RunFileError(f"{run_dir / METRICS}: {key!r} must be a number or null, got {short_repr(value)}")
    return meta, metrics, read_predictions(run_dir / PREDICTIONS)


def run_label(meta: Mapping[str, Any], run_dir: Path) -> str:
    identity = meta.get("identity", {})
    return f"{run_dir.name} ({identity.get('prompt_id', '?')}, {identity.get('input_config', {}).get('inputs', '?')})"


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def missing_tasks(metrics: Mapping[str, Any], tasks: Sequence[str]) -> list[str]:
    """Short names of the tasks without any scored item."""
    return [TASKS[t].short for t in tasks if not metrics.get(f"count_{t}")]


def headline(metrics: Mapping[str, Any]) -> str:
    """``overall 50.00%, single 41.67%, cross –`` with why an undefined figure is undefined; never "nan%"."""
    if not metrics:
        return "overall – (nothing scored)"
    parts = [f"overall {percent(metrics.get('overall'))}%"]
    reasons = []
    for key, tasks in (("single", SINGLE_TASKS), ("cross", CROSS_TASKS)):
        if key not in metrics:
            continue
        if _is_nan(metrics[key]):
            parts.append(f"{key} –")
            missing = ", ".join(missing_tasks(metrics, tasks))
            reasons.append(f"{key} averages all {len(tasks)} {key} tasks; no item scored for {missing}")
        else:
            parts.append(f"{key} {percent(metrics[key])}%")
    return ", ".join(parts) + (f" ({'; '.join(reasons)})" if reasons else "")


def with_intervals(metrics: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``metrics`` plus ``ci_low_<key>``/``ci_high_<key>`` for every task and aggregate (clip-clustered, 95%).

    ``overall`` keeps the metric's own interval; the rest come from the records, resampled by clip
    the same way (``scoring.task_intervals``).
    """
    result = dict(metrics)
    if not records:
        return result
    intervals = task_intervals(
        [bool(r["correct"]) for r in records], [r["task_type"] for r in records], [r["clip_id"] for r in records]
    )
    for key, (low, high) in intervals.items():
        result.setdefault(f"ci_low_{key}", low)
        result.setdefault(f"ci_high_{key}", high)
    return result


def _span(metrics: Mapping[str, Any], key: str) -> str:
    low, high = metrics.get(f"ci_low_{key}"), metrics.get(f"ci_high_{key}")
    if _is_nan(low) or _is_nan(high):
        return "– (all its items in one clip: nothing to resample)"
    return f"[{percent(low)}, {percent(high)}]"


def interval_table(metrics: Mapping[str, Any]) -> str:
    """Per task and aggregate: accuracy, its 95% clip-clustered interval and the number of items."""
    lines = ["| | Accuracy (%) | 95% interval | N |", "|---|---|---|---|"]
    for key in (*PAPER_COLUMNS, *SUMMARY_COLUMNS, *GROUP_KEYS):
        label = TASKS[key].short if key in TASKS else key.replace("_", " ")
        n = _count(metrics, key)
        if _is_nan(metrics.get(key)):
            reason = "not evaluated (no items)" if key in TASKS else "– (needs every one of its tasks)"
            lines.append(f"| {label} | – | {reason} | {n} |")
            continue
        lines.append(f"| {label} | {percent(metrics[key])} | {_span(metrics, key)} | {n} |")
    return "\n".join(lines) + "\n"


def write_run_report(run_dir: str | Path, plots: bool = False) -> Path:
    """Write ``report.md`` for one run folder (and, with ``plots``, ``plots/*.png``); returns the report path.

    Plots are drawn on demand (``crossomni eval report RUN``): matplotlib costs more than the run's
    bookkeeping. Plots already there are linked only when they are newer than ``metrics.json``.
    """
    run_dir = Path(run_dir)
    meta, metrics, records = load_run(run_dir)
    identity = meta["identity"]
    label = run_label(meta, run_dir)
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
            f"- overall {percent(metrics['overall'])}%, 95% clip-clustered bootstrap CI {_span(metrics, 'overall')}"
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
        lines += [f"Summary: {headline(metrics)}.", "", MISSING_NOTE, ""]
        if references:
            lines += ["Paper rows are the published numbers on the full CrossOmni test set (2,460 questions).", ""]
        detailed = with_intervals(metrics, records)
        lines += ["## Per task: accuracy, 95% interval (clips resampled), items", "", interval_table(detailed), ""]
        lines += _plot_section(run_dir, [(label, detailed), *references[:1]], [(label, detailed)], plots)
    else:
        lines += ["## Accuracy (%) per category", "", category_table(metrics), ""]
    path = run_dir / REPORT
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _plot_section(run_dir: Path, task_rows: Sequence[Row], group_rows: Sequence[Row], draw: bool) -> list[str]:
    """Draw (or find up to date) the run's two plots; the markdown that links them or says why not."""
    folder = run_dir / "plots"
    targets = {"per task": folder / "per_task.png", "fixed groups": folder / "fixed_groups.png"}
    if draw:
        folder.mkdir(exist_ok=True)
        drawn = {
            "per task": plot_per_task(task_rows, targets["per task"]),
            "fixed groups": plot_fixed_groups(group_rows, targets["fixed groups"]),
        }
    else:
        metrics_time = (run_dir / METRICS).stat().st_mtime if (run_dir / METRICS).exists() else 0.0
        drawn = {k: p if p.exists() and p.stat().st_mtime >= metrics_time else None for k, p in targets.items()}
    lines = []
    for name, path in drawn.items():
        if path is not None:
            lines += [f"![{name}](plots/{path.name})", ""]
        elif draw:
            lines += [f"No {name} plot: no value to draw (every group needs both of its tasks scored).", ""]
    if not draw and not all(drawn.values()):
        lines += [f"Plots: `crossomni eval report {run_dir}` draws them into plots/.", ""]
    return lines


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _count(metrics: Mapping[str, Any], key: str) -> int | None:
    """Items behind a figure: a task's count, the sum over the tasks of a group, ``count`` for overall.

    ``None`` for rows without counts (published paper rows).
    """
    if key == "overall":
        return metrics.get("count")
    tasks = GROUP_TASKS.get(key, (key,))
    counts = [metrics.get(f"count_{t}") for t in tasks]
    return None if any(c is None for c in counts) else int(sum(counts))


NOT_EVALUATED = "not evaluated"
NO_INTERVAL = "no interval published"
LABEL_SIZE = 6  # points: value labels and "not evaluated" marks


def _published(metrics: Mapping[str, Any]) -> bool:
    """A row without item counts is a published (paper) row: its numbers come without n or interval."""
    return "count" not in metrics and not any(str(key).startswith("count_") for key in metrics)


def _legend_label(label: str, metrics: Mapping[str, Any]) -> str:
    return f"{label} — {NO_INTERVAL}" if _published(metrics) else label


def _bars(
    axes, positions: Sequence[float], keys: Sequence[str], metrics: Mapping[str, Any], width: float, **style
) -> bool:
    """One row's bars with value labels and 95% whiskers where known; a slot without a value gets a small
    "not evaluated" label standing on the axis (never a bar). Returns whether the row drew any bar."""
    label = style.pop("label", None)
    vertical = style.pop("vertical_labels", False)
    values = [metrics.get(k) for k in keys]
    known = [(x, 100 * float(v), k) for x, v, k in zip(positions, values, keys, strict=True) if not _is_nan(v)]
    unknown = [x for x, v in zip(positions, values, strict=True) if _is_nan(v)]
    if known:
        axes.bar([x for x, _, _ in known], [v for _, v, _ in known], width, label=label, **style)
    for x, value, key in known:
        low, high = metrics.get(f"ci_low_{key}"), metrics.get(f"ci_high_{key}")
        top = value
        if not (_is_nan(low) or _is_nan(high)):
            axes.errorbar(
                x,
                value,
                yerr=[[value - 100 * low], [100 * high - value]],
                fmt="none",
                ecolor="black",
                elinewidth=0.8,
                capsize=2,
            )
            top = 100 * high
        axes.text(
            x,
            top + 1.5,
            f"{value:.1f}",
            ha="center",
            va="bottom",
            fontsize=LABEL_SIZE,
            rotation=90 if vertical else 0,
        )
    for x in unknown:  # in the row's colour, so that it reads as that row's
        colour = style.get("color")
        axes.text(x, 1.0, NOT_EVALUATED, ha="center", va="bottom", rotation=90, fontsize=LABEL_SIZE, color=colour)
    return bool(known)


def _tick_labels(names: Sequence[str], keys: Sequence[str], rows: Sequence[Row]) -> list[str]:
    """Tick labels with the item counts of the runs ("Au\nn=12"; runs with different counts: "Au\nn=12 | 4", in
    legend order). Published rows have no n: their count is never shown under their bars."""
    counted = [metrics for _, metrics in rows if not _published(metrics)]
    labels = []
    for name, key in zip(names, keys, strict=True):
        counts = [str(c) for c in (_count(metrics, key) for metrics in counted) if c is not None]
        shown = counts[:1] if len(set(counts)) == 1 else counts
        labels.append(f"{name}\nn={' | '.join(shown)}" if shown else name)
    return labels


TICK_SIZE = 8
CHAR_INCHES = 0.075  # width of one tick-label character at TICK_SIZE, with room to spare


def _slot_inches(labels: Sequence[str]) -> float:
    """Width each group of bars needs so that no two tick labels touch."""
    return max(1.1, CHAR_INCHES * max(len(line) for label in labels for line in label.splitlines()) + 0.2)


def _axis_note(axes, rows: Sequence[Row]) -> None:
    if any(_published(metrics) for _, metrics in rows):
        axes.set_xlabel("n: items scored in the run(s); published rows: the paper's full test set", fontsize=7)


def _span_slots(axes, slots: int, rows: int, width: float) -> None:
    """Every slot in view, also a row's first one when it has no bar (its "not evaluated" label stays inside)."""
    axes.set_xlim(-width / 2 - 0.2, slots - 1 + width * (rows - 0.5) + 0.2)


def _style(axes, title: str) -> None:
    axes.axhline(25, color="firebrick", linestyle="--", linewidth=0.8, label="chance (25%, 4 options)")
    axes.set_ylim(0, 118)
    axes.set_yticks(range(0, 101, 20))
    axes.set_title(title, fontsize=9)


def _legend(figure, panels: Sequence[Any], silent: Sequence[tuple[int, str]] = ()) -> None:
    """One legend outside the plotting area (it never covers a bar or a label): each row once, the chance line,
    and the rows with no bar anywhere in the figure (``silent``: index and label), marked as such."""
    from matplotlib.patches import Patch

    entries: dict[str, Any] = {}
    for panel in panels:
        for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    for index, label in silent:
        entries[f"{label} — {NOT_EVALUATED} here"] = Patch(color=f"C{index}")
    labels = sorted(entries, key=lambda label: label.startswith("chance"))  # the rows first
    figure.legend(
        [entries[label] for label in labels],
        labels,
        fontsize=7,
        loc="outside lower center",
        ncol=min(len(labels), 3),
        frameon=False,
    )


def _draw_rows(axes, keys: Sequence[str], rows: Sequence[Row], width: float, drew: set[int]) -> None:
    """Every row's bars in one panel; ``drew`` collects the rows that drew a bar (each labelled once)."""
    for index, (label, metrics) in enumerate(rows):
        positions = [k + index * width for k in range(len(keys))]
        style = {"color": f"C{index}", "vertical_labels": len(rows) > 2}
        legend_label = None if index in drew else _legend_label(label, metrics)
        if _bars(axes, positions, keys, metrics, width, label=legend_label, **style):
            drew.add(index)


def _silent(rows: Sequence[Row], drew: set[int]) -> list[tuple[int, str]]:
    return [(index, label) for index, (label, _) in enumerate(rows) if index not in drew]


def per_task_figure(rows: Sequence[Row], title: str = "Accuracy per task"):
    """The per-task figure (``None``: nothing to draw); ``plot_per_task`` saves it."""
    keys = [*PAPER_COLUMNS, *SUMMARY_COLUMNS]
    if all(_is_nan(metrics.get(k)) for _, metrics in rows for k in keys):
        return None
    plt = _pyplot()
    labels = [TASKS[k].short if k in TASKS else k.capitalize() for k in keys]
    width = 0.8 / max(len(rows), 1)
    ticks = _tick_labels(labels, keys, rows)
    figure, axes = plt.subplots(figsize=(max(9, _slot_inches(ticks) * len(keys) + 1), 4.8), layout="constrained")
    drew: set[int] = set()
    _draw_rows(axes, keys, rows, width, drew)
    axes.set_xticks([k + width * (len(rows) - 1) / 2 for k in range(len(keys))], ticks, fontsize=TICK_SIZE)
    _axis_note(axes, rows)
    _span_slots(axes, len(keys), len(rows), width)
    axes.set_ylabel("accuracy (%)")
    axes.axvline(len(PAPER_COLUMNS) - 0.5 + width * (len(rows) - 1) / 2, color="grey", linewidth=0.8)
    _style(axes, title + " — whiskers: 95% clip-clustered bootstrap")
    _legend(figure, [axes], _silent(rows, drew))
    return figure


def plot_per_task(rows: Sequence[Row], path: Path, title: str = "Accuracy per task") -> Path | None:
    """Grouped bars: the nine tasks in the paper's order, then overall/single/cross, one bar per row.

    Bars carry their value, their n (rows with counts), and 95% whiskers (rows with intervals; a published
    row's legend entry says it has none); a task a row has no figure for is labelled "not evaluated" at the
    axis. Nothing drawn: no file, ``None``.
    """
    return _save(per_task_figure(rows, title), path)


def fixed_groups_figure(rows: Sequence[Row]):
    """The fixed-source / fixed-target figure, one panel per kind that any row has a value for (``None``: none)."""
    kinds = [
        kind
        for kind in ("source", "target")
        if any(not _is_nan(metrics.get(f"fixed_{kind}_{m}")) for _, metrics in rows for m in MODALITIES)
    ]
    if not kinds:
        return None
    plt = _pyplot()
    labels = {kind: _tick_labels(list(MODALITIES), [f"fixed_{kind}_{m}" for m in MODALITIES], rows) for kind in kinds}
    slot = max(_slot_inches(ticks) for ticks in labels.values())
    size = (max(5.0, slot * len(MODALITIES) + 1.5) * len(kinds), 4.4)
    figure, panels = plt.subplots(1, len(kinds), figsize=size, sharey=True, layout="constrained")
    panels = list(panels) if len(kinds) > 1 else [panels]
    width = 0.8 / max(len(rows), 1)
    drew: set[int] = set()
    for panel, kind in zip(panels, kinds, strict=True):
        keys = [f"fixed_{kind}_{m}" for m in MODALITIES]
        _draw_rows(panel, keys, rows, width, drew)
        ticks = [k + width * (len(rows) - 1) / 2 for k in range(len(MODALITIES))]
        panel.set_xticks(ticks, labels[kind], fontsize=TICK_SIZE)
        _axis_note(panel, rows)
        _span_slots(panel, len(MODALITIES), len(rows), width)
        _style(panel, f"fixed {kind} (mean of its 2 cross tasks)")
    panels[0].set_ylabel("accuracy (%)")
    _legend(figure, panels, _silent(rows, drew))
    return figure


def plot_fixed_groups(rows: Sequence[Row], path: Path) -> Path | None:
    """Panels like the paper's Figure 3: fixed-source and fixed-target group accuracies per modality.

    Same marks as ``plot_per_task``; a kind no row has a value for gets no panel, and when no row has any
    group value no file is written (``None``).
    """
    return _save(fixed_groups_figure(rows), path)


def _save(figure, path: Path) -> Path | None:
    if figure is None:
        _unlink(path)
        return None
    figure.savefig(path, dpi=120)
    _pyplot().close(figure)
    return path


def _unlink(path: Path) -> None:
    """A figure that would be empty is not written; an older one of that name would be stale."""
    path.unlink(missing_ok=True)
