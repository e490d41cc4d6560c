"""``crossomni media``: regenerate a release's derived media root from one's own TVQA copy.

A release built from TVQA frame folders points at clips muxed by the build (frames + audio into
an mp4), relative to a derived media root that is never published. Anyone holding TVQA rebuilds
that root here: each clip is muxed again from its frames and audio (or its mp4 linked), and its
duration checked against the release's ``clips.jsonl``."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from builder.tvqa import MediaLayout, locate_media, mux_frames, probe_duration, safe_vid_name, show_prefix
from crossomni import read_clips, read_release_manifest
from model_calls.outputs import claim_output_dir

DURATION_SLACK = 0.5  # seconds: containers round differently


@dataclass
class MediaRootSummary:
    written: int = 0
    kept: int = 0  # already there with the right duration
    problems: dict[str, str] = field(default_factory=dict)  # clip_id -> why it is missing


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def regenerate_media_root(
    release_dir: Path, tvqa_root: Path, out: Path, layout: MediaLayout, overwrite: bool = False
) -> MediaRootSummary:
    """Write every clip of ``release_dir`` under ``out`` from ``tvqa_root``; a clip that cannot be made
    is recorded in ``problems`` (the others are still written). ``out`` must be new, empty or a media root
    this command wrote, unless ``overwrite`` (never the release, the TVQA root or a folder holding them)."""
    manifest = read_release_manifest(release_dir)
    if manifest.get("media_root", "tvqa") != "derived":
        raise ValueError(f"{release_dir}: its clip paths are relative to the TVQA root itself; nothing to regenerate")
    protected = {"the release": release_dir, "the TVQA root": tvqa_root}
    claim_output_dir(out, "media", overwrite=overwrite, protected=protected)
    summary = MediaRootSummary()
    for clip in read_clips(release_dir).values():
        target = out / clip.video
        if not safe_vid_name(clip.clip_id) or clip.video != f"{clip.clip_id}{Path(clip.video).suffix}":
            summary.problems[clip.clip_id] = f"media path {clip.video!r} is not <clip_id>.mp4; refused"
            continue
        try:
            if target.is_file() and abs(probe_duration(target) - clip.duration) <= DURATION_SLACK:
                summary.kept += 1
                continue
            target.unlink(missing_ok=True)
            media = locate_media(tvqa_root, layout, clip.clip_id, show_prefix(clip.clip_id))
            if media.video is not None:
                _link_or_copy(media.video, target)
            else:
                mux_frames(media.frames, media.audio, target, layout.frames_fps)
            duration = probe_duration(target)
            if abs(duration - clip.duration) > DURATION_SLACK:
                target.unlink()
                summary.problems[clip.clip_id] = f"{duration:.2f}s long, the release says {clip.duration:.2f}s"
                continue
            summary.written += 1
        except Exception as err:  # one clip's inputs: recorded, the others still written
            summary.problems[clip.clip_id] = f"{type(err).__name__}: {str(err)[:300]}"
    return summary
