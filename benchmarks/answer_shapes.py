"""How the metric's answer reader and lmms-eval's ``extract_mcq_answer`` read the public answer-shapes table.

    .venv/bin/python benchmarks/answer_shapes.py            # totals, by part and by kind
    .venv/bin/python benchmarks/answer_shapes.py --misses   # every row either reader gets wrong or leaves unread

The table (``tests/data/answer_shapes.jsonl``) holds model outputs in shapes collected from public evaluation
threads and answer parsers, each row citing its source, with the reading a careful human gives (``null``: no
answer can be read). Part ``design`` is what the rules were written against; ``held_out`` was set aside first.
A reader is *right* when it returns the expected letter (or nothing where nothing can be read) and *wrong*
when it returns another letter, or any letter where none can be read. lmms-eval is given the text with
``<think>`` blocks removed, as its pipeline does before extraction, and the question's letters.
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "tests" / "data" / "answer_shapes.jsonl"


def load_table(path: Path = TABLE) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def letters_of(row: dict) -> tuple[str, ...]:
    """The question's letters: one per option text, else the row's ``letters`` (its options unknown), else A-D."""
    if row["options"]:
        return tuple(string.ascii_uppercase[: len(row["options"])])
    return tuple(row.get("letters") or "ABCD")


def ours(row: dict) -> str | None:
    from evaluation.crossomni_acc.answer_extraction import extract_choice

    return extract_choice(row["text"], row["options"], letters_of(row))


def read_lmms_eval(row: dict) -> str | None:
    from lmms_eval.tasks._task_utils.mcq_extract import extract_mcq_answer

    text = re.sub(r"<think>.*?</think>", "", row["text"], flags=re.DOTALL)
    return extract_mcq_answer(text, list(letters_of(row))) or None


def tally(rows: list[dict], reader) -> Counter:
    counts: Counter = Counter()
    for row in rows:
        got = reader(row)
        counts["right" if got == row["expected"] else "wrong" if got is not None else "unread"] += 1
    return counts


def line(name: str, counts: Counter, n: int) -> str:
    return f"{name:10s} right {counts['right']:3d}/{n}  wrong letter {counts['wrong']:3d}  unread {counts['unread']:3d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", action="store_true", help="list the rows a reader does not get right")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    rows = load_table()
    readers = {"ours": ours}
    try:
        import lmms_eval.tasks._task_utils.mcq_extract  # noqa: F401

        readers["lmms-eval"] = read_lmms_eval
    except ImportError:
        print("lmms-eval is not installed: only our reader is measured")
    groups = {"all": rows} | {part: [r for r in rows if r["part"] == part] for part in ("design", "held_out", "fresh")}
    groups |= {f"kind={k}": [r for r in rows if r["kind"] == k] for k in sorted({r["kind"] for r in rows})}
    groups["non-English"] = [r for r in rows if r["lang"] != "en"]
    for label, subset in groups.items():
        print(f"{label} ({len(subset)} rows)")
        for name, reader in readers.items():
            print("  " + line(name, tally(subset, reader), len(subset)))
    if args.misses:
        for row in rows:
            got = {name: reader(row) for name, reader in readers.items()}
            if any(value != row["expected"] for value in got.values()):
                print(json.dumps({"text": row["text"][:90], "expected": row["expected"], **got}, ensure_ascii=False))


if __name__ == "__main__":
    main()
