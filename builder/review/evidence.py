"""What the verify stage knew about an instance, read back from a build folder for the reviewer.

From ``stages/verify.jsonl`` (the verified instances with their source cue and target fact),
``stages/align.jsonl`` (every person's facts: the uniqueness check compares the cue against
them) and ``stages/verify.rejects.jsonl`` (the candidates of the same clip and task that failed,
with the reason). A release without its build folder has no evidence; the page says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.records import AlignedClip
from builder.stages.common import normalize, values
from model_calls.store import iter_records


def find_build_dir(release_dir: Path) -> Path | None:
    """The build folder a release was written into (``BUILD/release``), if its stages are there."""
    build = release_dir.parent
    return build if (build / "stages" / "verify.jsonl").is_file() else None


@dataclass
class BuildEvidence:
    """The verify stage's records of one build, indexed for the page."""

    build_dir: Path
    generator: str = "template"
    verified: dict[str, dict[str, Any]] = field(default_factory=dict)  # instance id -> verify record
    clips: dict[str, AlignedClip] = field(default_factory=dict)
    rejects: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (clip, task) -> rejects

    @classmethod
    def load(cls, build_dir: Path) -> BuildEvidence:
        stages = build_dir / "stages"
        settings_path = build_dir / "build.json"
        settings = json.loads(settings_path.read_text(encoding="utf-8")) if settings_path.is_file() else {}
        evidence = cls(build_dir, generator=settings.get("qa_generator", "template"))
        evidence.verified = {r["id"]: r for r in iter_records(stages / "verify.jsonl")}
        if (stages / "align.jsonl").is_file():
            evidence.clips = {r["clip_id"]: AlignedClip.model_validate(r) for r in iter_records(stages / "align.jsonl")}
        if (stages / "verify.rejects.jsonl").is_file():
            for reject in iter_records(stages / "verify.rejects.jsonl"):
                task = reject.get("task_type")
                if task and f"-{task}-" in reject["id"]:  # candidate ids are CLIP-TASK-RANK
                    clip_id = reject["id"].rsplit(f"-{task}-", 1)[0]
                    evidence.rejects.setdefault((clip_id, task), []).append(reject)
        return evidence

    def of(self, instance_id: str) -> dict[str, Any] | None:
        """The evidence shown beside one instance; None when the verify stage has no record of it."""
        record = self.verified.get(instance_id)
        if record is None:
            return None
        clip = self.clips.get(record["clip_id"])
        source_kind, cue = record["source_kind"], record["source_value"]
        people = []
        for person in clip.people if clip is not None else []:
            source_values = values(person, source_kind)
            people.append(
                {
                    "name": person.name,
                    "source_values": source_values,
                    "matches_cue": normalize(cue) in {normalize(v) for v in source_values},
                    "target_values": values(person, record["target_kind"]),
                }
            )
        checks = ["the cue picks out exactly the referent", "the answer is the referent's fact, no option is leaked"]
        if self.generator == "llm":
            checks.append("model checks: unique referent, answer supported (replies in the build's cache)")
        return {
            "source_kind": source_kind,
            "source_value": cue,
            "target_kind": record["target_kind"],
            "answer_text": record["answer_text"],
            "rank": record.get("rank", 0),
            "generator": self.generator,
            "checks_passed": checks,
            "people": people,
            "rejected_candidates": [
                {"id": r["id"], "reason": r.get("reason", ""), "detail": r.get("detail", "")}
                for r in self.rejects.get((record["clip_id"], record["task_type"]), [])
            ],
        }
