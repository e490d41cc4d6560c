"""Read the chosen option letter out of a model's free-form answer.

Formats are tried from the most to the least explicit; within the first format that matches
anywhere, the *last* match wins (models restate and correct themselves). Only valid choice
letters are ever returned: a capital that merely starts a word ("The", "A pretty ...") is not
a choice, and nothing parseable gives ``None`` — never a default letter.

>>> extract_choice("The correct answer is (B).")
'B'
>>> extract_choice("C. A pretty red dress")
'C'
>>> extract_choice("<think>Maybe A? No.</think>\\nd")
'D'
>>> extract_choice("He works as a data analyst.", options=["pastry chef", "data analyst", "nurse", "actor"])
'B'
>>> extract_choice("I cannot tell from the clip.") is None
True
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import lru_cache

DEFAULT_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#]+")
# "the answer is", "Answer:", "I choose": the cue before a stated choice (case-insensitive words only)
_CUE_WORDS = r"(?i:final\s+answer|answer|correct\s+(?:option|choice)|i\s+(?:choose|pick|select))"
_CUE_VERB = r"(?i:is|would\s+be|should\s+be|:|=|-)?"
_ANSWER_CUE = re.compile(rf"\b{_CUE_WORDS}\b\s*{_CUE_VERB}")


def strip_thinking(text: str) -> str:
    """Drop ``<think>…</think>`` blocks; an unclosed block hides everything after it.

    A lone ``</think>`` (templates that open the block in the prompt) keeps only what follows it.
    """
    text = _THINK_BLOCK.sub(" ", text)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:
        text = text[: opened.start()]
    return text


@lru_cache(maxsize=32)
def _patterns(letters: str) -> tuple[re.Pattern[str], ...]:
    """Format patterns for one letter set, most explicit first; group 1 is the letter."""
    upper = f"[{letters}]"
    either = f"[{letters}{letters.lower()}]"
    # a lowercase letter counts only when nothing word-like follows it ("answer is a." yes, "answer is a tricky" no)
    letter = rf"(?:({upper})(?![A-Za-z0-9])|({either})(?=\s*(?:[.,;:!?)\]\"'”’]|$)))"
    return (
        re.compile(rf"<answer>\s*\(?({either})\)?\s*</answer>|\\boxed\{{\s*({either})\s*\}}", re.IGNORECASE),
        # only the cue words ignore case: the letter's case decides whether it may be an article
        re.compile(
            rf"\b(?:{_CUE_WORDS}|(?i:option|choice))\b\s*{_CUE_VERB}\s*(?i:option|choice)?\s*:?\s*[(\[\"'“‘]?\s*{letter}",
            re.MULTILINE,
        ),
        re.compile(rf"^\s*[(\[]?({either})[)\]]?\s*[.:]?\s*$", re.MULTILINE),
        re.compile(rf"[(\[]({either})[)\]]"),
        # upper case only: "a) … b) …" enumerations inside reasoning are not answers
        re.compile(rf"^\s*({upper})[.):](?=\s|$)", re.MULTILINE),
    )


@lru_cache(maxsize=32)
def _weak_patterns(letters: str) -> tuple[re.Pattern[str], ...]:
    """Last-resort formats, tried after option-text matching: a bare capital at the start or the end."""
    upper = f"[{letters}]"
    return (
        re.compile(rf"\A\s*({upper})(?=\s*(?:[,;:\-–—]|$))"),
        re.compile(rf"(?<![A-Za-z0-9'’])({upper})[\s.!)\]]*\Z"),
    )


def _last_match(pattern: re.Pattern[str], text: str) -> str | None:
    found = None
    for match in pattern.finditer(text):
        found = next(group for group in match.groups() if group)
    return found.upper() if found else None


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def match_option_text(text: str, options: Sequence[str], letters: Sequence[str]) -> str | None:
    """The letter of the one option whose text appears in ``text`` (``None`` if none or several do).

    An option that only appears inside a longer matching option ("calm" in "calm expression")
    does not count. The text after the last "answer is"/"Answer:" cue is tried first.
    """
    cues = list(_ANSWER_CUE.finditer(text))
    candidates = [text[cues[-1].end() :], text] if cues else [text]
    for candidate in candidates:
        haystack = f" {_normalise(candidate)} "
        spans = []
        for letter, option in zip(letters, options, strict=False):
            needle = _normalise(option)
            if not needle:
                continue
            for match in re.finditer(re.escape(f" {needle} "), haystack):
                spans.append((match.start(), match.end(), letter))
        kept = {
            letter
            for start, end, letter in spans
            if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans)
        }
        if len(kept) == 1:
            return kept.pop()
        if len(kept) > 1:
            return None
    return None


def extract_choice(
    text: str | None, options: Sequence[str] | None = None, letters: Sequence[str] | None = None
) -> str | None:
    """The option letter a response chooses, or ``None`` when it cannot be read.

    Order: ``<answer>X</answer>``/``\\boxed{X}``; "answer is X"/"Answer: X"/"option X"; a line that is
    only the letter; "(X)"; "X." or "X)" opening a line; the text of exactly one option (when
    ``options`` are given); a bare capital opening the response before punctuation; a standalone
    capital at its very end. ``letters`` defaults to A–D (or the first ``len(options)`` letters).
    """
    if text is None:
        return None
    if letters is None:
        letters = tuple(string.ascii_uppercase[: len(options)]) if options else DEFAULT_LETTERS
    key = "".join(letters)
    body = _MARKUP.sub("", strip_thinking(str(text))).strip()
    if not body:
        return None
    for pattern in _patterns(key):
        found = _last_match(pattern, body)
        if found:
            return found
    if options:
        found = match_option_text(body, options, letters)
        if found:
            return found
    for pattern in _weak_patterns(key):
        found = _last_match(pattern, body)
        if found:
            return found
    return None
