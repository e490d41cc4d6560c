"""The task taxonomy the metric scores by, held here so the metric folder loads without this project.

An ``evaluate`` metric travels alone (an exported folder, an ``evaluate`` Space): it may import only
``evaluate``, ``datasets``, ``numpy`` and the standard library. The taxonomy's source of truth is
``crossomni.py``; ``tests/test_metric.py`` checks that these values equal it, and ``crossomni
export-metric`` refuses to write a folder whose copy differs.
"""

from __future__ import annotations

from typing import NamedTuple

LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
MODALITIES: tuple[str, ...] = ("audio", "vision", "text")


class Task(NamedTuple):
    """One task type: find the referent in ``source``, answer from ``target``."""

    name: str
    source: str
    target: str


# (source, target) in the ClassLabel order of the dataset's ``task_type``.
_PAIRS = (
    ("audio", "audio"),
    ("vision", "vision"),
    ("text", "text"),
    ("audio", "text"),
    ("audio", "vision"),
    ("text", "audio"),
    ("text", "vision"),
    ("vision", "audio"),
    ("vision", "text"),
)
TASKS: dict[str, Task] = {
    (name := source if source == target else f"{source}_to_{target}"): Task(name, source, target)
    for source, target in _PAIRS
}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
SINGLE_TASKS: tuple[str, ...] = tuple(t.name for t in TASKS.values() if t.source == t.target)
CROSS_TASKS: tuple[str, ...] = tuple(t.name for t in TASKS.values() if t.source != t.target)


def get_task(name: str) -> Task:
    """Look a task up by canonical name, with an error that lists the valid names."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task type {name!r}; expected one of {', '.join(TASK_NAMES)}") from None
