"""``crossomni build``: run the stages in order, each resuming from its completion log, then write
the release and the report. Model calls go through a sqlite cache, so a finished build re-run
(or a new build over the same inputs with the same cache) makes no model calls."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from builder.audit import ShortcutAuditError, probe_group, shortcut_audit
from builder.config import BuildConfig
from builder.report import build_report, write_report
from builder.sample import SAMPLE_REPLAY
from builder.stage import StageRunner, StageStats
from builder.stages.align import AlignStage, Cast
from builder.stages.biography import BiographyStage
from builder.stages.blind import BlindStage
from builder.stages.caption import CaptionStage
from builder.stages.describe import DescribeStage
from builder.stages.preprocess import Preprocess, clip_items, mux_ahead, open_root
from builder.stages.qa import DistractorPool, LLMQAStage, TemplateQAStage
from builder.stages.rationale import LLMRationaleStage, TemplateRationaleStage
from builder.stages.release import record_in_manifest, write_release
from builder.stages.split import SplitStage, assign_episodes
from builder.stages.verify import (
    LLMVerifyStage,
    VerifyStage,
    answer_slots,
    clips_with_candidates,
    planned_instances,
)
from builder.stages.voice import VoiceStage
from builder.warm import STAGE_NAMES as STAGE_NAMES  # re-exported: the stage order
from crossomni import SPLITS, read_clips, read_instances
from model_calls import CachedBackend, ResponseCache
from model_calls.base import Backend
from model_calls.outputs import claim_output_dir
from model_calls.prefetch import MediaPrefetcher
from model_calls.router import routed_backend
from model_calls.store import write_json_atomic

MEDIA_STAGES = ("caption", "voice")  # the stages whose requests carry media


def open_backend(config: BuildConfig, record: Path | None = None) -> Backend:
    """The configured backend behind the response cache (and a recorder when ``record`` is set)."""
    options = dict(config.backend_options)
    if "replay" in (config.backend, options.get("engine")):
        options.setdefault("path", SAMPLE_REPLAY)  # the embedded sample's recorded replies
    engine = routed_backend(config.backend, options, config.models.options_by_model())
    backend: Backend = CachedBackend(engine, ResponseCache(config.cache_path or config.out / "cache.sqlite"))
    if record is not None:
        from model_calls.replay import RecordingBackend

        backend = RecordingBackend(backend, record)
    return backend


def check_settings(config: BuildConfig) -> None:
    """Refuse to resume a build folder made with other settings (its finished stages would be reused)."""
    path = config.out / "build.json"
    settings = json.loads(json.dumps(config.stage_settings()))
    started = config.stages_dir.is_dir() and any(config.stages_dir.iterdir())
    if path.exists() and started:
        previous = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in settings.keys() | previous.keys() if settings.get(k) != previous.get(k))
        if changed:
            raise ValueError(
                f"{config.out} was built with other settings ({', '.join(changed)} differ): "
                f"use another --out, or delete {config.stages_dir} to rebuild there"
            )
    else:
        write_json_atomic(path, settings)


def _close_all(backend: Any) -> None:
    """Close every layer (recorder: writes its file; router: frees its engines)."""
    while backend is not None:
        close = getattr(backend, "close", None)
        if callable(close):
            close()
        backend = getattr(backend, "backend", None)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


class _Stop(Exception):
    """Raised after the ``until`` stage: the rest of the build is skipped."""


def run_build(
    config: BuildConfig, backend: Backend | None = None, record: Path | None = None, until: str | None = None
) -> dict[str, Any]:
    """Build (or resume building) the release under ``config.out``; returns the report.

    ``until``: stop after this stage (its output and the report are written, the release is not).
    """
    if until is not None and until not in STAGE_NAMES:
        raise ValueError(f"--until must be one of {', '.join(STAGE_NAMES)}, got {until!r}")
    if getattr(multiprocessing.current_process(), "_inheriting", False):  # what multiprocessing itself checks
        raise RuntimeError(
            "run_build was called while one of the build's worker processes was starting: the script that "
            'builds must call it under `if __name__ == "__main__":` (the workers import the main module)'
        )
    started = time.perf_counter()
    claim_output_dir(config.out, "build", overwrite=config.overwrite, protected={"the TVQA root": config.tvqa_root})
    check_settings(config)
    backend = backend or open_backend(config, record)
    prefetch = MediaPrefetcher(backend, config.media_workers)
    if not all((config.stages_dir / f"{name}.done.json").exists() for name in MEDIA_STAGES):
        prefetch.start()  # the workers load their decoders (seconds) while preprocess runs
    runner = StageRunner(config.stages_dir, backend, config.progress, prefetch)
    stats: list[StageStats] = []

    def clips_of(stage: str) -> Iterator[tuple[str, Any]]:
        return ((r["clip_id"], r) for r in runner.records(stage))

    def instances_of(stage: str) -> Iterator[tuple[str, Any]]:
        return ((r["id"], r) for r in runner.records(stage))

    def run(stage: Any, items: Any, previous: str | None, role: str | None = None) -> None:
        total = _count_lines(runner.output(previous)) if previous else None
        batch = config.role(role).batch_size if role else None
        if config.backend == "ray":
            batch = None  # the whole stage in one Ray Data pipeline: one actor pool per stage
        stats.append(runner.run(stage, items, batch_size=batch, total=total))
        if stage.name == until:
            raise _Stop

    llm = config.qa_generator == "llm"
    try:
        root = open_root(config)
        preprocess = Preprocess(config, root)
        with closing(mux_ahead(preprocess, clip_items(config, root), config.media_workers)) as items:
            run(preprocess, items, None)
        run(CaptionStage(config), clips_of("preprocess"), "preprocess", "caption")
        run(DescribeStage(config), clips_of("caption"), "caption", "text")
        # biography before voice: one load of the text model for describe + biography on local engines
        run(BiographyStage(config), clips_of("describe"), "describe", "text")
        run(VoiceStage(config), clips_of("biography"), "biography", "voice")
        # decoys: people of the show lent between clips, planned over the whole build
        cast = Cast()
        if not runner.finished("align"):
            cast = Cast.from_records(runner.records("voice"), config.seed, config.test_fraction)
        run(AlignStage(cast), clips_of("voice"), "voice")
        pool = DistractorPool.from_records(runner.records("align"))
        run((LLMQAStage if llm else TemplateQAStage)(config, pool), clips_of("align"), "align", "text")
        episodes = {r["clip_id"]: r["episode"] for r in runner.records("align")}
        split_of = assign_episodes(episodes.values(), config.test_fraction, config.seed)
        if cast.split_of and cast.split_of != split_of:
            raise RuntimeError("the decoys were planned for another split than the split stage makes (a builder bug)")
        slots = {}
        if not runner.finished("verify"):  # answer letters: stratified per split and task
            clip_split = {clip_id: split_of[episode] for clip_id, episode in episodes.items()}
            planned = planned_instances(runner.records("qa"), clip_split, config.per_task_per_clip)
            slots = answer_slots(planned, config.seed)
        verify_items = clips_with_candidates(runner.records("align"), runner.records("qa"), slots)
        run((LLMVerifyStage if llm else VerifyStage)(config, pool), verify_items, "align", "text")
        run(BlindStage(config), instances_of("verify"), "verify", "text")
        run(SplitStage(config, runner.records("blind"), episodes), instances_of("blind"), "blind")
        run((LLMRationaleStage if llm else TemplateRationaleStage)(config), instances_of("split"), "split", "text")
        write_release(config, runner.output("rationale"), runner.records("align"))
        released = True
    except _Stop:
        released = False
    finally:
        prefetch.close()
        _close_all(backend)
    audit = None
    if released:
        audit = audit_release(config, {r["id"]: r.get("blind_answer") for r in runner.records("rationale")})
    report = build_report(config, stats, time.perf_counter() - started, audit=audit, released=released)
    write_report(config, report)
    if audit is not None and not audit["passed"]:
        raise ShortcutAuditError(
            f"shortcut audit failed: {'; '.join(audit['violations'])} (see {config.out / 'report.md'}; "
            "--max-shortcut-accuracy sets the bound, --blind-filter K drops what reading solves)"
        )
    return report


AUDIT_FIELDS = ("id", "clip_id", "task_type", "question", "options", "biography", "answer")


def _audit_rows(instances: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """The text the audit reads (baselines and probes), held once per release: each clip's biography is
    one string shared by its questions (the release's text is the audit's largest object)."""
    biographies: dict[str, str] = {}
    rows = []
    for instance in instances:
        row = {field: instance[field] for field in AUDIT_FIELDS}
        row["biography"] = biographies.setdefault(row["biography"], row["biography"])
        rows.append(row)
    return rows


def audit_release(config: BuildConfig, blind_answers: dict[str, str | None]) -> dict[str, Any]:
    """The shortcut audit of the written release, also recorded in its ``release.json`` (for the card)."""
    from builder.probe import learned_probe  # scikit-learn takes seconds to import: only a finished build pays

    clips = read_clips(config.release_dir)
    rows = {split: _audit_rows(read_instances(config.release_dir, split, clips)) for split in SPLITS}
    learned = learned_probe(rows["train"], rows["test"], probe_group, seed=config.seed)
    audit = shortcut_audit(
        (row for split in SPLITS for row in rows[split]),
        blind_answers,
        max_accuracy=config.max_shortcut_accuracy,
        blind_model=config.answered_by("text"),
        blind_filter=config.blind_filter,
        learned=learned,
    )
    record_in_manifest(config.release_dir, "shortcut_audit", audit)
    return audit
