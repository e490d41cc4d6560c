"""Final step: write the annotation release in ``crossomni.py``'s format (release.json, clips.jsonl,
train.jsonl, test.jsonl; ``media/`` for clips muxed from frame folders) and check every line with
the loader's own validation."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from builder.config import BuildConfig
from builder.records import RELEASE_FIELDS, AlignedClip, Instance
from crossomni import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SPLITS,
    Clip,
    ReleaseError,
    instance_problems,
    read_clips,
    read_instances,
    read_release_manifest,
)
from model_calls.store import dumps, iter_records, write_atomic, write_json_atomic


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def write_release(config: BuildConfig, instances_path: Path, aligned: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Write the release from the rationale stage's instances (streamed once per file) and the aligned clips."""
    release = config.release_dir
    release.mkdir(parents=True, exist_ok=True)
    used: set[str] = {record["clip_id"] for record in iter_records(instances_path)}
    clips: dict[str, Clip] = {}
    embed = False
    for record in aligned:
        clip = AlignedClip.model_validate(record)
        if clip.clip_id not in used:
            continue
        embed = embed or clip.media == "embed"
        clips[clip.clip_id] = Clip(clip.clip_id, clip.show, clip.episode, clip.video, clip.audio, clip.duration)
    if embed:  # one media root per release: bring referenced clips next to the muxed ones
        for clip in clips.values():
            source = (config.out if clip.video.startswith("media/") else config.tvqa_root) / clip.video
            relative = f"media/{Path(clip.video).name}"
            _link_or_copy(source, release / relative)
            clips[clip.clip_id] = Clip(clip.clip_id, clip.show, clip.episode, relative, relative, clip.duration)
    clip_lines = [dumps({name: getattr(c, name) for name in Clip.__dataclass_fields__}) for c in clips.values()]
    write_atomic(release / "clips.jsonl", clip_lines)
    counts: Counter[tuple[str, str]] = Counter()
    for split in SPLITS:

        def lines(split: str = split) -> Iterable[str]:
            for record in iter_records(instances_path):
                instance = Instance.model_validate(record)
                if instance.split != split:
                    continue
                row = {name: getattr(instance, name) for name in RELEASE_FIELDS}
                problems = instance_problems(row, clips, split)
                if problems:
                    raise ReleaseError(
                        f"instance {instance.id}: {'; '.join(problems)} (a builder bug: please report it)"
                    )
                counts[(split, instance.task_type)] += 1
                yield dumps(row)

        write_atomic(release / f"{split}.jsonl", lines())
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "media": "embed" if embed else "reference",
        "name": config.name,
        "description": "CrossOmni annotation release regenerated from TVQA by `crossomni build`.",
        "source": "TVQA (Lei et al., 2018); built with crossomni build",
        "build": config.release_settings(),
        "counts": {split: {t: c for (s, t), c in sorted(counts.items()) if s == split} for split in SPLITS},
    }
    write_json_atomic(release / "release.json", manifest)
    check_release(release)
    return manifest


def record_in_manifest(release: Path, key: str, value: Any) -> None:
    """Add ``key`` to ``release.json`` (what the build learnt after writing the release, e.g. its audit)."""
    manifest = read_release_manifest(release)
    write_json_atomic(release / "release.json", {**manifest, key: value})


def check_release(release: Path) -> None:
    """Read the release back with ``crossomni``'s readers (raises ``ReleaseError`` on any problem)."""
    read_release_manifest(release)
    clips = read_clips(release)
    for split in SPLITS:
        for _ in read_instances(release, split, clips):
            pass
