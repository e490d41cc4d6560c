"""CrossOmni: cross-modal coreference between audio, vision and text over TV clips.

This module is the single source of truth for the CrossOmni schema — the nine task types,
the ``datasets.Features`` of one instance, the config names and the *annotation release*
format — and holds the ``datasets`` builder that turns a release into splits.

Annotation release (format version 1), the folder ``crossomni build`` writes::

    <release>/
      release.json     {"format": "crossomni-release", "version": 1, "media": "reference"|"embed", ...}
      clips.jsonl      one clip a line: clip_id, show, episode, video, audio, duration
      train.jsonl      one instance a line (see ``INSTANCE_FIELDS``)
      test.jsonl
      media/           only when media == "embed": the clips themselves

``video``/``audio`` in ``clips.jsonl`` are paths relative to the TVQA root (``reference``,
the default: TVQA video is not redistributable) or to the release folder (``embed``). Audio
may point at the mp4 itself: ``datasets`` decodes its audio track at 16 kHz mono.

Every media path is resolved under its root (``contained_path``): absolute paths and paths that
leave the root, through ``..`` or a symlink, are refused.

The taxonomy and the release readers import without ``datasets``; ``FEATURES`` and the builder
classes are made on first use (module ``__getattr__``), so a command that only needs task names
starts fast. Usage::

    builder = CrossOmni(config_name="cross", release_dir="release/", data_dir="/data/tvqa")
    builder.download_and_prepare()
    ds = builder.as_dataset()
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets
    import pydantic

    Clip = Any  # the pydantic dataclass ``_models()`` makes (``crossomni.Clip`` at run time)

_CITATION = """\
@article{liu2026crossomni,
  title   = {Cross-Modal Coreference Alignment: Enabling Reliable Information Transfer in Omni-LLMs},
  author  = {Liu, Hongcheng and Wang, Yuhao and Chen, Zhe and Wang, Pingjie and Zhu, Zhiyuan and
             Hou, Yixuan and Wang, Yanfeng and Wang, Yu},
  journal = {arXiv preprint arXiv:2604.05522},
  year    = {2026}
}
"""

_DESCRIPTION = """\
CrossOmni tests whether an omni-modal model can find a person in one modality (the source:
audio, vision or text) and re-identify them in another (the target). Each instance is a
four-option multiple-choice question over a TV clip (video with its audio track) and a text
biography of the people in it; training instances also carry a four-step rationale.
Nine task types: three single-modality (source = target) and six cross-modality.
"""

_HOMEPAGE = "https://arxiv.org/abs/2604.05522"

_LICENSE = (
    "Annotations: CC BY 4.0. Video and audio are TVQA clips (academic licence, not "
    "redistributed): obtain TVQA yourself and point data_dir at it."
)

FORMAT_NAME = "crossomni-release"
FORMAT_VERSION = 1
SAMPLING_RATE = 16_000
LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
NUM_OPTIONS = len(LETTERS)
SPLITS: tuple[str, ...] = ("train", "test")
MEDIA_MODES: tuple[str, ...] = ("reference", "embed")
# The dataset card tag of an export of the generated sample (release.json ``synthetic``: no TVQA data in it).
SYNTHETIC_TAG = "synthetic"
MODALITIES: tuple[str, ...] = ("audio", "vision", "text")
_MODALITY_ABBREV = {"audio": "Au", "vision": "Vi", "text": "Te"}


@dataclass(frozen=True)
class TaskType:
    """One coreference task: find the referent in ``source``, answer from ``target``."""

    name: str
    source: str
    target: str

    @property
    def is_cross(self) -> bool:
        return self.source != self.target

    @property
    def short(self) -> str:
        """The paper's column label, e.g. ``Au`` or ``Au→Te``."""
        if not self.is_cross:
            return _MODALITY_ABBREV[self.source]
        return f"{_MODALITY_ABBREV[self.source]}→{_MODALITY_ABBREV[self.target]}"


def _task(source: str, target: str) -> TaskType:
    return TaskType(source if source == target else f"{source}_to_{target}", source, target)


# Order is the ClassLabel order of ``task_type``: never reorder, only append.
TASK_TYPES: tuple[TaskType, ...] = (
    _task("audio", "audio"),
    _task("vision", "vision"),
    _task("text", "text"),
    _task("audio", "text"),
    _task("audio", "vision"),
    _task("text", "audio"),
    _task("text", "vision"),
    _task("vision", "audio"),
    _task("vision", "text"),
)
TASKS: dict[str, TaskType] = {task.name: task for task in TASK_TYPES}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
SINGLE_TASKS: tuple[str, ...] = tuple(t.name for t in TASK_TYPES if not t.is_cross)
CROSS_TASKS: tuple[str, ...] = tuple(t.name for t in TASK_TYPES if t.is_cross)
# The paper's table layout (Table 5): audio-, text-, visual-centric groups by source modality.
PAPER_COLUMN_GROUPS: dict[str, tuple[str, ...]] = {
    "audio-centric": ("audio", "audio_to_text", "audio_to_vision"),
    "text-centric": ("text", "text_to_audio", "text_to_vision"),
    "visual-centric": ("vision", "vision_to_audio", "vision_to_text"),
}


def task_for(source: str, target: str) -> TaskType:
    """The task type with this source and target modality."""
    for modality in (source, target):
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return TASKS[_task(source, target).name]


def get_task(name: str) -> TaskType:
    """Look a task up by canonical name, with an error that lists the valid names."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task type {name!r}; expected one of {', '.join(TASK_NAMES)}") from None


# Fields of one instance line in ``train.jsonl`` / ``test.jsonl``; show, modalities and
# is_cross are derived (from clips.jsonl and the taxonomy), never stored twice.
INSTANCE_FIELDS: tuple[str, ...] = (
    "id",
    "clip_id",
    "start",
    "end",
    "task_type",
    "referent",
    "biography",
    "question",
    "options",
    "answer",
    "rationale",
)
CLIP_FIELDS: tuple[str, ...] = ("clip_id", "show", "episode", "video", "audio", "duration")

CONFIG_DESCRIPTIONS: dict[str, str] = {
    "all": "All nine task types.",
    "single": "The three single-modality tasks (source = target).",
    "cross": "The six cross-modality tasks (source ≠ target).",
    **{t.name: f"Only {t.short}: find the referent in {t.source}, answer from {t.target}." for t in TASK_TYPES},
}
CONFIG_TASKS: dict[str, tuple[str, ...]] = {
    "all": TASK_NAMES,
    "single": SINGLE_TASKS,
    "cross": CROSS_TASKS,
    **{name: (name,) for name in TASK_NAMES},
}
CONFIG_NAMES: tuple[str, ...] = tuple(CONFIG_TASKS)
DEFAULT_CONFIG_NAME = "all"


DURATION_TOLERANCE_S = 0.5  # a segment may end this far past the clip's duration (container rounding)


class ReleaseError(ValueError):
    """An annotation release that does not follow the format; the message names file, line and field."""


class UnsafePathError(ValueError):
    """A media, subtitle or QA path that is absolute or leaves its root (``..``, a symlink)."""


def _is_absolute(relative: str) -> bool:
    return PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).is_absolute() or relative.startswith("~")


def check_relative(relative: Any, what: str) -> str:
    """``relative`` if it is a relative path that stays below its root on paper; else ``UnsafePathError``."""
    if not isinstance(relative, str) or not relative.strip() or "\x00" in relative:
        raise UnsafePathError(f"{what}: path {relative!r} is not a relative path")
    if _is_absolute(relative):
        raise UnsafePathError(f"{what}: absolute path {relative!r} refused (paths are relative to their root)")
    depth = 0
    for part in PurePosixPath(relative.replace("\\", "/")).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            raise UnsafePathError(f"{what}: path {relative!r} leaves its root")
    return relative


def contained_path(root: str | Path, relative: str, what: str) -> Path:
    """``root / relative`` resolved, refusing absolute paths and escapes (``..``, symlinks out of ``root``).

    ``what`` names the thing in the one-line error (e.g. ``"clip friends_s01e01_seg02_clip_14 video"``).
    The file need not exist; callers check that themselves.
    """
    check_relative(relative, what)
    try:
        base = Path(root).resolve()
        path = (base / relative).resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop (RuntimeError before Python 3.13), a bad name
        raise UnsafePathError(f"{what}: path {relative!r} cannot be resolved ({short_repr(str(err))})") from None
    if not path.is_relative_to(base):
        raise UnsafePathError(f"{what}: path {relative!r} resolves to {path}, outside the root {root}")
    return path


# --- text of a release: what a reader sees, and what two options that look the same share ---------

# Characters that render as nothing: controls, format characters (zero-width space and joiners, soft
# hyphen, BOM, bidi marks, tags), blank letters (Hangul fillers, braille blank); \s covers the spaces.
_INVISIBLE = (
    "\x00-\x1f\x7f-\x9f\xad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_VISIBLE_CHAR = re.compile(rf"[^\s{_INVISIBLE}\ud800-\udfff]")
_INVISIBLE_CHARS = re.compile(rf"[{_INVISIBLE}]")
# A lone surrogate cannot be written as UTF-8 (parquet, the card); C0/C1 controls other than tab and
# line ends are no text a person wrote (NUL, NEL U+0085 — which splits lines in some readers).
_BAD_CHAR = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# Letters of other scripts drawn like Latin ones (a sample of Unicode's confusables), after casefold.
_CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁӏɑοαρντυικχ",
    "aeopcyxijsdlaoapvtuikx",
)
TVQA_CLIP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")  # letters, digits, "_" and "-": no look-alikes


def has_visible_text(text: str) -> bool:
    """Whether ``text`` shows anything: not only spaces, controls, zero-width or other invisible characters."""
    return _VISIBLE_CHAR.search(text) is not None


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be released as it is (a lone surrogate, a control character), or None."""
    bad = _BAD_CHAR.search(text)
    if bad is None:
        return None
    char = bad.group()
    if "\ud800" <= char <= "\udfff":
        kind = "a lone surrogate"
    else:
        kind = "non-character" if char > "\ufff0" else "control character"
    return f"contains {kind} U+{ord(char):04X} at position {bad.start()}"


def option_key(text: str) -> str:
    """What two options that read the same share: NFKC (fullwidth, composed accents), no invisible
    characters (zero-width space, soft hyphen), case folded, look-alike letters mapped, spaces collapsed."""
    import unicodedata

    spaced = " ".join(unicodedata.normalize("NFKC", text).split())  # a line break or tab reads as a space
    return " ".join(_INVISIBLE_CHARS.sub("", spaced).casefold().translate(_CONFUSABLES).split())


def _clean_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _not_blank(value: str) -> str:
    if not has_visible_text(value):
        raise ValueError("must be a non-empty string (visible text, not only spaces or invisible characters)")
    return value


def _relative_media(value: str) -> str:
    check_relative(value, "media path")
    return value


def _tvqa_clip_id(value: str) -> str:
    if not TVQA_CLIP_ID.fullmatch(value):
        raise ValueError("must be a TVQA clip name (letters, digits, '_' and '-', e.g. friends_s01e01_seg02_clip_14)")
    return value


def to_float32(value: float) -> float:
    """``value`` as the release's ``float32`` columns store it (±inf past float32's range)."""
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)


@cache
def _models() -> SimpleNamespace:
    """The pydantic release models (``Clip``, ``ReleaseManifest``, ``InstanceRecord``), made on first use:
    pydantic costs more to import than the whole of ``crossomni --help``."""
    from typing import Annotated, Literal

    from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationInfo, model_validator
    from pydantic.dataclasses import dataclass as pydantic_dataclass
    from pydantic.dataclasses import rebuild_dataclass

    Text = Annotated[str, AfterValidator(_clean_text)]
    NonEmptyStr = Annotated[str, AfterValidator(_clean_text), AfterValidator(_not_blank)]
    ClipId = Annotated[str, AfterValidator(_tvqa_clip_id)]
    MediaPath = Annotated[str, AfterValidator(_clean_text), AfterValidator(_not_blank), AfterValidator(_relative_media)]
    Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
    Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    Count = Annotated[int, Strict(), Field(ge=0)]
    _STRICT = ConfigDict(strict=True, frozen=True, extra="ignore")

    @pydantic_dataclass(frozen=True, config=ConfigDict(strict=True, extra="ignore"))
    class Clip:
        """One line of ``clips.jsonl`` (validated on construction)."""

        clip_id: ClipId
        show: NonEmptyStr
        episode: NonEmptyStr
        video: MediaPath
        audio: MediaPath
        duration: Annotated[float, Field(gt=0, allow_inf_nan=False)]

        def __post_init__(self) -> None:
            # the split keeps episodes apart: an episode that is not the clip's own would let one leak
            if self.episode != episode_of(self.clip_id):
                raise ValueError(
                    f"episode: {short_repr(self.episode)} is not the episode of clip {self.clip_id} "
                    f"({episode_of(self.clip_id)!r}: the clip name up to '_seg')"
                )

    class AuditRow(BaseModel):
        """One row of the shortcut audit: how many instances, and each reader's accuracy (None when n is 0)."""

        model_config = ConfigDict(strict=True, extra="allow")

        n: Count
        accuracy: dict[str, Fraction | None]

    class ShortcutAudit(BaseModel):
        """``release.json``'s ``shortcut_audit`` (``builder/audit.py``): what the dataset card's table reads."""

        model_config = ConfigDict(strict=True, extra="allow")

        blind_model: NonEmptyStr
        readers: list[NonEmptyStr]
        per_task: dict[str, AuditRow]
        groups: dict[str, AuditRow]
        passed: bool | None = None

        @model_validator(mode="after")
        def _every_reader_scored(self) -> ShortcutAudit:
            for kind, rows in (("per_task", self.per_task), ("groups", self.groups)):
                for name, row in rows.items():
                    # the card prints every reader of every task, and of each group that has instances
                    scored = kind == "per_task" or row.n > 0
                    missing = [r for r in self.readers if scored and row.accuracy.get(r) is None]
                    if missing:
                        raise ValueError(f"{kind}.{name}: no accuracy for {', '.join(map(short_repr, missing[:3]))}")
            return self

    class ReleaseManifest(BaseModel):
        """``release.json``: the format marker and media mode, and the keys the loader and the dataset card
        read (typed: ``"synthetic": "false"`` is refused, not read as true); others (build settings) pass."""

        model_config = ConfigDict(strict=True, extra="allow")

        format: Literal["crossomni-release"]
        version: Annotated[int, Strict(), Field(ge=FORMAT_VERSION, le=FORMAT_VERSION)]
        media: Literal["reference", "embed"] = "reference"
        media_root: Literal["tvqa", "derived"] = "tvqa"
        synthetic: bool = False
        name: NonEmptyStr | None = None
        pretty_name: NonEmptyStr | None = None
        description: Text | None = None
        repo_id: NonEmptyStr | None = None
        counts: dict[str, dict[str, Count]] | None = None
        shortcut_audit: ShortcutAudit | None = None

    class InstanceRecord(BaseModel):
        """One line of ``train.jsonl`` / ``test.jsonl``.

        Validation context: ``clips`` (``{clip_id: Clip}``) and ``split``; with them the clip must exist,
        the segment must fit in it and train instances need a rationale.
        """

        model_config = _STRICT

        id: NonEmptyStr
        clip_id: NonEmptyStr
        start: Seconds
        end: Seconds
        task_type: Text
        referent: NonEmptyStr
        biography: NonEmptyStr
        question: NonEmptyStr
        options: list[Text]
        answer: Text
        rationale: Text

        @model_validator(mode="after")
        def _consistent(self, info: ValidationInfo) -> InstanceRecord:
            context = info.context or {}
            problems = []
            if self.task_type not in TASKS:
                problems.append(f"task_type: unknown task_type {short_repr(self.task_type)}")
            if len(self.options) != NUM_OPTIONS:
                problems.append(f"options: options must be a list of {NUM_OPTIONS} strings")
            elif not all(has_visible_text(option) for option in self.options):
                problems.append("options: options must be non-empty strings (visible text)")
            elif len({option_key(option) for option in self.options}) != NUM_OPTIONS:
                problems.append("options: options must be distinct (two read the same)")
            if self.answer not in LETTERS:
                problems.append(f"answer: answer must be one of {LETTERS}, got {short_repr(self.answer)}")
            if not self.start < self.end:
                problems.append(f"start: segment start {self.start} must be < end {self.end}")
            elif not to_float32(self.start) < to_float32(self.end):
                problems.append(f"end: segment start {self.start} and end {self.end} are one time as float32")
            clips = context.get("clips")
            if clips is not None:
                clip = clips.get(self.clip_id)
                if clip is None:
                    problems.append(f"clip_id: clip_id {short_repr(self.clip_id)} not in clips.jsonl")
                elif to_float32(self.end) > clip.duration + DURATION_TOLERANCE_S:
                    problems.append(f"end: segment end {self.end} is past the clip's duration {clip.duration}")
            if context.get("split") == "train" and not has_visible_text(self.rationale):
                problems.append("rationale: train instances need a rationale")
            if problems:
                raise ValueError("; ".join(problems))
            return self

    # The annotations are strings (``from __future__ import annotations``) naming this function's locals.
    names = dict(locals())
    rebuild_dataclass(Clip, _types_namespace=names)
    for model in (AuditRow, ShortcutAudit, ReleaseManifest, InstanceRecord):
        model.model_rebuild(_types_namespace=names)
    for cls in (Clip, AuditRow, ShortcutAudit, ReleaseManifest, InstanceRecord):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return SimpleNamespace(
        Clip=Clip, ShortcutAudit=ShortcutAudit, ReleaseManifest=ReleaseManifest, InstanceRecord=InstanceRecord
    )


def _describe(err: pydantic.ValidationError) -> str:
    """One line per pydantic error: ``field: message`` (a model-level error carries its own fields)."""
    parts = []
    for item in err.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            parts.append(f"missing field {location!r}")
        elif location:
            parts.append(f"{location}: {message} (got {short_repr(item.get('input'))})")
        else:
            parts.append(message)
    return "; ".join(parts)


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters, for a message that names a bad value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def episode_of(clip_id: str) -> str:
    """TVQA episode of a clip name (the part before ``_seg``), the unit of a leak-free split."""
    return clip_id.split("_seg", 1)[0]


def loads_json(text: str | bytes, where: str, error: type[ValueError] = ReleaseError) -> Any:
    """``json.loads``, or ``error`` naming ``where`` (file, or file:line) and what is wrong: never a traceback."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{where}: not valid JSON ({err.msg})") from None
    except UnicodeDecodeError:
        raise error(f"{where}: not UTF-8 text") from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply") from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)``; a line that is not a UTF-8 JSON object raises ``ReleaseError``."""
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise ReleaseError(f"{path}: cannot read ({err.strerror})") from None
    with handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ReleaseError(f"{path}:{line_number}: not UTF-8 text") from None
            if not line.strip():
                continue
            record = loads_json(line, f"{path}:{line_number}")
            if not isinstance(record, dict):
                raise ReleaseError(f"{path}:{line_number}: expected a JSON object, got {type(record).__name__}")
            yield line_number, record


def read_release_manifest(release_dir: str | Path) -> dict[str, Any]:
    """Read and check ``release.json``."""
    path = Path(release_dir) / "release.json"
    if not path.is_file():
        raise ReleaseError(f"{path}: missing; {release_dir} is not a CrossOmni annotation release")
    manifest = loads_json(path.read_bytes(), str(path))
    if not isinstance(manifest, dict):
        raise ReleaseError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    from pydantic import ValidationError

    try:
        _models().ReleaseManifest.model_validate(manifest)
    except ValidationError as err:
        marker = {item["loc"][0] for item in err.errors() if item["loc"]} & {"format", "version", "media"}
        hint = f" (expected format {FORMAT_NAME!r} version {FORMAT_VERSION}, media {MEDIA_MODES})" if marker else ""
        raise ReleaseError(f"{path}: {_describe(err)}{hint}") from None
    return {"media": "reference", **manifest}


def read_clips(release_dir: str | Path) -> dict[str, Clip]:
    """Read ``clips.jsonl`` into ``{clip_id: Clip}``."""
    path = Path(release_dir) / "clips.jsonl"
    from pydantic import ValidationError

    clips: dict[str, Clip] = {}
    for line_number, record in iter_jsonl(path):
        try:
            clip = _models().Clip(**{name: record[name] for name in CLIP_FIELDS if name in record})
        except (ValidationError, TypeError) as err:
            detail = _describe(err) if isinstance(err, ValidationError) else str(err)
            raise ReleaseError(f"{path}:{line_number}: clip {short_repr(record.get('clip_id'))}: {detail}") from None
        if clip.clip_id in clips:
            raise ReleaseError(f"{path}:{line_number}: clip_id: duplicate clip_id {clip.clip_id!r}")
        clips[clip.clip_id] = clip
    return clips


def instance_problems(record: dict[str, Any], clips: dict[str, Clip], split: str) -> list[str]:
    """Everything wrong with one instance record, as ``field: message`` strings (empty when valid)."""
    from pydantic import ValidationError

    try:
        _models().InstanceRecord.model_validate(record, context={"clips": clips, "split": split})
    except ValidationError as err:
        return _describe(err).split("; ")
    return []


def iter_instances(release_dir: str | Path, split: str, clips: dict[str, Clip]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` of one split, each validated; the first invalid one raises ``ReleaseError``."""
    path = Path(release_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise ReleaseError(f"{path}: missing split file")
    seen: set[str] = set()
    for line_number, record in iter_jsonl(path):
        problems = instance_problems(record, clips, split)
        if problems:
            raise ReleaseError(f"{path}:{line_number}: {'; '.join(problems)}")
        if record["id"] in seen:
            raise ReleaseError(f"{path}:{line_number}: id: duplicate id {record['id']!r}")
        seen.add(record["id"])
        yield line_number, record


def read_instances(release_dir: str | Path, split: str, clips: dict[str, Clip]) -> Iterator[dict[str, Any]]:
    """Yield validated instance records of one split; the first invalid one raises ``ReleaseError``."""
    for _, record in iter_instances(release_dir, split, clips):
        yield record


REVIEW_FILE = "review.jsonl"
REVIEW_DECISIONS: tuple[str, ...] = ("accept", "reject")


def read_review(release_dir: str | Path) -> dict[str, dict[str, str]]:
    """The human review of a release (``review.jsonl``, written by ``crossomni review``): the latest
    decision per instance id, ``{id: {"decision", "reason", "reviewed_at"}}`` ({} when nothing was reviewed).

    Decisions are appended as they are made, so the last one about an id wins, and an unterminated
    last line (a crash mid-write) is ignored; any other bad line raises ``ReleaseError`` naming it."""
    path = Path(release_dir) / REVIEW_FILE
    if not path.is_file():
        return {}
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as err:
        raise ReleaseError(f"{path}: cannot read ({err.strerror})") from None
    decisions: dict[str, dict[str, str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = loads_json(line, f"{path}:{number}")
            decision = check_review_record(record)
        except ReleaseError:
            if number == len(lines):  # the last line has no newline: torn by a crash mid-write
                break
            raise
        except ValueError as err:
            if number == len(lines):
                break
            raise ReleaseError(f"{path}:{number}: {err}") from None
        decisions[decision["id"]] = decision
    return decisions


def check_review_record(record: Any) -> dict[str, str]:
    """One ``review.jsonl`` record, checked field by field (``ValueError`` naming the field)."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    for name in ("id", "decision", "reviewed_at"):
        if name not in record:
            raise ValueError(f"missing field {name!r}")
    for name in ("id", "decision", "reason", "reviewed_at"):
        value = record.get(name, "")
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string, got {type(value).__name__} {short_repr(value)}")
        problem = text_problem(value)
        if problem:
            raise ValueError(f"{name}: {problem}")
    if not has_visible_text(record["id"]):
        raise ValueError("id: must be a non-empty string")
    if record["decision"] not in REVIEW_DECISIONS:
        raise ValueError(f"decision: must be one of {REVIEW_DECISIONS}, got {short_repr(record['decision'])}")
    return {name: record.get(name, "") for name in ("id", "decision", "reason", "reviewed_at")}


def rejected_ids(release_dir: str | Path) -> set[str]:
    """Ids whose latest review decision is a rejection: the instances a release does not publish."""
    return {id_ for id_, decision in read_review(release_dir).items() if decision["decision"] == "reject"}


def published_instances(
    release_dir: str | Path, split: str, clips: dict[str, Clip], rejected: set[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The instances of one split a release publishes: every (validated) instance except those rejected
    in review. The one rule for the ``CrossOmni`` builder and ``crossomni export``; ``rejected`` (else
    read from ``review.jsonl``) lets a caller read the review once for all splits."""
    rejected = rejected_ids(release_dir) if rejected is None else rejected
    for record in read_instances(release_dir, split, clips):
        if record["id"] not in rejected:
            yield record


def validate_release(release_dir: str | Path) -> dict[str, Any]:
    """Check a whole release: manifest, clips, every instance, what spans splits — ids unique across
    splits, no clip and no episode in both (compared case-blind) — and the review. Returns the manifest."""
    release_dir = Path(release_dir)
    manifest = read_release_manifest(release_dir)
    clips = read_clips(release_dir)
    first_split: dict[tuple[str, str], str] = {}  # (kind, value) -> the split it was first seen in
    for split in SPLITS:
        for line_number, record in iter_instances(release_dir, split, clips):
            clip = clips[record["clip_id"]]
            for kind, value in (("id", record["id"]), ("clip_id", clip.clip_id), ("episode", clip.episode)):
                key = value if kind == "id" else value.casefold()
                first = first_split.setdefault((kind, key), split)
                if first != split:
                    raise ReleaseError(
                        f"{release_dir / f'{split}.jsonl'}:{line_number}: {kind}: {value!r} is in both {first} and "
                        f"{split}; the splits must not share instances, clips or episodes"
                    )
    read_review(release_dir)
    return manifest


def release_fingerprint(release_dir: str | Path) -> str:
    """sha256 over the release's files (its review too): an edit to any gives a new ``datasets`` cache entry."""
    digest = hashlib.sha256()
    for name in ("release.json", "clips.jsonl", *(f"{split}.jsonl" for split in SPLITS), REVIEW_FILE):
        path = Path(release_dir) / name
        digest.update(name.encode())
        if path.is_file():
            with open(path, "rb") as handle:
                for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def check_not_release(name: str | Path, what: str = "--dataset") -> None:
    """Raise ``ReleaseError`` (one line: how to export it) when ``name``, given where an exported dataset is
    expected, is an annotation release or a build folder holding one; anything else passes."""
    folder = Path(name).expanduser()
    release = folder if (folder / "release.json").is_file() else folder / "release"
    if not (release / "release.json").is_file() or (folder / "README.md").is_file():
        return
    try:
        derived = read_release_manifest(release).get("media_root") == "derived"
    except ReleaseError:
        derived = False
    if derived:
        root = f"--media-root {release.parent / 'media'}"
    elif (release.parent / "sample_tvqa").is_dir():
        root = f"--tvqa-root {release.parent / 'sample_tvqa'}"
    else:
        root = "--tvqa-root /path/to/tvqa"
    kind = "an annotation release" if release == folder else "a build folder"
    raise ReleaseError(
        f"{what} {name} is {kind} ({release / 'release.json'}), not an exported dataset: export it first, "
        f"`crossomni export {release} --out DIR {root}`, then pass DIR"
    )


def media_root(release_dir: str | Path, tvqa_root: str | Path | None) -> Path:
    """Where the clip paths of a release are relative to (release folder or TVQA root)."""
    manifest = read_release_manifest(release_dir)
    if manifest.get("media", "reference") == "embed":
        return Path(release_dir)
    if tvqa_root is None and manifest.get("media_root") == "derived":
        raise ReleaseError(
            f"{release_dir}: media are clips derived from TVQA frames + audio; pass data_dir=<their folder> "
            f"(the build's OUT/media, or `crossomni media --release {release_dir} --tvqa-root <your TVQA> --out DIR`)"
        )
    if tvqa_root is None:
        raise ReleaseError(f"{release_dir}: {TVQA_INSTRUCTIONS}")
    return Path(tvqa_root)


def resolve_clip_path(relative: str, clip_id: str, root: Path, column: str = "media") -> str:
    """Absolute path of a clip's media file under ``root``; an escape or a missing file raises naming the clip."""
    path = contained_path(root, relative, f"clip {clip_id} {column}")
    if not path.is_file():
        raise FileNotFoundError(f"clip {clip_id}: media file {relative!r} not found under root {root}")
    return str(path)


def to_example(record: dict[str, Any], clip: Clip, root: Path | None) -> dict[str, Any]:
    """One ``FEATURES`` row from an instance record and its clip.

    Media paths are resolved (and checked) under ``root``, or kept relative when ``root`` is None.
    """
    task = TASKS[record["task_type"]]

    def media(relative: str, column: str) -> dict[str, Any]:
        if root is None:
            return {"path": check_relative(relative, f"clip {clip.clip_id} {column}"), "bytes": None}
        return {"path": resolve_clip_path(relative, clip.clip_id, root, column), "bytes": None}

    return {
        "id": record["id"],
        "clip_id": record["clip_id"],
        "show": clip.show,
        "start": float(record["start"]),
        "end": float(record["end"]),
        "video": media(clip.video, "video"),
        "audio": media(clip.audio, "audio"),
        "biography": record["biography"],
        "question": record["question"],
        "options": list(record["options"]),
        "answer": record["answer"],
        "rationale": record["rationale"],
        "task_type": task.name,
        "source_modality": task.source,
        "target_modality": task.target,
        "is_cross": task.is_cross,
        "referent": record["referent"],
    }


def resolve_media(dataset: datasets.Dataset, tvqa_root: str | Path) -> datasets.Dataset:
    """Make a ``reference``-mode export decodable: join its media paths onto ``tvqa_root``.

    A Hub/folder export in ``reference`` mode stores clip paths relative to the TVQA root;
    ``load_dataset(...)`` returns them as they are. Call this once after loading::

        ds = crossomni.resolve_media(load_dataset("crossomni", "cross", split="test"), "/data/tvqa")

    Rows whose media carry bytes (``embed`` mode) are left as they are; a path that is absolute or
    leaves ``tvqa_root`` is refused (``UnsafePathError``).
    """
    import datasets

    root = Path(tvqa_root)
    raw = dataset.cast_column("video", datasets.Video(decode=False)).cast_column("audio", datasets.Audio(decode=False))

    def join(row: dict[str, Any]) -> dict[str, Any]:
        for column in ("video", "audio"):
            media = row[column]
            if media.get("bytes") is None:
                media = {"path": resolve_clip_path(media["path"], row["clip_id"], root, column), "bytes": None}
            row[column] = media
        return row

    joined = raw.map(join, desc="resolving media paths")
    features = __getattr__("FEATURES")
    return joined.cast_column("video", features["video"]).cast_column("audio", features["audio"])


TVQA_INSTRUCTIONS = (
    "media are referenced from TVQA, which you obtain yourself (academic licence): request the TVQA "
    "videos from https://nlp.cs.unc.edu/data/jielei/tvqa/tvqa_public_html/download_tvqa.html and pass "
    "data_dir=<your TVQA root> (the folder the clip paths in clips.jsonl are relative to)"
)


def _features() -> datasets.Features:
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "clip_id": datasets.Value("string"),
            "show": datasets.Value("string"),
            "start": datasets.Value("float32"),
            "end": datasets.Value("float32"),
            "video": datasets.Video(),
            "audio": datasets.Audio(sampling_rate=SAMPLING_RATE, num_channels=1),
            "biography": datasets.Value("string"),
            "question": datasets.Value("string"),
            "options": datasets.List(datasets.Value("string"), length=NUM_OPTIONS),
            "answer": datasets.Value("string"),
            "rationale": datasets.Value("string"),
            "task_type": datasets.ClassLabel(names=list(TASK_NAMES)),
            "source_modality": datasets.Value("string"),
            "target_modality": datasets.Value("string"),
            "is_cross": datasets.Value("bool"),
            "referent": datasets.Value("string"),
        }
    )


def _builder_classes() -> dict[str, Any]:
    """``CrossOmniConfig`` and ``CrossOmni``, made on first use so the taxonomy imports without ``datasets``."""
    import dataclasses

    import datasets

    @dataclasses.dataclass
    class CrossOmniConfig(datasets.BuilderConfig):
        """A CrossOmni config: which task types it holds and where the annotation release is.

        ``release_fingerprint`` (filled in by ``CrossOmni``) is a hash of the release files: it is part
        of the config id, so an edited release is prepared again instead of read from the cache.
        """

        task_types: tuple[str, ...] = field(default=TASK_NAMES)
        release_dir: str | None = None
        release_fingerprint: str | None = None

        def __post_init__(self) -> None:
            super().__post_init__()
            if not self.task_types:
                raise ValueError(f"config {self.name!r}: task_types is empty")
            for name in self.task_types:
                get_task(name)

    class CrossOmni(datasets.GeneratorBasedBuilder):
        """CrossOmni splits from an annotation release; ``data_dir`` (the manual dir) is the TVQA root."""

        VERSION = datasets.Version("1.0.0")
        BUILDER_CONFIG_CLASS = CrossOmniConfig
        BUILDER_CONFIGS = [
            CrossOmniConfig(name=name, task_types=tasks, description=CONFIG_DESCRIPTIONS[name])
            for name, tasks in CONFIG_TASKS.items()
        ]
        DEFAULT_CONFIG_NAME = DEFAULT_CONFIG_NAME
        # Rows hold media paths (or bytes in embed mode): keep Arrow writer batches small.
        DEFAULT_WRITER_BATCH_SIZE = 64

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            release_dir = kwargs.get("release_dir") or kwargs.get("data_dir")
            if release_dir is not None and "release_fingerprint" not in kwargs:
                kwargs["release_fingerprint"] = release_fingerprint(release_dir)
            super().__init__(*args, **kwargs)

        @property
        def manual_download_instructions(self) -> str:
            return TVQA_INSTRUCTIONS

        def _info(self) -> datasets.DatasetInfo:
            return datasets.DatasetInfo(
                description=_DESCRIPTION,
                features=__getattr__("FEATURES"),
                homepage=_HOMEPAGE,
                license=_LICENSE,
                citation=_CITATION,
            )

        def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
            release_dir = self.config.release_dir or self.config.data_dir
            if release_dir is None:
                raise ReleaseError(
                    "pass release_dir=<annotation release> (and data_dir=<TVQA root> for reference media)"
                )
            validate_release(release_dir)
            root = media_root(release_dir, dl_manager.manual_dir)
            # ``datasets`` cannot build a split without rows: a split where review left none of this config's
            # tasks is left out (as the export leaves it out of the config's data_files)
            clips, rejected, wanted = read_clips(release_dir), rejected_ids(release_dir), set(self.config.task_types)
            splits = [
                split
                for split in SPLITS
                if any(r["task_type"] in wanted for r in published_instances(release_dir, split, clips, rejected))
            ]
            if not splits:
                raise ReleaseError(f"{release_dir}: config {self.config.name!r} has no published instance")
            return [
                datasets.SplitGenerator(
                    name=split, gen_kwargs={"release_dir": release_dir, "split": split, "root": root}
                )
                for split in splits
            ]

        def _generate_examples(self, release_dir: str, split: str, root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
            clips = read_clips(release_dir)
            wanted = set(self.config.task_types)
            for record in published_instances(release_dir, split, clips):
                if record["task_type"] in wanted:
                    yield record["id"], to_example(record, clips[record["clip_id"]], root)

    for cls in (CrossOmniConfig, CrossOmni):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return {"CrossOmniConfig": CrossOmniConfig, "CrossOmni": CrossOmni}


def __getattr__(name: str) -> Any:
    """``FEATURES``, ``CrossOmni``, ``CrossOmniConfig``, the release models (and ``datasets``) on first use."""
    if name in ("Clip", "ReleaseManifest", "InstanceRecord"):
        value: Any = getattr(_models(), name)
    elif name == "FEATURES":
        value = _features()
    elif name in ("CrossOmni", "CrossOmniConfig"):
        globals().update(_builder_classes())
        return globals()[name]
    elif name == "datasets":
        import datasets as value
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
