"""The files of one evaluation run: append-only predictions, pending errors, metadata, metrics.

``predictions.jsonl`` holds one scored record per item and is only appended to, so a crash loses
at most the batch in flight; a torn last line is dropped (and the item redone) on the next start.
``errors.jsonl`` holds the items whose generation failed: they are not scored and are retried.

Lines are split on ``\n`` only: a model's output may hold U+2028, U+0085 and the other characters
``str.splitlines`` also breaks at, which JSON leaves unescaped. Every reader of these files names the
file, line and field of a bad record (``RunFileError``).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossomni import loads_json, short_repr

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


# What every scored record holds (``runner.make_record``), with the types its readers rely on.
RECORD_FIELDS: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "task_type": (str,),
    "clip_id": (str,),
    "options": (list,),
    "answer": (str,),
    "raw_output": (str,),
    "extracted": (str, type(None)),
    "correct": (bool,),
}


class RunFileError(ValueError):
    """A run file that cannot be read as written by ``crossomni eval``; the message names file and line."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file of a run (``run.json``, ``metrics.json``); anything else is a ``RunFileError``."""
    value = loads_json(path.read_bytes(), str(path), RunFileError)
    if not isinstance(value, dict):
        raise RunFileError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def record_problem(record: Any) -> str | None:
    """Why ``record`` is not a scored prediction record (its field and value), or None when it is one."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for key, kinds in RECORD_FIELDS.items():
        if key not in record:
            return f"the record has no {key!r}"
        if not isinstance(record[key], kinds):
            names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in kinds)
            return f"{key!r} must be {names}, got {short_repr(record[key])}"
    if not record["id"]:
        return "'id' is empty"
    for key in ("options", "modalities"):  # "modalities": what reached the model, null when unreported
        value = record.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return f"{key!r} must be a list of strings, got {short_repr(value)}"
    return None


@dataclass
class RecordScan:
    """The records of a JSONL run file by id (the last of a repeated id), and what could not be read."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # "FILE:LINE: why", in file order
    torn: bool = False  # the last line has no newline and no valid record: a write cut short by a crash


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """``(number, line, ends_with_newline)``, split on ``\n`` alone."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw, raw.endswith(b"\n")


def scan_records(path: Path, check: bool = True) -> RecordScan:
    """Read a JSONL run file; with ``check``, each record must be a scored prediction (``record_problem``)."""
    scan = RecordScan()
    if not path.exists():
        return scan
    seen: dict[str, int] = {}
    for number, raw, complete in _lines(path):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = loads_json(raw, where, RunFileError)
        except RunFileError as err:
            if complete:
                scan.problems.append(str(err))
            else:
                scan.torn = True
            continue
        if check:
            problem = record_problem(record)
        elif not isinstance(record, dict) or not isinstance(record.get("id"), str):
            problem = "expected a JSON object with a string 'id'"
        else:
            problem = None
        if problem is not None:
            scan.problems.append(f"{where}: {problem}")
            continue
        if record["id"] in seen:
            first = seen[record["id"]]
            scan.problems.append(f"{where}: id {short_repr(record['id'])} is on line {first} too (this one is kept)")
        seen[record["id"]] = number
        scan.records[record["id"]] = record
    return scan


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """The scored records of ``predictions.jsonl`` in file order; the first bad line is a ``RunFileError``.

    A torn last line (a crash mid-write: the item is redone on the next start) is left out.
    """
    scan = scan_records(path)
    if scan.problems:
        more = f" ({len(scan.problems) - 1} more bad lines)" if len(scan.problems) > 1 else ""
        raise RunFileError(scan.problems[0] + more)
    return list(scan.records.values())


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
        """Scored records by id; a torn, invalid or repeated line is dropped (its item is redone) and the file
        rewritten without it, with a warning naming the first such line."""
        scan = scan_records(self.predictions)
        if scan.problems:
            print(
                f"warning: {len(scan.problems)} unreadable or repeated lines left out of {self.predictions} "
                f"(first: {scan.problems[0]}); an item left without a record is run again",
                file=sys.stderr,
            )
        if scan.problems or scan.torn:
            self._rewrite(scan.records.values())
        return scan.records

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
        """The pending generation errors by id (a line that is not one is dropped: its item is retried anyway)."""
        return scan_records(self.errors, check=False).records

    def write_errors(self, errors: Mapping[str, Mapping[str, Any]]) -> None:
        partial = self.errors.with_suffix(".jsonl.partial")
        with open(partial, "w", encoding="utf-8") as handle:
            for record in errors.values():
                handle.write(json.dumps(_clean(record), ensure_ascii=False) + "\n")
        os.replace(partial, self.errors)
