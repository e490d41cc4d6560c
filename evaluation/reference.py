"""The paper's published results (Tables 5, 7, 11, 12) as reference rows, in the metric's units."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from crossomni import TASK_NAMES
from evaluation.crossomni_acc.scoring import aggregate

PAPER_CSV = Path(__file__).resolve().parent / "data" / "paper_results.csv"


@dataclass(frozen=True)
class PaperRow:
    source: str  # table5 (default), table11 (cot), table12 (icl), table7 (sft/grpo)
    method: str
    model: str
    metrics: dict[str, float]  # fractions like crossomni_acc: tasks, overall, single, cross

    @property
    def label(self) -> str:
        return f"paper: {self.model} ({self.method})"


@lru_cache(maxsize=1)
def paper_rows() -> tuple[PaperRow, ...]:
    """All published rows; ``single``/``cross``/fixed groups derived the metric's way (unweighted task means)."""
    rows = []
    with open(PAPER_CSV, encoding="utf-8") as handle:
        for record in csv.DictReader(line for line in handle if not line.startswith("#")):
            metrics = {name: float(record[name]) / 100 for name in (*TASK_NAMES, "overall")}
            metrics |= aggregate(metrics)
            rows.append(PaperRow(record["source"], record["method"], record["model"], metrics))
    return tuple(rows)


def find_paper_rows(model: str | None = None, method: str | None = None) -> list[PaperRow]:
    """Rows for a model (matched on the last path part of a Hub id, case-insensitive) and/or method."""
    wanted = model.rstrip("/").split("/")[-1].lower() if model else None
    return [
        row
        for row in paper_rows()
        if (wanted is None or row.model.lower() == wanted) and (method is None or row.method == method)
    ]


def paper_row_names() -> str:
    """The models and methods ``eval compare --paper MODEL:METHOD`` accepts, for error messages."""
    models = sorted({row.model for row in paper_rows()}, key=str.lower)
    methods = sorted({row.method for row in paper_rows()})
    return f"models: {', '.join(models)}; methods: {', '.join(methods)}"
