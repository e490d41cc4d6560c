"""Honest reference baselines that need no model: what a score looks like with no perception at all."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import crossomni

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def first_option(row: Mapping[str, Any]) -> str:
    """Always answer ``A``: the floor a position-biased model sits on (25% on balanced letters)."""
    return crossomni.LETTERS[0]


def biography_overlap(row: Mapping[str, Any]) -> str:
    """Text only: the option sharing the most words with the biography and question (ties → first).

    It never looks at the clip, so it can only succeed where the answer is written in the text.
    """
    context = _words(row["biography"]) | _words(row["question"])
    scores = [len(_words(option) & context) for option in row["options"]]
    return crossomni.LETTERS[scores.index(max(scores))]


BASELINES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "first_option": first_option,
    "biography_overlap": biography_overlap,
}


def get_baseline(name: str) -> Callable[[Mapping[str, Any]], str]:
    """A baseline by name, with an error listing the valid names."""
    try:
        return BASELINES[name]
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}") from None
