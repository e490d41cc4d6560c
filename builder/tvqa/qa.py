"""TVQA QA files: found in either layout, recognised by their keys, read line by line.

TVQA: one JSON object a line (``qid``, ``q``, ``a0``..``a4``, ``answer_idx``, ``ts`` "start-end",
``vid_name``, ``show_name``), flat in ``data/`` today or in ``tvqa_qa_release/`` (the old tarball).
TVQA+ (``tvqa_plus_*.json``): one JSON array, ``answer_idx`` a string, ``ts`` a list, no ``show_name``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError, field_validator

from builder.tvqa.shows import show_name, show_prefix

QA_FOLDERS = ("data", "tvqa_qa_release", ".", "tvqa_plus_annotations")
QA_PATTERNS = ("tvqa_*.jsonl", "tvqa_plus_*.json")
QA_KEYS = frozenset({"q", "a0", "vid_name"})  # what makes a line a question (a subtitle line has vid_name + sub)
SNIFF_BYTES = 1 << 20
# TVQA clip names: letters, digits, "_" and "-" (double episodes); nothing that can leave the root.
_SAFE_VID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")


def safe_vid_name(vid_name: str) -> bool:
    """Whether ``vid_name`` is a plain clip name (no path separators, dots or odd characters)."""
    return _SAFE_VID_NAME.fullmatch(vid_name) is not None


class TvqaQuestion(BaseModel):
    qid: int
    q: str
    a0: str
    a1: str
    a2: str
    a3: str
    a4: str
    answer_idx: int | None = None  # absent in tvqa_test_public; a string in TVQA+
    ts: tuple[float, float] | None = None  # None for "NaN-NaN"
    vid_name: str
    show_name: str | None = None  # absent in TVQA+

    @field_validator("q", "a0", "a1", "a2", "a3", "a4", "vid_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank")
        return value

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value: object) -> tuple[float, float] | None:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            numbers = tuple(float(v) for v in value)
        else:
            start, sep, end = str(value).partition("-")
            if not sep:
                raise ValueError(f"ts {value!r} is not 'start-end'")
            numbers = (float(start), float(end))
        if len(numbers) != 2:
            raise ValueError(f"ts {value!r} is not a start and an end")
        if any(math.isnan(n) for n in numbers):
            return None
        return numbers  # type: ignore[return-value]

    @property
    def show(self) -> str:
        """The show's name as TVQA spells it (from the clip prefix when the file has none)."""
        return self.show_name or show_name(show_prefix(self.vid_name))


@dataclass
class QaFiles:
    """The QA files of a root and how they were found."""

    paths: list[Path] = field(default_factory=list)
    source: str = ""  # e.g. "data/tvqa_*.jsonl"
    not_qa: list[Path] = field(default_factory=list)  # matched a QA pattern but hold no QA lines
    ignored: list[Path] = field(default_factory=list)  # QA files of another layout, not read


def _first_line_is_qa(path: Path) -> bool:
    with open(path, "rb") as handle:
        for _ in range(16):
            line = handle.readline(SNIFF_BYTES)
            if not line:
                return False
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except Exception:  # a file we cannot parse is not a QA file
                return False
            return isinstance(record, dict) and QA_KEYS <= record.keys()
    return False


def _array_is_qa(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    return head.lstrip().startswith("[") and all(f'"{key}"' in head for key in QA_KEYS)


def is_qa_file(path: Path) -> bool:
    """Whether ``path`` holds TVQA questions (its first record has ``q``, ``a0`` and ``vid_name``)."""
    return _array_is_qa(path) if path.suffix == ".json" else _first_line_is_qa(path)


def find_qa_files(root: Path, pattern: str | None = None) -> QaFiles:
    """The QA files under ``root``: those matching ``pattern``, else the first folder of
    ``QA_FOLDERS`` holding any; files whose lines are not questions are set aside, never read."""
    found = QaFiles()
    if pattern:
        groups = [(pattern, sorted(root.glob(pattern)))]
    else:
        groups = [
            (
                f"{folder}/{{{','.join(QA_PATTERNS)}}}".removeprefix("./"),
                sorted(p for g in QA_PATTERNS for p in (root / folder).glob(g)),
            )
            for folder in QA_FOLDERS
        ]
    for source, paths in groups:
        qa = [p for p in paths if p.is_file() and is_qa_file(p)]
        found.not_qa += [p for p in paths if p.is_file() and p not in qa]
        if qa and not found.paths:
            found.paths, found.source = qa, source
        elif qa:
            found.ignored += qa
    return found


def _validated(record: object, where: str) -> tuple[TvqaQuestion | None, str | None]:
    try:
        return TvqaQuestion.model_validate(record), None
    except ValidationError as err:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "line" for e in err.errors())
        return None, f"{where}: bad field(s) {fields}"


def read_qa_file(path: Path) -> Iterator[tuple[TvqaQuestion | None, str | None]]:
    """Yield ``(question, None)`` per valid record, ``(None, "file:line: why")`` per malformed one."""
    if path.suffix == ".json":
        try:
            records = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except Exception as err:  # any failure (JSON, nesting depth) is this file's error
            yield None, f"{path}: not a readable JSON array ({type(err).__name__})"
            return
        if not isinstance(records, list):
            yield None, f"{path}: expected a JSON array of questions"
            return
        for number, record in enumerate(records):
            yield _validated(record, f"{path}[{number}]")
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                yield None, f"{path}:{number}: not valid JSON ({err.msg})"
                continue
            except Exception as err:  # e.g. RecursionError on absurd nesting
                yield None, f"{path}:{number}: not readable JSON ({type(err).__name__})"
                continue
            yield _validated(record, f"{path}:{number}")


def iter_qa_files(root: Path, pattern: str | None = None) -> Iterator[tuple[TvqaQuestion | None, str | None]]:
    """All QA records of the root's QA files (see ``find_qa_files``), files in sorted order."""
    found = find_qa_files(root, pattern)
    if not found.paths:
        raise FileNotFoundError(no_qa_message(root, pattern, found))
    for path in found.paths:
        yield from read_qa_file(path)


def no_qa_message(root: Path, pattern: str | None, found: QaFiles) -> str:
    looked = repr(pattern) if pattern else ", ".join(f"{f}/" for f in QA_FOLDERS if f != ".") + " and the root"
    skipped = f"; not QA (no q/a0/vid_name keys): {', '.join(p.name for p in found.not_qa)}" if found.not_qa else ""
    return f"no TVQA QA files under {root} (looked for tvqa_*.jsonl / tvqa_plus_*.json in {looked}){skipped}"
