"""The server side of ``crossomni review``: a release's instances, one at a time, with decisions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import crossomni
from builder.review.decisions import (
    append_decision,
    progress_line,
    read_decisions,
    release_instances,
    review_path,
)
from builder.review.evidence import BuildEvidence, find_build_dir
from evaluation.web.server import ApiError, ServedFiles

MEDIA_ROOT = "media"


def locate_release(path: str | Path) -> Path:
    """A release folder, given it or the build folder holding it (``BUILD/release``)."""
    path = Path(path)
    for candidate in (path, path / "release"):
        if (candidate / "release.json").is_file():
            return candidate
    raise crossomni.ReleaseError(f"{path}: neither a release (no release.json) nor a build folder with release/")


class ReviewApp:
    """Answers the review page: the instance list with decisions, one instance in full, a decision."""

    page = "review.html"

    def __init__(self, release: str | Path, tvqa_root: str | Path | None = None) -> None:
        self.release_dir = locate_release(release)
        self.manifest = crossomni.read_release_manifest(self.release_dir)
        self.media_root = crossomni.media_root(self.release_dir, tvqa_root)
        self.clips = crossomni.read_clips(self.release_dir)
        self.instances = release_instances(self.release_dir)
        self.files = ServedFiles({MEDIA_ROOT: self.media_root})  # the clips of the release's instances only
        self.urls = {
            path: self.files.add(MEDIA_ROOT, path)
            for clip_id in dict.fromkeys(r["clip_id"] for r in self.instances)
            for path in (self.clips[clip_id].video, self.clips[clip_id].audio)
        }
        self.by_id = {record["id"]: record for record in self.instances}
        self.decisions = read_decisions(self.release_dir)
        build_dir = find_build_dir(self.release_dir)
        self.evidence = BuildEvidence.load(build_dir) if build_dir is not None else None

    def progress(self) -> dict[str, Any]:
        current = [self.decisions[i] for i in self.by_id if i in self.decisions]
        reviewed, rejected = len(current), sum(d.decision == "reject" for d in current)
        return {
            "reviewed": reviewed,
            "rejected": rejected,
            "total": len(self.instances),
            "line": progress_line(reviewed, len(self.instances), rejected),
        }

    def api_get(self, name: str, query: Mapping[str, str]) -> Any:
        if name == "state":
            return self.state()
        if name == "instance":
            return self.instance(query.get("id", ""))
        raise ApiError(f"no such endpoint: {name}", 404)

    def api_post(self, name: str, body: Mapping[str, Any]) -> Any:
        if name != "decide":
            raise ApiError(f"no such endpoint: {name}", 404)
        instance_id = str(body.get("id", ""))
        if instance_id not in self.by_id:
            raise ApiError(f"unknown instance {instance_id!r}", 404)
        try:
            made = append_decision(
                self.release_dir, instance_id, str(body.get("decision", "")), str(body.get("reason", ""))
            )
        except ValueError as err:
            raise ApiError(str(err)) from None
        self.decisions[instance_id] = made
        return {"id": instance_id, "decision": made.to_json(), "progress": self.progress()}

    def state(self) -> dict[str, Any]:
        notes = [f"decisions are saved to {review_path(self.release_dir)}"]
        if self.evidence is None:
            notes.append("no build folder beside this release: the verify stage's evidence is not available")
        return {
            "title": f"Review {self.manifest.get('name', self.release_dir.name)} ({self.release_dir})",
            "progress": self.progress(),
            "tasks": [{"name": t.name, "short": t.short} for t in crossomni.TASK_TYPES],
            "shows": sorted({self.clips[r["clip_id"]].show for r in self.instances}),
            "instances": [
                {
                    "id": r["id"],
                    "task_type": r["task_type"],
                    "show": self.clips[r["clip_id"]].show,
                    "split": r["split"],
                    "decision": self.decisions[r["id"]].decision if r["id"] in self.decisions else None,
                }
                for r in self.instances
            ],
            "notes": notes,
        }

    def instance(self, instance_id: str) -> dict[str, Any]:
        record = self.by_id.get(instance_id)
        if record is None:
            raise ApiError(f"unknown instance {instance_id!r}", 404)
        clip = self.clips[record["clip_id"]]
        task = crossomni.TASKS[record["task_type"]]
        present = (self.media_root / clip.video).is_file()
        separate_audio = clip.audio != clip.video and (self.media_root / clip.audio).is_file()
        decision = self.decisions.get(instance_id)
        return {
            **{name: record[name] for name in crossomni.INSTANCE_FIELDS},
            "split": record["split"],
            "show": clip.show,
            "task": {"name": task.name, "short": task.short, "source": task.source, "target": task.target},
            "clip": {
                "url": self.urls[clip.video] if present else None,
                "audio_url": self.urls[clip.audio] if separate_audio else None,
                "duration": clip.duration,
                "missing": None if present else f"clip {clip.clip_id}: {clip.video} not found under {self.media_root}",
            },
            "evidence": self.evidence.of(instance_id) if self.evidence is not None else None,
            "decision": decision.to_json() if decision is not None else None,
        }
