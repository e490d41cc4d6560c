"""``crossomni eval compare``: several runs (and published paper rows) side by side, with differences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evaluation.reference import find_paper_rows, paper_row_names
from evaluation.report import Row, groups_table, load_run, paper_table, plot_fixed_groups, plot_per_task, run_label


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
    published: list[Row] = []
    for spec in paper:  # checked first: a typo here should not wait for the runs to load
        model, _, method = spec.partition(":")
        found = find_paper_rows(model, method or None)
        if not found:
            raise ValueError(f"no published row for {spec!r} (MODEL:METHOD); {paper_row_names()}")
        published += [(row.label, row.metrics) for row in found]
    rows: list[Row] = []
    for run_dir in run_dirs:
        meta, metrics, _ = load_run(run_dir)
        if meta.get("identity", {}).get("adapter") != "crossomni":
            raise ValueError(f"{run_dir}: not a CrossOmni run (generic MCQ runs have no task table to compare)")
        rows.append((run_label(meta, Path(run_dir)), metrics))
    rows += published
    text = "\n".join(
        [
            "# CrossOmni runs compared",
            "",
            "Accuracy (%); Δ rows are percentage points against the first row.",
            "",
            paper_table(rows, deltas_against=0),
            "## Fixed-source / fixed-target groups (%)",
            "",
            groups_table(rows),
        ]
    )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        plot_per_task(rows, out / "compare_per_task.png", title="Accuracy per task by run")
        plot_fixed_groups(rows, out / "compare_fixed_groups.png")
        text += "\n![per task](compare_per_task.png)\n\n![fixed groups](compare_fixed_groups.png)\n"
        (out / "compare.md").write_text(text, encoding="utf-8")
    return text
