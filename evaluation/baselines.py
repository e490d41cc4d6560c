"""Honest reference baselines that need no model: what a score looks like with no perception at all.

Each reads only the text columns (biography, question, options), never the clip, so its accuracy is
what reading alone achieves: the builder's shortcut audit runs them on every build, and
``crossomni eval --baselines`` runs them on any split, next to a model's score."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import crossomni

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def written_in(phrase: str, text: str) -> bool:
    """Whether ``phrase`` appears in ``text`` as whole words (case and punctuation ignored)."""
    needle = _normal(phrase)
    return bool(needle) and f" {needle} " in f" {_normal(text)} "


def first_option(row: Mapping[str, Any]) -> str:
    """Always answer ``A``: the floor a position-biased model sits on (25% on balanced letters)."""
    return crossomni.LETTERS[0]


def longest_option(row: Mapping[str, Any]) -> str:
    """The longest option (ties → first): wins where right answers are wordier than wrong ones."""
    lengths = [len(option) for option in row["options"]]
    return crossomni.LETTERS[lengths.index(max(lengths))]


def biography_overlap(row: Mapping[str, Any]) -> str:
    """Text only: the option sharing the most words with the biography and question (ties → first).

    It never looks at the clip, so it can only succeed where the answer is written in the text.
    """
    context = _words(row["biography"]) | _words(row["question"])
    scores = [len(_words(option) & context) for option in row["options"]]
    return crossomni.LETTERS[scores.index(max(scores))]


def option_in_biography(row: Mapping[str, Any]) -> str:
    """The first option written (as whole words) in the biography; ``A`` when none is."""
    for letter, option in zip(crossomni.LETTERS, row["options"], strict=False):
        if written_in(option, row["biography"]):
            return letter
    return crossomni.LETTERS[0]


BASELINES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "first_option": first_option,
    "longest_option": longest_option,
    "biography_overlap": biography_overlap,
    "option_in_biography": option_in_biography,
}


def get_baseline(name: str) -> Callable[[Mapping[str, Any]], str]:
    """A baseline by name, with an error listing the valid names."""
    try:
        return BASELINES[name]
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}") from None


def baseline_accuracy(rows: Iterable[Mapping[str, Any]], names: Iterable[str] = BASELINES) -> dict[str, Any]:
    """Accuracy of each named baseline per task type and overall, over rows with ``task_type`` (a name)
    and ``answer`` (a letter): ``{"n": {task: count}, "accuracy": {baseline: {task | "overall": acc}}}``."""
    chosen = {name: get_baseline(name) for name in names}
    counts: dict[str, int] = {}
    right: dict[str, dict[str, int]] = {name: {} for name in chosen}
    for row in rows:
        task = row["task_type"]
        counts[task] = counts.get(task, 0) + 1
        for name, baseline in chosen.items():
            right[name][task] = right[name].get(task, 0) + (baseline(row) == row["answer"])
    total = sum(counts.values())
    accuracy = {
        name: {
            **{task: hits.get(task, 0) / n for task, n in counts.items()},
            "overall": sum(hits.values()) / total if total else float("nan"),
        }
        for name, hits in right.items()
    }
    return {"n": counts, "accuracy": accuracy}


def dataset_baselines(dataset: str, split: str = "test", config: str = "all") -> dict[str, Any]:
    """The no-media baselines on one split of an exported folder or Hub dataset (text columns only)."""
    from datasets import load_dataset

    crossomni.check_not_release(dataset)
    loaded = load_dataset(dataset, config, split=split)
    rows = loaded.select_columns(["task_type", "biography", "question", "options", "answer"])
    task_names = rows.features["task_type"].names
    answer_names = getattr(rows.features["answer"], "names", None)

    def plain() -> Iterable[dict[str, Any]]:
        for row in rows:
            answer = answer_names[row["answer"]] if answer_names else row["answer"]
            yield {**row, "task_type": task_names[row["task_type"]], "answer": answer}

    return baseline_accuracy(plain())
