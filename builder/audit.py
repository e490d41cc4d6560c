"""The shortcut audit of a build: what a model could score without the clip.

Per task and per target group (text vs audio/vision), the accuracy of the no-media baselines of
``evaluation.baselines`` and of a blind text-only model (the ``blind`` stage's letters) over the
released instances. The single-modality text task is answerable from the text by design: it is
reported, never gated. A gated group with at least ``min_group_size`` instances whose accuracy
exceeds ``max_accuracy`` for any reader fails the build (after the report is written)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from crossomni import LETTERS, TASKS
from evaluation.baselines import BASELINES

BLIND = "blind_model"
READING_TASKS = ("text",)  # the text task is reading by design
MIN_GROUP_SIZE = 20


class ShortcutAuditError(ValueError):
    """A build whose questions can be answered by reading alone (see report.md, "Shortcut audit")."""


def target_group(task_type: str) -> str:
    if task_type in READING_TASKS:
        return "reading"
    return "text" if TASKS[task_type].target == "text" else "audio_vision"


def shortcut_audit(
    rows: Iterable[Mapping[str, Any]],
    blind_answers: Mapping[str, str | None],
    *,
    max_accuracy: float,
    blind_model: str,
    blind_filter: int = 0,
    min_group_size: int = MIN_GROUP_SIZE,
) -> dict[str, Any]:
    """The audit of released ``rows`` (id, task_type, biography, question, options, answer)."""
    readers = [*BASELINES, BLIND]
    n_task: Counter[str] = Counter()
    hits: dict[str, Counter[str]] = {name: Counter() for name in readers}
    letters: dict[str, Counter[str]] = {}
    for row in rows:
        task = row["task_type"]
        n_task[task] += 1
        letters.setdefault(task, Counter())[row["answer"]] += 1
        for name, baseline in BASELINES.items():
            hits[name][task] += baseline(row) == row["answer"]
        hits[BLIND][task] += (blind_answers.get(row["id"]) or "") == row["answer"]
    tasks = [task for task in TASKS if n_task[task]]
    per_task = {
        task: {
            "n": n_task[task],
            "group": target_group(task),
            "accuracy": {name: round(hits[name][task] / n_task[task], 4) for name in readers},
            "answer_letters": {letter: letters[task][letter] for letter in LETTERS},
        }
        for task in tasks
    }
    groups: dict[str, Any] = {}
    for group in ("text", "audio_vision"):
        members = [task for task in tasks if target_group(task) == group]
        n = sum(n_task[task] for task in members)
        groups[group] = {
            "tasks": members,
            "n": n,
            "gated": n >= min_group_size,
            "accuracy": {
                name: round(sum(hits[name][task] for task in members) / n, 4) if n else None for name in readers
            },
        }
    violations = [
        f"{group}-target questions (n={info['n']}): {name} scores {acc:.1%} > {max_accuracy:.0%}"
        for group, info in groups.items()
        if info["gated"]
        for name, acc in info["accuracy"].items()
        if acc is not None and acc > max_accuracy
    ]
    return {
        "readers": readers,
        "blind_model": blind_model,
        "blind_filter": {"ran": blind_filter > 0, "orders": blind_filter},
        "max_shortcut_accuracy": max_accuracy,
        "min_group_size": min_group_size,
        "chance": 0.25,
        "per_task": per_task,
        "groups": groups,
        "violations": violations,
        "passed": not violations,
    }
