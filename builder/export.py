"""Export an annotation release as a Hub-ready dataset folder: parquet shards plus a ``README.md``
dataset card whose YAML ``configs:`` make ``load_dataset(folder, config)`` work without a loading
script. Rows are written with pyarrow against ``crossomni.FEATURES.arrow_schema`` (no torch import).

Media modes and how each stores a row once:
- ``reference`` (default): ``video``/``audio`` hold paths relative to the TVQA root (TVQA video is
  not redistributable); after loading, ``crossomni.resolve_media(ds, tvqa_root)`` makes them decodable.
  Rows go under their task (``data/<task>/``); ``all``, ``single`` and ``cross`` list their tasks' shards.
- ``embed``: the clip bytes go into the parquet (for private re-hosting only). Every clip is probed
  first (a corrupt one is named). A clip is asked about by up to nine task types, so task shards would
  hold it up to nine times: instead every task's rows of a split share one set of shards
  (``data/<split>-*.parquet``), a clip's rows always in the same shard, where parquet's dictionary
  encoding stores the clip's bytes once. Each config lists those shards with a ``filters`` on
  ``task_type`` (a ``datasets`` parquet builder parameter, applied when loading). ``video`` keeps the
  whole clip (its audio track is what omni models hear with the frames); ``audio`` holds only the
  audio track, copied out without re-encoding, because the ``Audio`` feature decodes its own column.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import crossomni
from builder.clip_probe import probe_clip, stream_copy
from builder.review import review_summary
from model_calls.outputs import check_output_dir, replace_output_dir
from model_cards.dataset_card import DatasetCardFacts, write_dataset_card

DEFAULT_EXPORT_DIR = "crossomni"
METRIC_DIR = Path(__file__).resolve().parents[1] / "evaluation" / "crossomni_acc"
DEFAULT_ROWS_PER_SHARD = {"reference": 5000, "embed": 200}
MAX_SHARD_BYTES = 512 * 1024 * 1024


@dataclass
class ExportSummary(DatasetCardFacts):
    """What an export wrote: counts per split and task, and the parquet files per config."""

    out_dir: Path = Path(DEFAULT_EXPORT_DIR)


def check_media(clips: dict[str, crossomni.Clip], root: Path, media: str) -> None:
    """Every clip's files exist under ``root`` (and, to embed them, decode); the first failure names its clip."""
    for clip in clips.values():
        paths = {
            column: crossomni.resolve_clip_path(getattr(clip, column), clip.clip_id, root, column)
            for column in ("video", "audio")
        }
        if media == "embed":
            if paths["video"] == paths["audio"]:
                probe_clip(paths["video"], clip.clip_id, ("video", "audio"))
            else:
                probe_clip(paths["video"], clip.clip_id, ("video",))
                probe_clip(paths["audio"], clip.clip_id, ("audio",))


def media_cells(video: str, audio: str) -> tuple[dict, dict]:
    """A clip's ``video`` and ``audio`` cells with their bytes. ``video`` is the clip as it is, audio track
    included: omni models read the clip's sound together with its frames (audio-in-video) from that one
    file. When the audio is the clip's own track, ``audio`` holds only that track (copied out without
    re-encoding), not the clip again; a separate audio file is stored as it is."""
    video_cell = {"path": Path(video).name, "bytes": Path(video).read_bytes()}
    if audio == video:
        return video_cell, {"path": Path(audio).stem + ".m4a", "bytes": stream_copy(audio, "audio")}
    return video_cell, {"path": Path(audio).name, "bytes": Path(audio).read_bytes()}


def iter_rows(
    release_dir: Path,
    split: str,
    clips: dict[str, crossomni.Clip],
    root: Path | None,
    media: str,
    rejected: set[str] | None = None,
) -> Iterator[dict]:
    """``FEATURES`` rows of what one split publishes (``crossomni.published_instances``: review rejections
    left out), media per ``media`` mode (paths kept, or bytes read under ``root``).

    In ``embed`` mode the rows come grouped by clip (clips in the order they first appear, rows in release
    order within a clip) and each clip's media is read once for all its rows."""
    records = crossomni.published_instances(release_dir, split, clips, rejected)
    if media == "reference":
        for record in records:
            yield crossomni.to_example(record, clips[record["clip_id"]], None)
        return
    by_clip: dict[str, list[dict]] = {}
    for record in records:
        by_clip.setdefault(record["clip_id"], []).append(record)
    for clip_id, group in by_clip.items():
        cells: tuple[dict, dict] | None = None
        for record in group:
            row = crossomni.to_example(record, clips[clip_id], root)
            cells = cells or media_cells(row["video"]["path"], row["audio"]["path"])
            row["video"], row["audio"] = cells
            yield row


def arrow_row(row: dict) -> dict:
    """A row as ``FEATURES.arrow_schema`` stores it (the task type as its ClassLabel index)."""
    return {**row, "task_type": crossomni.TASK_NAMES.index(row["task_type"])}


class ShardWriter:
    """Streams rows of one split into ``<split>-XXXXX-of-YYYYY.parquet`` files under ``dest``.

    A new shard starts once ``rows_per_shard`` rows or ``max_shard_bytes`` of row media are buffered
    (memory stays bounded in ``embed`` mode too), but only where a group starts: all rows of a group
    (a clip's, in ``embed`` mode) land in one shard, whose dictionary then holds the clip's bytes once.
    """

    def __init__(self, dest: Path, split: str, rows_per_shard: int, max_shard_bytes: int) -> None:
        self.dest, self.split = dest, split
        self.rows_per_shard, self.max_shard_bytes = rows_per_shard, max_shard_bytes
        self.parts: list[Path] = []
        self.buffer: list[dict] = []
        self.buffered_bytes = 0
        self.num_bytes: Counter[str] = Counter()  # Arrow bytes written per task, for the card's dataset_info

    def add(self, row: dict, size: int, starts_group: bool = True) -> None:
        full = len(self.buffer) >= self.rows_per_shard or self.buffered_bytes >= self.max_shard_bytes
        if starts_group and self.buffer and full:
            self._flush()
        self.buffer.append(row)
        self.buffered_bytes += size

    def _flush(self) -> None:
        table = pa.Table.from_pylist(self.buffer, schema=crossomni.FEATURES.arrow_schema)
        for index, row in enumerate(self.buffer):  # a slice's nbytes counts only the buffers it references
            self.num_bytes[crossomni.TASK_NAMES[row["task_type"]]] += table.slice(index, 1).nbytes
        self.dest.mkdir(parents=True, exist_ok=True)  # a task without rows gets no folder
        part = self.dest / f".{self.split}-{len(self.parts):05d}.tmp"
        # One row group per shard and a dictionary as large as the shard: a clip repeated in rows is stored once.
        pq.write_table(table, part, row_group_size=len(self.buffer), dictionary_pagesize_limit=self.max_shard_bytes)
        self.parts.append(part)
        self.buffer.clear()
        self.buffered_bytes = 0

    def close(self) -> list[str]:
        """Write what is buffered and name the shards (none when no row came: ``datasets`` cannot read a
        parquet file without rows, so a split without rows has no files and is left out of its configs)."""
        if self.buffer:
            self._flush()
        names = []
        for index, part in enumerate(self.parts):
            name = f"{self.split}-{index:05d}-of-{len(self.parts):05d}.parquet"
            os.replace(part, self.dest / name)
            names.append(name)
        return names


def export_release(
    release_dir: str | Path,
    out_dir: str | Path = DEFAULT_EXPORT_DIR,
    tvqa_root: str | Path | None = None,
    media: str = "reference",
    rows_per_shard: int | None = None,
    configs: tuple[str, ...] = crossomni.CONFIG_NAMES,
    overwrite: bool = False,
) -> ExportSummary:
    """Write the Hub-ready folder for ``release_dir`` into ``out_dir``, replacing an older export there.

    ``out_dir`` must be new, empty or an export (``model_calls.outputs``); ``overwrite`` replaces any other
    folder except the release, the media root and a folder holding them. ``tvqa_root`` is needed for
    ``embed`` (to read the clips) and is checked in ``reference`` mode when given (every referenced file
    must exist, so a broken release is caught before upload).
    """
    if media not in crossomni.MEDIA_MODES:
        raise ValueError(f"media must be one of {crossomni.MEDIA_MODES}, got {media!r}")
    if rows_per_shard is not None and (isinstance(rows_per_shard, bool) or rows_per_shard < 1):
        raise ValueError(f"rows per shard must be at least 1, got {rows_per_shard}")
    release_dir = Path(release_dir)
    protected = {"the release": release_dir, "the media root": tvqa_root}
    check_output_dir(out_dir, "export", overwrite=overwrite, protected=protected, replace=True)
    manifest = crossomni.validate_release(release_dir)
    if media == "reference" and manifest.get("media") == "embed":
        raise crossomni.ReleaseError(f"{release_dir}: an embed-mode release can only be exported with media='embed'")
    root = crossomni.media_root(release_dir, tvqa_root) if (media == "embed" or tvqa_root) else None
    clips = crossomni.read_clips(release_dir)
    if root is not None:
        check_media(clips, root, media)
    out_dir = Path(out_dir)
    summary = ExportSummary(out_dir=out_dir, media=media)
    with replace_output_dir(out_dir, "export", overwrite=overwrite, protected=protected) as staging:
        _write_export(staging, summary, release_dir, manifest, clips, root, rows_per_shard, configs)
    return summary


def _write_export(
    staging: Path,
    summary: ExportSummary,
    release_dir: Path,
    manifest: dict,
    clips: dict[str, crossomni.Clip],
    root: Path | None,
    rows_per_shard: int | None,
    configs: tuple[str, ...],
) -> None:
    """Write the shards and the card of an export into ``staging``, filling in ``summary``."""
    media = summary.media
    per_shard = rows_per_shard or DEFAULT_ROWS_PER_SHARD[media]
    tasks = [task for task in crossomni.TASK_NAMES if any(task in crossomni.CONFIG_TASKS[c] for c in configs)]
    shared = media == "embed"  # one set of shards per split, read by every config through its task filter
    summary.shared_shards = shared
    if shared:
        summary.filters = {
            c: crossomni.CONFIG_TASKS[c] for c in configs if set(crossomni.CONFIG_TASKS[c]) != set(tasks)
        }
    rejected = crossomni.rejected_ids(release_dir)  # the human review: what the release does not publish
    summary.review = review_summary(release_dir)
    # One pass per split: each row is read (its media once per clip) and stored once.
    for split in crossomni.SPLITS:
        if shared:
            writer = ShardWriter(staging / "data", split, per_shard, MAX_SHARD_BYTES)
            writers = dict.fromkeys(tasks, writer)
        else:
            writers = {task: ShardWriter(staging / "data" / task, split, per_shard, MAX_SHARD_BYTES) for task in tasks}
        counts = Counter({task: 0 for task in crossomni.TASK_NAMES})
        split_clips = set()
        previous_clip = None
        for row in iter_rows(release_dir, split, clips, root, media, rejected):
            counts[row["task_type"]] += 1
            split_clips.add(row["clip_id"])
            if row["task_type"] in writers:
                size = sum(len(row[column]["bytes"] or b"") for column in ("video", "audio"))
                starts_group = not shared or row["clip_id"] != previous_clip
                writers[row["task_type"]].add(arrow_row(row), size, starts_group)
                previous_clip = row["clip_id"]
        if shared:
            shard_names = [f"data/{name}" for name in writer.close()]
            task_files = dict.fromkeys(tasks, shard_names)
        else:
            task_files = {task: [f"data/{task}/{name}" for name in w.close()] for task, w in writers.items()}
        for config in configs:
            config_tasks = [task for task in tasks if task in crossomni.CONFIG_TASKS[config]]
            if not sum(counts[task] for task in config_tasks):  # load_dataset refuses a split without rows
                summary.empty.setdefault(config, []).append(split)
                continue
            files = [f for t in config_tasks for f in task_files[t]]
            summary.files.setdefault(config, {})[split] = list(dict.fromkeys(files))
            summary.num_bytes[(config, split)] = sum(writers[t].num_bytes[t] for t in config_tasks)
        summary.counts[split] = counts
        summary.clips[split] = len(split_clips)
    if not summary.files:
        reason = " (every instance was rejected in review)" if rejected else ""
        raise crossomni.ReleaseError(f"{release_dir}: no instance to export in configs {', '.join(configs)}{reason}")
    write_dataset_card(staging, summary, manifest)


def metric_taxonomy_problems() -> list[str]:
    """Where the metric folder's own copy of the task taxonomy differs from ``crossomni.py`` (empty: none).

    The metric holds the copy so that it loads without this project (``evaluation/crossomni_acc/taxonomy.py``).
    """
    from evaluation.crossomni_acc import taxonomy

    problems = []
    for name in ("LETTERS", "MODALITIES", "TASK_NAMES", "SINGLE_TASKS", "CROSS_TASKS"):
        if tuple(getattr(taxonomy, name)) != tuple(getattr(crossomni, name)):
            problems.append(f"{name}: metric {getattr(taxonomy, name)} vs crossomni.py {getattr(crossomni, name)}")
    schema = {t.name: (t.source, t.target) for t in crossomni.TASK_TYPES}
    held = {t.name: (t.source, t.target) for t in taxonomy.TASKS.values()}
    if held != schema:
        problems.append(f"task sources/targets: metric {held} vs crossomni.py {schema}")
    return problems


def export_metric(out_dir: str | Path = "crossomni_acc", overwrite: bool = False) -> Path:
    """Copy the ``crossomni_acc`` metric module into ``out_dir``, replacing an older copy there (``out_dir``
    must be new, empty or such a copy unless ``overwrite``; see ``model_calls.outputs``).

    With the folder in the working directory, ``evaluate.load("crossomni_acc")`` finds it before
    the Hub; the same folder is what an ``evaluate`` Space ``ORG/crossomni_acc`` holds. It imports only
    ``evaluate``, ``datasets``, ``numpy`` and the standard library; a copy of the taxonomy that differs from
    ``crossomni.py`` is refused before anything is written.
    """
    problems = metric_taxonomy_problems()
    if problems:
        raise RuntimeError("the metric's taxonomy.py differs from crossomni.py: " + "; ".join(problems))
    out_dir = Path(out_dir)
    protected = {"the metric's source": METRIC_DIR}
    with replace_output_dir(out_dir, "export-metric", overwrite=overwrite, protected=protected) as staging:
        shutil.copytree(METRIC_DIR, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    return out_dir
