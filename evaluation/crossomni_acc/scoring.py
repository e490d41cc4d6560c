"""CrossOmni scoring: per-task accuracy, the paper's single/cross/overall aggregates, groups and CIs.

Kept apart from the ``evaluate`` wrapper (``crossomni_acc.py``) so the evaluation runner, the
report and the training rewards share one implementation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from crossomni import CROSS_TASKS, LETTERS, MODALITIES, SINGLE_TASKS, TASK_NAMES, TASKS, get_task

from .answer_extraction import extract_choice

NAN = float("nan")


def task_name(value: Any, index: int) -> str:
    """Canonical task name of a task-type value: a name, or its ``ClassLabel`` index in ``TASK_NAMES``."""
    text = str(value).strip()
    if text.isdigit():
        position = int(text)
        if position < len(TASK_NAMES):
            return TASK_NAMES[position]
        raise ValueError(f"task_types[{index}]: class index {position} out of range 0..{len(TASK_NAMES) - 1}")
    try:
        return get_task(text).name
    except ValueError as err:
        raise ValueError(f"task_types[{index}]: {err}") from None


def reference_letter(value: Any, index: int) -> str:
    """A reference answer as an upper-case letter in ``LETTERS``; anything else is a ``ValueError``."""
    letter = str(value).strip().upper() if value is not None else ""
    if letter not in LETTERS:
        raise ValueError(f"references[{index}]: expected one of {', '.join(LETTERS)}, got {value!r}")
    return letter


def _mean_or_nan(values: Sequence[float]) -> float:
    """Unweighted mean; NaN as soon as one part is NaN (a missing task never yields a partial mean)."""
    if not values or any(math.isnan(v) for v in values):
        return NAN
    return float(sum(values) / len(values))


def aggregate(per_task: dict[str, float]) -> dict[str, float]:
    """The paper's task-level aggregates: ``single``, ``cross`` and the fixed-source/target groups.

    All are unweighted means of task accuracies, NaN when any task they need is NaN.
    """
    result = {
        "single": _mean_or_nan([per_task[name] for name in SINGLE_TASKS]),
        "cross": _mean_or_nan([per_task[name] for name in CROSS_TASKS]),
    }
    for end in ("source", "target"):
        for modality in MODALITIES:
            tasks = [name for name in CROSS_TASKS if getattr(TASKS[name], end) == modality]
            result[f"fixed_{end}_{modality}"] = _mean_or_nan([per_task[name] for name in tasks])
    return result


def _cluster_bootstrap(
    correct: np.ndarray, clusters: Sequence[str], confidence_level: float, n_bootstrap: int, seed: int
) -> tuple[float, float]:
    """Percentile CI of micro accuracy, resampling whole clusters (clips) with replacement."""
    _, cluster_index = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)
    hits = np.bincount(cluster_index, weights=correct.astype(float))
    sizes = np.bincount(cluster_index).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sizes), size=(n_bootstrap, len(sizes)))
    replicates = hits[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    alpha = (1.0 - confidence_level) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return float(low), float(high)


def score(
    predictions: Sequence[str | None],
    references: Sequence[str],
    task_types: Sequence[str | int],
    clip_ids: Sequence[str] | None = None,
    options: Sequence[Sequence[str] | None] | None = None,
    confidence_level: float | None = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Score CrossOmni predictions; see ``crossomni_acc._KWARGS_DESCRIPTION`` for the returned keys."""
    n = len(predictions)
    lengths = {"references": len(references), "task_types": len(task_types)}
    if clip_ids is not None:
        lengths["clip_ids"] = len(clip_ids)
    if options is not None:
        lengths["options"] = len(options)
    wrong = {name: size for name, size in lengths.items() if size != n}
    if wrong:
        raise ValueError(f"got {n} predictions but " + ", ".join(f"{size} {name}" for name, size in wrong.items()))
    if n == 0:
        raise ValueError("nothing to score: predictions is empty")
    if confidence_level is not None and not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")

    tasks = [task_name(value, i) for i, value in enumerate(task_types)]
    gold = [reference_letter(value, i) for i, value in enumerate(references)]
    chosen = [
        extract_choice(prediction, options[i] if options is not None else None, LETTERS)
        for i, prediction in enumerate(predictions)
    ]
    correct = np.array([choice == answer for choice, answer in zip(chosen, gold, strict=True)], dtype=bool)
    task_array = np.array(tasks, dtype=object)

    per_task: dict[str, float] = {}
    counts: dict[str, int] = {}
    for name in TASK_NAMES:
        mask = task_array == name
        counts[name] = int(mask.sum())
        per_task[name] = float(correct[mask].mean()) if counts[name] else NAN

    groups = aggregate(per_task)
    result: dict[str, float | int] = {
        "overall": float(correct.mean()),
        "single": groups.pop("single"),
        "cross": groups.pop("cross"),
        **per_task,
        **groups,
    }
    result["count"] = n
    result.update({f"count_{name}": counts[name] for name in TASK_NAMES})
    failures = sum(choice is None for choice in chosen)
    result["parse_failures"] = failures
    result["parse_failure_rate"] = failures / n
    if confidence_level is not None:
        clusters = list(clip_ids) if clip_ids is not None else [str(i) for i in range(n)]
        low, high = _cluster_bootstrap(correct, clusters, confidence_level, n_bootstrap, seed)
        result["ci_low_overall"], result["ci_high_overall"] = low, high
    return result


def score_by_category(
    predictions: Sequence[str | None],
    references: Sequence[str],
    categories: Sequence[str],
    options: Sequence[Sequence[str]] | None = None,
    clip_ids: Sequence[str] | None = None,
    confidence_level: float | None = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Accuracy of any multiple-choice set: ``overall`` plus ``acc_<category>``/``count_<category>``.

    For the generic omni MCQ adapter (Daily-Omni, WorldSense, AVUT, ...); same extraction and
    bootstrap as ``score``. References may use more letters than A–D when ``options`` say so.
    """
    n = len(predictions)
    if not n or len(references) != n or len(categories) != n or (options is not None and len(options) != n):
        raise ValueError("predictions, references, categories (and options) must be non-empty and of equal length")
    chosen = [extract_choice(p, options[i] if options is not None else None) for i, p in enumerate(predictions)]
    correct = np.array([c == str(r).strip().upper() for c, r in zip(chosen, references, strict=True)], dtype=bool)
    result: dict[str, float | int] = {"overall": float(correct.mean()), "count": n}
    names = np.array([str(c) for c in categories], dtype=object)
    for category in sorted(set(names)):
        mask = names == category
        result[f"acc_{category}"] = float(correct[mask].mean())
        result[f"count_{category}"] = int(mask.sum())
    failures = sum(c is None for c in chosen)
    result["parse_failures"] = failures
    result["parse_failure_rate"] = failures / n
    if confidence_level is not None:
        clusters = list(clip_ids) if clip_ids is not None else [str(i) for i in range(n)]
        result["ci_low_overall"], result["ci_high_overall"] = _cluster_bootstrap(
            correct, clusters, confidence_level, n_bootstrap, seed
        )
    return result
