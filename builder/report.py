"""The build report: counts per stage, per show and per task, drop/failure reasons, model calls
made and cached, and the shortcut audit (``builder.audit``) — as ``report.json`` and ``report.md``."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from typing import Any

import jinja2

from builder.config import BuildConfig
from builder.stage import StageStats
from crossomni import SPLITS, TASK_NAMES, read_clips, read_instances
from model_calls.store import iter_records, write_atomic, write_json_atomic

EXAMPLES_PER_REASON = 2


def drop_reasons(config: BuildConfig, stats: list[StageStats]) -> list[dict[str, Any]]:
    """Why items were dropped, most frequent first: stage, reason, count and two example ids."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for stage in stats:
        path = config.stages_dir / f"{stage.name}.rejects.jsonl"
        if not path.is_file():
            continue
        for record in iter_records(path):
            if not record.get("dropped"):
                continue
            entry = found.setdefault(
                (stage.name, record.get("reason", "unknown")),
                {"stage": stage.name, "reason": record.get("reason", "unknown"), "count": 0, "examples": []},
            )
            entry["count"] += 1
            if len(entry["examples"]) < EXAMPLES_PER_REASON:
                entry["examples"].append(str(record.get("id", ""))[:120])
    return sorted(found.values(), key=lambda e: (-e["count"], e["stage"], e["reason"]))


CANDIDATE_STAGES: tuple[str, ...] = ("verify", "blind", "split", "rationale")


def candidate_flow(stats: list[StageStats]) -> list[dict[str, Any]]:
    """Where the QA candidates went, stage by stage from verify on: in = kept + dropped (by reason) + not selected
    (a cap chose others) + unaccounted (0 unless a whole item failed before its candidates were counted)."""
    by_name = {stage.name: stage for stage in stats}
    if "qa" not in by_name:
        return []
    flow, count = [], by_name["qa"].outputs
    for name in CANDIDATE_STAGES:
        stage = by_name.get(name)
        if stage is None:
            break
        dropped = dict(stage.dropped)
        accounted = stage.outputs + sum(dropped.values()) + stage.not_selected
        flow.append(
            {
                "stage": name,
                "in": count,
                "kept": stage.outputs,
                "dropped": dropped,
                "not_selected": stage.not_selected,
                "unaccounted": count - accounted,
            }
        )
        count = stage.outputs
    return flow


def build_report(
    config: BuildConfig,
    stats: list[StageStats],
    seconds: float,
    audit: dict[str, Any] | None = None,
    released: bool = True,
) -> dict[str, Any]:
    clips = read_clips(config.release_dir) if released else {}
    per_task = {task: {split: 0 for split in SPLITS} for task in TASK_NAMES}
    per_show: dict[str, Counter[str]] = {}
    for clip in clips.values():
        per_show.setdefault(clip.show, Counter())["clips"] += 1
    totals: Counter[str] = Counter()
    for split in SPLITS if released else ():
        for record in read_instances(config.release_dir, split, clips):
            per_task[record["task_type"]][split] += 1
            per_show[clips[record["clip_id"]].show][split] += 1
            totals[split] += 1
    stage_dicts = [s.to_dict() for s in stats]
    return {
        "tvqa_root": str(config.tvqa_root),
        "release_dir": str(config.release_dir),
        "backend": config.backend,
        "qa_generator": config.qa_generator,
        "seed": config.seed,
        "shard": f"{config.shard.index}/{config.shard.count}",
        "models": config.models.to_dict(),
        "answered_by": config.answered_by_roles(),
        "stages": stage_dicts,
        "released": released,
        "until": None if released or not stats else stats[-1].name,
        "drops": drop_reasons(config, stats),
        "candidates": candidate_flow(stats),
        "per_task_per_clip": config.per_task_per_clip,
        "model_calls": {
            "backend_calls": sum(s.backend_calls for s in stats),
            "requests": sum(s.requests for s in stats),
            "cache_hits": sum(s.cache_hits for s in stats),
        },
        "release": {"clips": len(clips), **{split: totals[split] for split in SPLITS}},
        "per_task": per_task,
        "per_show": {show: {"clips": c["clips"], **{s: c[s] for s in SPLITS}} for show, c in sorted(per_show.items())},
        "shortcut_audit": audit,
        "seconds": round(seconds, 3),
    }


def write_report(config: BuildConfig, report: dict[str, Any]) -> None:
    write_json_atomic(config.out / "report.json", report)
    template = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=False).from_string(
        resources.files("builder").joinpath("report.md.jinja").read_text(encoding="utf-8")
    )
    write_atomic(config.out / "report.md", [template.render(report=report)])
