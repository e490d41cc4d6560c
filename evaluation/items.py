"""Dataset rows → evaluation items: CrossOmni rows, or any multiple-choice set through a column mapping.

An ``Item`` carries everything the runner and the report need (grouping fields included), with
media resolved to local files: embedded bytes are written once per clip under ``media_dir``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossomni import LETTERS, TASKS
from model_calls.media import embedded_media_file


class PreflightError(ValueError):
    """Media or columns an evaluation needs are missing; raised before any model call."""


@dataclass(frozen=True)
class Item:
    """One multiple-choice question ready for prompting."""

    id: str
    question: str
    options: tuple[str, ...]
    answer: str
    task: str
    clip_id: str = ""
    biography: str = ""
    video: str | None = None
    audio: str | None = None
    start: float | None = None
    end: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def record_fields(self) -> dict[str, Any]:
        """The grouping fields copied into every prediction record."""
        fields = {"id": self.id, "task_type": self.task, "clip_id": self.clip_id, **self.extra}
        if self.task in TASKS:
            task = TASKS[self.task]
            fields |= {"source_modality": task.source, "target_modality": task.target, "is_cross": task.is_cross}
        return fields


def _media_columns_raw(dataset: Any, columns: Iterable[str]) -> Any:
    """The dataset with its Video/Audio columns left undecoded (``{"path", "bytes"}``)."""
    import datasets

    for column in columns:
        feature = dataset.features.get(column)
        if isinstance(feature, datasets.Video):
            dataset = dataset.cast_column(column, datasets.Video(decode=False))
        elif isinstance(feature, datasets.Audio):
            dataset = dataset.cast_column(column, datasets.Audio(decode=False))
    return dataset


def _media_file(value: Any, clip: str, media_dir: Path, root: Path | None) -> str | None:
    """A local path for a media cell (path string, ``{"path", "bytes"}`` dict, or None)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        if value.get("bytes"):
            return str(embedded_media_file(value["bytes"], value.get("path"), media_dir))
        value = value.get("path")
        if value is None:
            return None
    path = Path(str(value))
    if not path.is_absolute() and root is not None:
        path = root / path
    if not path.is_file():
        where = f" under {root}" if root is not None else " (relative paths need --tvqa-root / --media-root)"
        raise PreflightError(f"clip {clip}: media file {value!r} not found{where}")
    return str(path)


def crossomni_items(dataset: Any, media_dir: Path, root: str | Path | None = None) -> list[Item]:
    """Items from a CrossOmni split (``load_dataset(..., config, split=...)`` or the builder's output)."""
    task_feature = dataset.features["task_type"]
    raw = _media_columns_raw(dataset, ("video", "audio"))
    root_path = Path(root) if root is not None else None
    items, problems = [], []
    for row in raw:
        task = row["task_type"] if isinstance(row["task_type"], str) else task_feature.int2str(row["task_type"])
        try:
            video = _media_file(row["video"], row["clip_id"], media_dir, root_path)
            audio = _media_file(row["audio"], row["clip_id"], media_dir, root_path)
        except PreflightError as err:
            problems.append(str(err))
            continue
        items.append(
            Item(
                id=row["id"],
                question=row["question"],
                options=tuple(row["options"]),
                answer=row["answer"],
                task=task,
                clip_id=row["clip_id"],
                biography=row["biography"],
                video=video,
                audio=audio,
                start=row["start"],
                end=row["end"],
                extra={"show": row["show"]},
            )
        )
    _raise_problems(problems)
    return items


@dataclass(frozen=True)
class MCQColumns:
    """Where a generic omni multiple-choice set keeps each field (Daily-Omni, WorldSense, AVUT, ...).

    ``options`` is one list-valued column or several columns (one per option); ``answer`` holds a
    letter, a 0-based index or the option's text; ``category`` groups the per-category accuracy.
    """

    id: str = "id"
    question: str = "question"
    options: str | Sequence[str] = "options"
    answer: str = "answer"
    video: str | None = "video"
    audio: str | None = None
    category: str | None = None
    context: str | None = None
    clip: str | None = None


def _answer_letter(value: Any, options: Sequence[str], where: str) -> str:
    letters = LETTERS if len(options) <= len(LETTERS) else tuple(chr(65 + i) for i in range(len(options)))
    letters = letters[: len(options)]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(options):
        return letters[value]
    text = str(value).strip()
    stripped = text.rstrip(".):").lstrip("(").upper()
    if stripped in letters:
        return stripped
    lowered = [o.strip().lower() for o in options]
    if text.lower() in lowered:
        return letters[lowered.index(text.lower())]
    raise PreflightError(f"{where}: answer {value!r} is neither a letter, an index nor one of the options")


def mcq_items(
    dataset: Any, columns: MCQColumns, media_dir: Path, root: str | Path | None = None, task: str = "mcq"
) -> list[Item]:
    """Items from any multiple-choice dataset, mapped through ``columns``."""
    option_columns = [columns.options] if isinstance(columns.options, str) else list(columns.options)
    needed = [columns.id, columns.question, columns.answer, *option_columns]
    needed += [c for c in (columns.video, columns.audio, columns.category, columns.context, columns.clip) if c]
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise PreflightError(f"dataset has no column(s) {', '.join(missing)}; columns are {dataset.column_names}")
    media = [c for c in (columns.video, columns.audio) if c]
    raw = _media_columns_raw(dataset, media)
    root_path = Path(root) if root is not None else None
    items, problems = [], []
    for index, row in enumerate(raw):
        item_id = str(row[columns.id])
        options = row[option_columns[0]] if len(option_columns) == 1 else [row[c] for c in option_columns]
        options = [str(option) for option in options]
        clip = str(row[columns.clip]) if columns.clip else item_id
        try:
            answer = _answer_letter(row[columns.answer], options, f"row {index} (id {item_id})")
            video = _media_file(row[columns.video], clip, media_dir, root_path) if columns.video else None
            # without an audio column the video's own soundtrack is the audio
            audio = _media_file(row[columns.audio], clip, media_dir, root_path) if columns.audio else video
        except PreflightError as err:
            problems.append(str(err))
            continue
        category = str(row[columns.category]) if columns.category else task
        items.append(
            Item(
                id=item_id,
                question=str(row[columns.question]),
                options=tuple(options),
                answer=answer,
                task=category,
                clip_id=clip,
                biography=str(row[columns.context] or "") if columns.context else "",
                video=video,
                audio=audio,
            )
        )
    _raise_problems(problems)
    return items


def _raise_problems(problems: list[str]) -> None:
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise PreflightError(f"{len(problems)} item(s) cannot run:\n  {shown}{more}")
