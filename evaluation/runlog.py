"""The files of one evaluation run: append-only predictions, pending errors, metadata, metrics.

``predictions.jsonl`` holds one scored record per item and is only appended to, so a crash loses
at most the batch in flight; a torn last line is dropped (and the item redone) on the next start.
``errors.jsonl`` holds the items whose generation failed: they are not scored and are retried.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PREDICTIONS = "predictions.jsonl"
ERRORS = "errors.jsonl"
RUN = "run.json"
METRICS = "metrics.json"
REPORT = "report.md"


def _clean(value: Any) -> Any:
    """JSON-safe numbers: NaN becomes null (strict JSON readers reject NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write JSON atomically (temp file + rename)."""
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(_clean(payload), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def restore_nan(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Undo ``_clean`` for a metrics dict: null accuracies read back as NaN."""
    return {key: float("nan") if value is None else value for key, value in metrics.items()}


class RunLog:
    """Read and write the files of a run folder."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.predictions = self.dir / PREDICTIONS
        self.errors = self.dir / ERRORS

    def clear(self) -> None:
        """Remove this run's files (predictions, errors, metadata, metrics, report), keeping the folder."""
        for name in (PREDICTIONS, ERRORS, RUN, METRICS, REPORT):
            (self.dir / name).unlink(missing_ok=True)

    def load_records(self) -> dict[str, dict[str, Any]]:
        """Scored records by id; a torn or invalid line is dropped and the file rewritten without it."""
        if not self.predictions.exists():
            return {}
        records: dict[str, dict[str, Any]] = {}
        dropped = 0
        for line in self.predictions.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                records[record["id"]] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                dropped += 1
        if dropped:
            self._rewrite(records.values())
        return records

    def _rewrite(self, records: Iterable[Mapping[str, Any]]) -> None:
        partial = self.predictions.with_suffix(".jsonl.partial")
        with open(partial, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(_clean(record), ensure_ascii=False) + "\n")
        os.replace(partial, self.predictions)

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        with open(self.predictions, "a", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(_clean(record), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def load_errors(self) -> dict[str, dict[str, Any]]:
        if not self.errors.exists():
            return {}
        errors = {}
        for line in self.errors.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                errors[record["id"]] = record
        return errors

    def write_errors(self, errors: Mapping[str, Mapping[str, Any]]) -> None:
        partial = self.errors.with_suffix(".jsonl.partial")
        with open(partial, "w", encoding="utf-8") as handle:
            for record in errors.values():
                handle.write(json.dumps(_clean(record), ensure_ascii=False) + "\n")
        os.replace(partial, self.errors)
