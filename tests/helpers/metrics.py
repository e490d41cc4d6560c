"""Recompute a run's metrics from its per-sample records with the crossomni_acc module, as a user would."""

from __future__ import annotations

from typing import Any

from builder.export import METRIC_DIR


def recompute_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``evaluate.load(<metric folder>).compute(...)`` over the raw outputs of ``predictions.jsonl`` records."""
    import evaluate

    return evaluate.load(str(METRIC_DIR)).compute(
        predictions=[r["raw_output"] for r in records],
        references=[r["answer"] for r in records],
        task_types=[r["task_type"] for r in records],
        clip_ids=[r["clip_id"] for r in records],
        options=[r["options"] for r in records],
    )
