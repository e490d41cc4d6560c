"""TVQA QA files: found in either layout, recognised by their keys, read line by line.

TVQA: one JSON object a line (``qid``, ``q``, ``a0``..``a4``, ``answer_idx``, ``ts`` "start-end",
``vid_name``, ``show_name``), flat in ``data/`` today or in ``tvqa_qa_release/`` (the old tarball).
TVQA+ (``tvqa_plus_*.json``): one JSON array, ``answer_idx`` a string, ``ts`` a list, no ``show_name``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Strict, ValidationError, field_validator, model_validator

from builder.tvqa.shows import resolve_show, show_name, show_prefix
from crossomni import TVQA_CLIP_ID, short_repr

QA_FOLDERS = ("data", "tvqa_qa_release", ".", "tvqa_plus_annotations")
QA_PATTERNS = ("tvqa_*.jsonl", "tvqa_plus_*.json")
QA_KEYS = frozenset({"q", "a0", "vid_name"})  # what makes a line a question (a subtitle line has vid_name + sub)
SNIFF_BYTES = 1 << 20


def safe_vid_name(vid_name: str) -> bool:
    """Whether ``vid_name`` is a plain clip name: letters, digits, "_" and "-" (double episodes), as a
    release's ``clip_id`` must be (``crossomni.TVQA_CLIP_ID``); nothing that can leave the root."""
    return TVQA_CLIP_ID.fullmatch(vid_name) is not None


def _number(value: object, what: str) -> float:
    """A finite number from a JSON number or numeric text (never a bool, None or a nested value)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} {_short(value)} is not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{what} {_short(value)} is not a number") from None
    if math.isinf(number):
        raise ValueError(f"{what} {_short(value)} is not finite")
    return number


def _short(value: object) -> str:
    return short_repr(value, limit=40)


class TvqaQuestion(BaseModel):
    qid: Annotated[int, Strict()]
    q: str
    a0: str
    a1: str
    a2: str
    a3: str
    a4: str
    answer_idx: int | None = None  # absent in tvqa_test_public; a string in TVQA+
    ts: tuple[float, float] | None = None  # None for "NaN-NaN"
    vid_name: str
    show_name: str | None = None  # absent in TVQA+; when present it must name the clip's show

    @field_validator("q", "a0", "a1", "a2", "a3", "a4", "vid_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank")
        return value

    @field_validator("answer_idx", mode="before")
    @classmethod
    def _answer_index(cls, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"{_short(value)} is not an option index 0-4")
        try:
            index = int(value)
        except ValueError:
            raise ValueError(f"{_short(value)} is not an option index 0-4") from None
        if not 0 <= index <= 4:
            raise ValueError(f"{index} is not an option index 0-4")
        return index

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value: object) -> tuple[float, float] | None:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(f"{_short(value)} is not a start and an end")
            parts = tuple(value)
        elif isinstance(value, str):
            start, sep, end = value.partition("-")
            if not sep:
                raise ValueError(f"{_short(value)} is not 'start-end'")
            parts = (start, end)
        else:
            raise ValueError(f"{_short(value)} is not 'start-end' nor a [start, end] list")
        start, end = (_number(part, name) for part, name in zip(parts, ("start", "end"), strict=True))
        if math.isnan(start) or math.isnan(end):
            return None  # TVQA's "NaN-NaN": no time span given
        if start < 0 or end < start:
            raise ValueError(f"{_short(value)}: need 0 <= start <= end")
        return start, end

    @model_validator(mode="after")
    def _show_matches_the_clip(self) -> TvqaQuestion:
        if self.show_name is None:
            return self
        if not self.show_name.strip():
            raise ValueError("show_name: is blank (leave it out to take the show from the clip name)")
        try:
            named = resolve_show(self.show_name)
        except ValueError as err:
            raise ValueError(f"show_name: {err}") from None
        prefix = show_prefix(self.vid_name)
        # an unsafe clip name is refused on its own (``unsafe-vid-name``); its prefix means nothing
        if safe_vid_name(self.vid_name) and named != prefix:
            raise ValueError(
                f"show_name: {_short(self.show_name)} is {show_name(named)}, but clip {self.vid_name} is "
                f"{show_name(prefix)} (prefix {prefix!r})"
            )
        return self

    @property
    def show(self) -> str:
        """The show's name as TVQA spells it, from the clip prefix (which ``show_name`` must agree with)."""
        return show_name(show_prefix(self.vid_name))


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
        return None, f"{where}: {_problems(err)}"


def _problems(err: ValidationError) -> str:
    """``bad field(s) ts, qid (ts: ...; qid: ...)``: the fields first, then why (bounded)."""
    fields, reasons = [], []
    for item in err.errors(include_url=False):
        message = "missing" if item["type"] == "missing" else item["msg"].removeprefix("Value error, ")
        location = ".".join(str(part) for part in item["loc"])
        head, sep, _ = message.partition(": ")
        if location:
            fields.append(location)
            reasons.append(f"{location}: {message}")
        else:  # a check of the whole record names its field first (``show_name: ...``), or is the line's
            fields.append(head if sep and " " not in head else "line")
            reasons.append(message)
    return f"bad field(s) {', '.join(dict.fromkeys(fields))} ({'; '.join(reasons)[:300]})"


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
