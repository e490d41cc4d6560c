"""Final step: write the annotation release in ``crossomni.py``'s format (release.json, clips.jsonl,
train.jsonl, test.jsonl) and check every line with the loader's own validation. The release never
holds TVQA bytes: clips muxed from frame folders stay in the build's derived media folder."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from builder.config import BuildConfig
from builder.records import RELEASE_FIELDS, AlignedClip, Instance
from builder.sample import SAMPLE_NAME
from crossomni import (
    FORMAT_NAME,
    FORMAT_VERSION,
    SPLITS,
    Clip,
    ReleaseError,
    instance_problems,
    read_release_manifest,
    validate_release,
)
from model_calls.store import dumps, iter_records, write_atomic, write_json_atomic

MEDIA_ROOT_TVQA, MEDIA_ROOT_DERIVED = "tvqa", "derived"


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
    derived = False
    for record in aligned:
        clip = AlignedClip.model_validate(record)
        if clip.clip_id not in used:
            continue
        derived = derived or clip.media == "derived"
        clips[clip.clip_id] = Clip(clip.clip_id, clip.show, clip.episode, clip.video, clip.audio, clip.duration)
    if derived:  # one media root per release: link the referenced mp4s next to the muxed clips
        for clip_id, clip in clips.items():
            if clip.video != f"{clip_id}.mp4":
                relative = f"{clip_id}{Path(clip.video).suffix}"
                _link_or_copy(config.tvqa_root / clip.video, config.media_dir / relative)
                clips[clip_id] = Clip(clip_id, clip.show, clip.episode, relative, relative, clip.duration)
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
        "media": "reference",
        # what clip paths are relative to: the TVQA root, or a derived media root (OUT/media, or
        # `crossomni media --release R --tvqa-root T --out M` from one's own TVQA copy)
        "media_root": MEDIA_ROOT_DERIVED if derived else MEDIA_ROOT_TVQA,
        "name": config.name,
        **release_provenance(config.name == SAMPLE_NAME),
        "build": config.release_settings(),
        "answered_by": config.answered_by_roles(),  # the backend of the run that wrote the release
        "counts": {split: {t: c for (s, t), c in sorted(counts.items()) if s == split} for split in SPLITS},
    }
    write_json_atomic(release / "release.json", manifest)
    check_release(release)
    return manifest


def release_provenance(synthetic: bool) -> dict[str, Any]:
    """What the release says it was made from: TVQA, or the embedded synthetic sample (no TVQA data in it)."""
    if synthetic:
        return {
            "synthetic": True,
            "description": "CrossOmni annotation release of the embedded synthetic sample: generated clips in "
            "TVQA's file format (drawn people, espeak-ng voices), built by `crossomni build --sample`. "
            "It contains no TVQA data and demonstrates the pipeline only.",
            "source": "builder/sample (generated); built with crossomni build --sample",
        }
    return {
        "synthetic": False,
        "description": "CrossOmni annotation release regenerated from TVQA by `crossomni build`.",
        "source": "TVQA (Lei et al., 2018); built with crossomni build",
    }


def record_in_manifest(release: Path, key: str, value: Any) -> None:
    """Add ``key`` to ``release.json`` (what the build learnt after writing the release, e.g. its audit)."""
    manifest = read_release_manifest(release)
    write_json_atomic(release / "release.json", {**manifest, key: value})


def check_release(release: Path) -> None:
    """Read the release back with ``crossomni``'s readers, splits checked against each other too
    (raises ``ReleaseError`` on any problem)."""
    validate_release(release)
