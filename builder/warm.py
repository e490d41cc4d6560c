"""Recognise a build folder with nothing left to do from its files alone, before the stages are imported.

``crossomni build`` run again over a finished folder would skip every stage (each has its
``<stage>.done.json``) and write the same release and report again; importing the stages costs
more than that. ``finished_report`` answers such a re-run from the folder's own report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builder.config import BuildConfig

STAGE_NAMES = (
    "preprocess",
    "caption",
    "describe",
    "biography",
    "voice",
    "align",
    "qa",
    "verify",
    "blind",
    "split",
    "rationale",
)
RELEASE_FILES = ("release.json", "clips.jsonl", "train.jsonl", "test.jsonl")


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def finished_report(config: BuildConfig) -> dict[str, Any] | None:
    """The report of ``config.out`` as a re-run would give it, when the folder is finished with the same
    settings and untouched since (every stage done, then the release, then the report); else None."""
    build_json, report_json = config.out / "build.json", config.out / "report.json"
    done = [_mtime(config.stages_dir / f"{stage}.done.json") for stage in STAGE_NAMES]
    release = [_mtime(config.release_dir / name) for name in RELEASE_FILES]
    report_time = _mtime(report_json)
    if None in done or None in release or report_time is None or _mtime(build_json) is None:
        return None
    if not max(done) <= release[0] or not max(release) <= report_time:
        return None
    try:
        settings = json.loads(build_json.read_text(encoding="utf-8"))
        report = json.loads(report_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if settings != json.loads(json.dumps(config.stage_settings())) or not isinstance(report, dict):
        return None
    stages = [{**stage, "skipped": True} for stage in report.get("stages", [])]
    return {**report, "stages": stages, "model_calls": {"backend_calls": 0, "requests": 0, "cache_hits": 0}}
