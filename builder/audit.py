"""The shortcut audit of a build: what a model could score without the clip.

Per task and per target group (text vs audio/vision), the accuracy of the no-media baselines of
``evaluation.baselines`` and of a blind text-only model (the ``blind`` stage's letters) over the
released instances, and of the learned blind probe (``builder.probe``: text-only models fitted on
the train split, scored on the test split, with clip-bootstrap intervals). The single-modality
text task is answerable from the text by design: it is reported, never gated. A gated group with
at least ``min_group_size`` instances whose accuracy exceeds ``max_accuracy`` for any reader fails
the build (after the report is written); so does a learned probe above it on any cross task or
target group of that size, unless its interval still holds chance (a small task's noise)."""

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


def probe_group(task_type: str) -> str | None:
    """The gated target group a task's questions count in for the learned probe (``None``: reading)."""
    group = target_group(task_type)
    return None if group == "reading" else group


def learned_violations(
    learned: Mapping[str, Any], max_accuracy: float, min_group_size: int, chance: float = 0.25
) -> list[str]:
    """Where a learned probe beats ``max_accuracy`` on test: every cross task and target group of at
    least ``min_group_size`` test questions whose interval lies above chance."""
    found = []
    for kind, result in learned.get("probes", {}).items():
        cross = [(task, e) for task, e in result["per_task"].items() if TASKS[task].is_cross]
        entries = [(f"{task} (learned {kind} probe", e) for task, e in cross]
        entries += [(f"{group}-target questions (learned {kind} probe", e) for group, e in result["groups"].items()]
        for what, entry in entries:
            if entry["n"] >= min_group_size and entry["accuracy"] > max_accuracy and entry["interval"][0] > chance:
                found.append(
                    f"{what}, n={entry['n']} on test): {entry['accuracy']:.1%} > {max_accuracy:.0%} "
                    f"(95% interval {entry['interval'][0]:.1%}–{entry['interval'][1]:.1%})"
                )
    return found


def shortcut_audit(
    rows: Iterable[Mapping[str, Any]],
    blind_answers: Mapping[str, str | None],
    *,
    max_accuracy: float,
    blind_model: str,
    blind_filter: int = 0,
    min_group_size: int = MIN_GROUP_SIZE,
    learned: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The audit of released ``rows`` (id, task_type, biography, question, options, answer), with the
    learned probe's result (``builder.probe.learned_probe``) when given."""
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
    if learned is not None:
        violations += learned_violations(learned, max_accuracy, min_group_size)
    return {
        "readers": readers,
        "blind_model": blind_model,
        "blind_filter": {"ran": blind_filter > 0, "orders": blind_filter},
        "max_shortcut_accuracy": max_accuracy,
        "min_group_size": min_group_size,
        "chance": 0.25,
        "per_task": per_task,
        "groups": groups,
        "learned_probe": learned,
        "violations": violations,
        "passed": not violations,
    }
