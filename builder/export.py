"""Export an annotation release as a Hub-ready dataset folder: parquet shards per task type and
split plus a ``README.md`` dataset card whose YAML ``configs:`` make ``load_dataset(folder, config)``
work without a loading script. Each row is stored once, under its task (``data/<task>/``); the
configs ``all``, ``single`` and ``cross`` list the shards of their tasks in ``data_files``.

Rows are written with pyarrow against ``crossomni.FEATURES.arrow_schema`` (no torch import).

Media modes:
- ``reference`` (default): ``video``/``audio`` hold paths relative to the TVQA root (TVQA video is
  not redistributable); after loading, ``crossomni.resolve_media(ds, tvqa_root)`` makes them decodable.
- ``embed``: the clip bytes go into the parquet (for private re-hosting only). Every clip is probed
  first (a corrupt one is named); ``video`` keeps the whole clip (its audio track is what omni models
  hear with the frames) and ``audio`` only the audio track, copied out without re-encoding; within a
  shard a clip repeated in several rows is stored once (parquet dictionary encoding).
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
from builder.review import rejected_ids, review_summary
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


def _embedded(row: dict) -> dict:
    """A resolved row with its media bytes. ``video`` is the clip as it is, audio track included: omni
    models read the clip's sound together with its frames (audio-in-video) from that one file. When the
    audio is the clip's own track, ``audio`` holds only that track (copied out without re-encoding), not
    the clip again; a separate audio file is stored as it is."""
    video, audio = row["video"]["path"], row["audio"]["path"]
    if audio == video:
        row["video"] = {"path": Path(video).name, "bytes": Path(video).read_bytes()}
        row["audio"] = {"path": Path(audio).stem + ".m4a", "bytes": stream_copy(audio, "audio")}
    else:
        row["video"] = {"path": Path(video).name, "bytes": Path(video).read_bytes()}
        row["audio"] = {"path": Path(audio).name, "bytes": Path(audio).read_bytes()}
    return row


def iter_rows(
    release_dir: Path, split: str, clips: dict[str, crossomni.Clip], root: Path | None, media: str
) -> Iterator[dict]:
    """``FEATURES`` rows of one split, media per ``media`` mode (paths kept, or bytes read under ``root``)."""
    for record in crossomni.read_instances(release_dir, split, clips):
        clip = clips[record["clip_id"]]
        if media == "reference":
            yield crossomni.to_example(record, clip, None)
        else:
            yield _embedded(crossomni.to_example(record, clip, root))


def arrow_row(row: dict) -> dict:
    """A row as ``FEATURES.arrow_schema`` stores it (the task type as its ClassLabel index)."""
    return {**row, "task_type": crossomni.TASK_NAMES.index(row["task_type"])}


class ShardWriter:
    """Streams rows of one task/split into ``<split>-XXXXX-of-YYYYY.parquet`` files.

    A shard is flushed at ``rows_per_shard`` rows or ``max_shard_bytes`` of buffered media,
    whichever comes first, so memory stays bounded in ``embed`` mode too.
    """

    def __init__(self, dest: Path, split: str, rows_per_shard: int, max_shard_bytes: int) -> None:
        self.dest, self.split = dest, split
        self.rows_per_shard, self.max_shard_bytes = rows_per_shard, max_shard_bytes
        self.parts: list[Path] = []
        self.buffer: list[dict] = []
        self.buffered_bytes = 0
        self.num_bytes = 0  # Arrow bytes written, for the card's dataset_info
        dest.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict, size: int) -> None:
        self.buffer.append(row)
        self.buffered_bytes += size
        if len(self.buffer) >= self.rows_per_shard or self.buffered_bytes >= self.max_shard_bytes:
            self._flush()

    def _flush(self) -> None:
        table = pa.Table.from_pylist(self.buffer, schema=crossomni.FEATURES.arrow_schema)
        self.num_bytes += table.nbytes
        part = self.dest / f".{self.split}-{len(self.parts):05d}.tmp"
        # One row group per shard and a dictionary as large as the shard: a clip repeated in rows is stored once.
        pq.write_table(table, part, row_group_size=len(self.buffer), dictionary_pagesize_limit=self.max_shard_bytes)
        self.parts.append(part)
        self.buffer.clear()
        self.buffered_bytes = 0

    def close(self) -> list[str]:
        """Write what is buffered (an empty split still gets one empty shard) and name the shards."""
        if self.buffer or not self.parts:
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
) -> ExportSummary:
    """Write the Hub-ready folder for ``release_dir`` into ``out_dir`` (replacing an older export).

    ``tvqa_root`` is needed for ``embed`` (to read the clips) and is checked in ``reference`` mode
    when given (every referenced file must exist, so a broken release is caught before upload).
    """
    if media not in crossomni.MEDIA_MODES:
        raise ValueError(f"media must be one of {crossomni.MEDIA_MODES}, got {media!r}")
    release_dir = Path(release_dir)
    manifest = crossomni.validate_release(release_dir)
    if media == "reference" and manifest.get("media") == "embed":
        raise crossomni.ReleaseError(f"{release_dir}: an embed-mode release can only be exported with media='embed'")
    root = crossomni.media_root(release_dir, tvqa_root) if (media == "embed" or tvqa_root) else None
    clips = crossomni.read_clips(release_dir)
    if root is not None:
        check_media(clips, root, media)
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    summary = ExportSummary(out_dir=out_dir, media=media)
    per_shard = rows_per_shard or DEFAULT_ROWS_PER_SHARD[media]
    tasks = [task for task in crossomni.TASK_NAMES if any(task in crossomni.CONFIG_TASKS[c] for c in configs)]
    task_files: dict[str, dict[str, list[str]]] = {task: {} for task in tasks}
    rejected = rejected_ids(release_dir)  # the human review (review.jsonl): rejected instances are left out
    summary.review = review_summary(release_dir)
    # One pass per split: each row is read (and its media loaded) once and stored once, under its task.
    for split in crossomni.SPLITS:
        writers = {task: ShardWriter(staging / "data" / task, split, per_shard, MAX_SHARD_BYTES) for task in tasks}
        counts = Counter({task: 0 for task in crossomni.TASK_NAMES})
        split_clips = set()
        for row in iter_rows(release_dir, split, clips, root, media):
            if row["id"] in rejected:
                continue
            counts[row["task_type"]] += 1
            split_clips.add(row["clip_id"])
            if row["task_type"] in writers:
                size = sum(len(row[column]["bytes"] or b"") for column in ("video", "audio"))
                writers[row["task_type"]].add(arrow_row(row), size)
        for task, writer in writers.items():
            task_files[task][split] = [f"data/{task}/{name}" for name in writer.close()]
        for config in configs:
            config_tasks = [task for task in tasks if task in crossomni.CONFIG_TASKS[config]]
            summary.files.setdefault(config, {})[split] = [f for t in config_tasks for f in task_files[t][split]]
            summary.num_bytes[(config, split)] = sum(writers[t].num_bytes for t in config_tasks)
        summary.counts[split] = counts
        summary.clips[split] = len(split_clips)
    write_dataset_card(staging, summary, manifest)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    return summary


def export_metric(out_dir: str | Path = "crossomni_acc") -> Path:
    """Copy the ``crossomni_acc`` metric module into ``out_dir`` (replacing an older copy).

    With the folder in the working directory, ``evaluate.load("crossomni_acc")`` finds it before
    the Hub; the same folder is what an ``evaluate`` Space ``ORG/crossomni_acc`` holds.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(METRIC_DIR, out_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return out_dir
