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

Usage::

    builder = CrossOmni(config_name="cross", release_dir="release/", data_dir="/data/tvqa")
    builder.download_and_prepare()
    ds = builder.as_dataset()
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

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

FEATURES = datasets.Features(
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


class ReleaseError(ValueError):
    """An annotation release that does not follow the format; the message names file and line."""


@dataclass(frozen=True)
class Clip:
    """One line of ``clips.jsonl``."""

    clip_id: str
    show: str
    episode: str
    video: str
    audio: str
    duration: float


def episode_of(clip_id: str) -> str:
    """TVQA episode of a clip name (the part before ``_seg``), the unit of a leak-free split."""
    return clip_id.split("_seg", 1)[0]


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)``; a line that is not a JSON object raises ``ReleaseError``."""
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ReleaseError(f"{path}:{line_number}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise ReleaseError(f"{path}:{line_number}: expected a JSON object")
            yield line_number, record


def read_release_manifest(release_dir: str | Path) -> dict[str, Any]:
    """Read and check ``release.json``."""
    path = Path(release_dir) / "release.json"
    if not path.is_file():
        raise ReleaseError(f"{path}: missing; {release_dir} is not a CrossOmni annotation release")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
        raise ReleaseError(f"{path}: expected format {FORMAT_NAME!r} version {FORMAT_VERSION}")
    if manifest.get("media", "reference") not in MEDIA_MODES:
        raise ReleaseError(f"{path}: media must be one of {MEDIA_MODES}, got {manifest.get('media')!r}")
    return manifest


def read_clips(release_dir: str | Path) -> dict[str, Clip]:
    """Read ``clips.jsonl`` into ``{clip_id: Clip}``."""
    path = Path(release_dir) / "clips.jsonl"
    clips: dict[str, Clip] = {}
    for line_number, record in iter_jsonl(path):
        missing = [name for name in CLIP_FIELDS if name not in record]
        if missing:
            raise ReleaseError(f"{path}:{line_number}: missing field(s) {', '.join(missing)}")
        clip = Clip(**{name: record[name] for name in CLIP_FIELDS})
        if clip.clip_id in clips:
            raise ReleaseError(f"{path}:{line_number}: duplicate clip_id {clip.clip_id!r}")
        clips[clip.clip_id] = clip
    return clips


def instance_problems(record: dict[str, Any], clips: dict[str, Clip], split: str) -> list[str]:
    """Everything wrong with one instance record (empty when it is valid)."""
    problems = [f"missing field {name!r}" for name in INSTANCE_FIELDS if name not in record]
    if problems:
        return problems
    if record["task_type"] not in TASKS:
        problems.append(f"unknown task_type {record['task_type']!r}")
    if record["clip_id"] not in clips:
        problems.append(f"clip_id {record['clip_id']!r} not in clips.jsonl")
    options = record["options"]
    if not (isinstance(options, list) and len(options) == NUM_OPTIONS):
        problems.append(f"options must be a list of {NUM_OPTIONS} strings")
    elif any(not isinstance(o, str) or not o.strip() for o in options):
        problems.append("options must be non-empty strings")
    elif len({o.strip().lower() for o in options}) != NUM_OPTIONS:
        problems.append("options must be distinct")
    if record["answer"] not in LETTERS:
        problems.append(f"answer must be one of {LETTERS}, got {record['answer']!r}")
    if not (isinstance(record["start"], (int, float)) and isinstance(record["end"], (int, float))):
        problems.append("start and end must be numbers (seconds)")
    elif not 0 <= record["start"] < record["end"]:
        problems.append(f"segment start {record['start']} must be >= 0 and < end {record['end']}")
    for name in ("question", "biography", "referent"):
        if not isinstance(record[name], str) or not record[name].strip():
            problems.append(f"{name} must be a non-empty string")
    if split == "train" and not str(record["rationale"]).strip():
        problems.append("train instances need a rationale")
    return problems


def read_instances(release_dir: str | Path, split: str, clips: dict[str, Clip]) -> Iterator[dict[str, Any]]:
    """Yield validated instance records of one split; the first invalid one raises ``ReleaseError``."""
    path = Path(release_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise ReleaseError(f"{path}: missing split file")
    seen: set[str] = set()
    for line_number, record in iter_jsonl(path):
        problems = instance_problems(record, clips, split)
        if record.get("id") in seen:
            problems.append(f"duplicate id {record.get('id')!r}")
        if problems:
            raise ReleaseError(f"{path}:{line_number}: {'; '.join(problems)}")
        seen.add(record["id"])
        yield record


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
        raise ReleaseError(
            f"{release_dir}: media are referenced from TVQA; pass data_dir=<your TVQA root> "
            "(the folder the clip paths in clips.jsonl are relative to)"
        )
    return Path(tvqa_root)


def resolve_clip_path(relative: str, clip_id: str, root: Path) -> str:
    """Absolute path of a clip's media file; a missing file raises with clip id and root."""
    path = root / relative
    if not path.is_file():
        raise FileNotFoundError(f"clip {clip_id}: media file {relative!r} not found under root {root}")
    return str(path.resolve())


def to_example(record: dict[str, Any], clip: Clip, root: Path | None) -> dict[str, Any]:
    """One ``FEATURES`` row from an instance record and its clip.

    Media paths are resolved (and checked) under ``root``, or kept relative when ``root`` is None.
    """
    task = TASKS[record["task_type"]]

    def media(relative: str) -> dict[str, Any]:
        path = relative if root is None else resolve_clip_path(relative, clip.clip_id, root)
        return {"path": path, "bytes": None}

    return {
        "id": record["id"],
        "clip_id": record["clip_id"],
        "show": clip.show,
        "start": float(record["start"]),
        "end": float(record["end"]),
        "video": media(clip.video),
        "audio": media(clip.audio),
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

    Rows whose media carry bytes (``embed`` mode) are left as they are.
    """
    root = Path(tvqa_root)
    raw = dataset.cast_column("video", datasets.Video(decode=False)).cast_column("audio", datasets.Audio(decode=False))

    def join(row: dict[str, Any]) -> dict[str, Any]:
        for column in ("video", "audio"):
            media = row[column]
            if media.get("bytes") is None:
                media = {"path": resolve_clip_path(media["path"], row["clip_id"], root), "bytes": None}
            row[column] = media
        return row

    joined = raw.map(join, desc="resolving media paths")
    return joined.cast_column("video", FEATURES["video"]).cast_column("audio", FEATURES["audio"])


@dataclass
class CrossOmniConfig(datasets.BuilderConfig):
    """A CrossOmni config: which task types it holds and where the annotation release is."""

    task_types: tuple[str, ...] = field(default=TASK_NAMES)
    release_dir: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.task_types:
            raise ValueError(f"config {self.name!r}: task_types is empty")
        for name in self.task_types:
            get_task(name)


class CrossOmni(datasets.GeneratorBasedBuilder):
    """CrossOmni splits from an annotation release; ``data_dir`` is the TVQA root."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = CrossOmniConfig
    BUILDER_CONFIGS = [
        CrossOmniConfig(name=name, task_types=tasks, description=CONFIG_DESCRIPTIONS[name])
        for name, tasks in CONFIG_TASKS.items()
    ]
    DEFAULT_CONFIG_NAME = DEFAULT_CONFIG_NAME
    # Rows hold media paths (or bytes in embed mode): keep Arrow writer batches small.
    DEFAULT_WRITER_BATCH_SIZE = 64

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=FEATURES,
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        release_dir = self.config.release_dir or self.config.data_dir
        if release_dir is None:
            raise ReleaseError("pass release_dir=<annotation release> (and data_dir=<TVQA root> for reference media)")
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={
                    "release_dir": release_dir,
                    "split": split,
                    "root": media_root(release_dir, self.config.data_dir),
                },
            )
            for split in SPLITS
        ]

    def _generate_examples(self, release_dir: str, split: str, root: Path) -> Iterator[tuple[str, dict[str, Any]]]:
        clips = read_clips(release_dir)
        wanted = set(self.config.task_types)
        for record in read_instances(release_dir, split, clips):
            if record["task_type"] in wanted:
                yield record["id"], to_example(record, clips[record["clip_id"]], root)
