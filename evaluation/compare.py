"""``crossomni eval compare``: several runs (and published paper rows) side by side, with differences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evaluation.reference import PaperRow, find_paper_rows, paper_row_names
from evaluation.report import (
    MISSING_NOTE,
    Row,
    groups_table,
    load_run,
    paper_table,
    plot_fixed_groups,
    plot_per_task,
    run_label,
    with_intervals,
)
from model_calls.outputs import claim_output_dir


def derived_label(row: PaperRow) -> str:
    """The label of figures computed from a published row (the paper prints no fixed-source/target table)."""
    table = row.source.removeprefix("table")
    return f"derived from the paper's Table {table}: {row.model} ({row.method})"


def compare_runs(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path | None = None,
    paper: Sequence[str] = (),
) -> str:
    """Markdown comparing runs; the first run is the baseline of the Δ rows.

    ``paper`` adds published rows given as ``MODEL:METHOD`` (e.g. ``Qwen2.5-Omni-7B:icl``, ``Average:default``).
    With ``out_dir``, also writes ``compare.md`` and the plots there (``compare_per_task.png``,
    ``compare_fixed_groups.png`` — with runs of different prompting this is the default/CoT/ICL figure).
    """
    if not run_dirs:
        raise ValueError("give at least one run folder")
    published: list[list[PaperRow]] = []
    for spec in paper:  # checked first: a typo here should not wait for the runs to load
        model, _, method = spec.partition(":")
        found = find_paper_rows(model, method or None)
        if not found:
            raise ValueError(f"no published row for {spec!r} (MODEL:METHOD); {paper_row_names()}")
        published.append(found)
    rows: list[Row] = []
    for run_dir in run_dirs:
        meta, metrics, records = load_run(run_dir)
        if meta.get("identity", {}).get("adapter") != "crossomni":
            raise ValueError(f"{run_dir}: not a CrossOmni run (generic MCQ runs have no task table to compare)")
        rows.append((run_label(meta, Path(run_dir)), with_intervals(metrics, records)))
    group_rows = list(rows)  # published rows give tasks; their group means are computed here
    for found in published:
        rows += [(row.label, row.metrics) for row in found]
        group_rows += [(derived_label(row), row.metrics) for row in found]
    text = "\n".join(
        [
            "# CrossOmni runs compared",
            "",
            f"Accuracy (%); Δ rows are percentage points against the first row. {MISSING_NOTE}",
            "",
            paper_table(rows, deltas_against=0),
            "## Fixed-source / fixed-target groups (%)",
            "",
            "Each group is the mean of its two cross tasks; for paper rows it is computed from the published "
            "task accuracies, not printed in the paper.",
            "",
            groups_table(group_rows),
        ]
    )
    if out_dir is not None:
        out = claim_output_dir(out_dir, "compare", flag=None)  # new, empty or an earlier comparison
        drawn = [
            plot_per_task(rows, out / "compare_per_task.png", title="Accuracy per task by run"),
            plot_fixed_groups(group_rows, out / "compare_fixed_groups.png"),
        ]
        for name, path in zip(("per task", "fixed groups"), drawn, strict=True):
            text += f"\n![{name}]({path.name})\n" if path else f"\nNo {name} plot: no value to draw.\n"
        (out / "compare.md").write_text(text, encoding="utf-8")
    return text
