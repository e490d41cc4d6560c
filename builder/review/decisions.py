"""The human review of a release: ``review.jsonl`` in the release folder, one decision per line.

Every decision is appended and fsynced as it is made, so closing the page (or a crash) loses
nothing; the last decision about an instance wins (a reviewer may change their mind). A torn last
line (a crash mid-write) is ignored; any other bad line is an error naming the file, line and field.
The file is read by ``crossomni.read_review``: what a release publishes (``crossomni.published_instances``,
used by ``load_dataset`` through the builder and by ``crossomni export``) leaves the rejected instances out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import crossomni

REVIEW_FILE = crossomni.REVIEW_FILE
DECISIONS = crossomni.REVIEW_DECISIONS


@dataclass(frozen=True)
class Decision:
    id: str
    decision: str  # "accept" | "reject"
    reason: str
    reviewed_at: str

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "reason": self.reason, "reviewed_at": self.reviewed_at}


def review_path(release_dir: str | Path) -> Path:
    return Path(release_dir) / REVIEW_FILE


def read_decisions(release_dir: str | Path) -> dict[str, Decision]:
    """The latest decision per instance id (empty when nothing was reviewed); read by ``crossomni``'s
    reader, the one the datasets builder and the export decide what to publish with."""
    return {id_: Decision(**record) for id_, record in crossomni.read_review(release_dir).items()}


def append_decision(release_dir: str | Path, instance_id: str, decision: str, reason: str = "") -> Decision:
    """Record one decision durably (append + fsync) and return it."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
    reason = " ".join(reason.split())
    if decision == "reject" and not reason:
        raise ValueError("a rejection needs a reason")
    made = Decision(instance_id, decision, reason, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    record = {"id": instance_id, **made.to_json()}
    crossomni.check_review_record(record)  # never write a line the reader would refuse
    path = review_path(release_dir)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with open(path, "a+b") as handle:
        _drop_torn_tail(handle)
        handle.write(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    return made


def _drop_torn_tail(handle: Any) -> None:
    """Cut an unterminated last line (a write a crash interrupted; it was never reported saved)."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return
    handle.seek(max(size - 65536, 0))
    tail = handle.read()
    if tail.endswith(b"\n"):
        return
    cut = tail.rfind(b"\n")
    if cut < 0 and size > len(tail):
        raise ValueError(f"{handle.name}: the last line is over 64 KiB and unterminated; not a review log")
    handle.truncate(size - len(tail) + cut + 1)


def release_instances(release_dir: str | Path) -> list[dict[str, Any]]:
    """Every instance of the release, each with its ``split``, in release order."""
    clips = crossomni.read_clips(release_dir)
    return [
        {**record, "split": split}
        for split in crossomni.SPLITS
        for record in crossomni.read_instances(release_dir, split, clips)
    ]


def rejected_ids(release_dir: str | Path) -> set[str]:
    """Ids whose latest review decision is a rejection (what the release does not publish)."""
    return crossomni.rejected_ids(release_dir)


def review_summary(release_dir: str | Path) -> dict[str, dict[str, int]] | None:
    """Per task: instances in the release, how many were reviewed, how many rejected; None without a review."""
    if not review_path(release_dir).is_file():
        return None
    decisions = read_decisions(release_dir)
    summary = {task: {"instances": 0, "reviewed": 0, "rejected": 0} for task in crossomni.TASK_NAMES}
    for record in release_instances(release_dir):
        counts = summary[record["task_type"]]
        counts["instances"] += 1
        decision = decisions.get(record["id"])
        if decision is not None:
            counts["reviewed"] += 1
            counts["rejected"] += decision.decision == "reject"
    return summary


def progress_line(reviewed: int, total: int, rejected: int) -> str:
    """``37 / 2,460 reviewed, 3 rejected``."""
    return f"{reviewed:,} / {total:,} reviewed, {rejected:,} rejected"
