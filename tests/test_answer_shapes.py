"""The answer reader on the public answer-shapes table, and its cost on hostile text.

``tests/data/answer_shapes.jsonl`` holds model outputs in shapes collected from public evaluation threads and
answer parsers (each row cites its repository and issue or file) with the reading a careful human gives.
Parts: ``design`` (what the rules were written against), ``held_out`` (a third set aside when the table was
made), ``fresh`` (rows added after the rules, their readings written before the reader saw them).
``benchmarks/answer_shapes.py`` prints the figures per part, and lmms-eval's for comparison.
"""

from __future__ import annotations

import json
import string
import time
from collections import Counter
from pathlib import Path

import pytest

from evaluation.crossomni_acc.answer_extraction import extract_choice

TABLE = Path(__file__).parent / "data" / "answer_shapes.jsonl"
ROWS = [json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _letters(row: dict) -> tuple[str, ...]:
    if row["options"]:
        return tuple(string.ascii_uppercase[: len(row["options"])])
    return tuple(row.get("letters") or "ABCD")


def test_the_table_has_the_shapes_it_must():
    assert len(ROWS) >= 100
    languages = Counter(row["lang"] for row in ROWS)
    assert sum(count for lang, count in languages.items() if lang != "en") >= 25
    assert {"zh", "ja", "ko", "es", "de", "fr", "pt", "ru", "ar"} <= set(languages)
    kinds = Counter(row["kind"] for row in ROWS)
    assert kinds["markup"] >= 10 and kinds["token"] >= 10 and kinds["reworded"] >= 8 and kinds["refusal"] >= 20
    assert Counter(row["part"] for row in ROWS)["held_out"] >= 30
    for row in ROWS:  # every row names where its shape was seen: a repository and an issue or a file
        assert "/" in row["source"] and ("#" in row["source"] or ":" in row["source"]), row


@pytest.mark.parametrize("row", ROWS, ids=[f"{i}-{row['part']}-{row['kind']}" for i, row in enumerate(ROWS)])
def test_reads_the_shape_as_a_careful_human(row):
    got = extract_choice(row["text"], row["options"], _letters(row))
    assert got == row["expected"], row["source"]


def _best_time(text: str, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        extract_choice(text, ["a nurse", "a stage actor", "a data analyst", "a pastry chef"])
        best = min(best, time.perf_counter() - start)
    return best


# Units whose repetition made a reader quadratic (issue 23: '<think>' * 40000 took 31 s), and their neighbours.
HOSTILE_UNITS = [
    "<think>", "</think>", "◁think▷", "<|channel>", "<answer>", "\\boxed{", "\\text{", "$", "{", "(A) ", "A, ",
    "answer is ", "answer then ", "the answer is not (A) or B, ", "答案", "选 ", "B是正确 ", "答えは", "Ответ: В ",
    "الإجابة ب", "nurse ", "not a nurse ", "Human:\n", "<|im_start|>", "[B]", "A\n", " \n",
]  # fmt: skip


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
def test_reading_time_grows_linearly_with_the_text(unit):
    """8x the text may cost ~8x the time; a quadratic reader would take ~64x (the bound leaves room for noise)."""
    small = unit * max(1, 2_000 // len(unit))
    large = unit * (8 * max(1, 2_000 // len(unit)))
    small_time = max(_best_time(small), 2e-4)  # a floor: below it the timer says nothing
    assert _best_time(large) < 24 * small_time, unit
