"""TVQA QA files: one JSON object a line (qid, q, a0..a4, answer_idx, ts, vid_name, show_name)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ValidationError, field_validator

# Frame-folder prefixes TVQA uses per show (frames_hq/<prefix>_frames/<vid_name>/).
_SHOW_PREFIXES = ("friends", "castle", "grey", "house", "met")


class TvqaQuestion(BaseModel):
    qid: int
    q: str
    a0: str
    a1: str
    a2: str
    a3: str
    a4: str
    answer_idx: int | None = None  # absent in tvqa_test_public
    ts: tuple[float, float] | None = None  # None for "NaN-NaN"
    vid_name: str
    show_name: str

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value: object) -> tuple[float, float] | None:
        if value is None or isinstance(value, (list, tuple)):
            return value  # type: ignore[return-value]
        start, sep, end = str(value).partition("-")
        if not sep:
            raise ValueError(f"ts {value!r} is not 'start-end'")
        numbers = (float(start), float(end))
        if any(math.isnan(n) for n in numbers):
            return None
        return numbers


def show_prefix(vid_name: str) -> str:
    """TVQA's frame-folder prefix of a clip (Big Bang Theory clips have none and use ``bbt``)."""
    head = vid_name.split("_", 1)[0]
    return head if head in _SHOW_PREFIXES else "bbt"


def read_qa_file(path: Path) -> Iterator[tuple[TvqaQuestion | None, str | None]]:
    """Yield ``(question, None)`` per valid line, ``(None, "file:line: why")`` per malformed one."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield TvqaQuestion.model_validate(json.loads(line)), None
            except json.JSONDecodeError as err:
                yield None, f"{path}:{number}: not valid JSON ({err.msg})"
            except ValidationError as err:
                fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in err.errors())
                yield None, f"{path}:{number}: bad field(s) {fields}"


def iter_qa_files(root: Path, pattern: str) -> Iterator[tuple[TvqaQuestion | None, str | None]]:
    """All QA lines of the files matching ``pattern`` under ``root``, files in sorted order."""
    paths = sorted(root.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no TVQA QA files match {pattern!r} under {root}")
    for path in paths:
        yield from read_qa_file(path)
