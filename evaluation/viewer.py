"""``crossomni eval view RUN_DIR``: a local page over one evaluation run, item by item.

Per item: the clip, question, options, the model's raw output, the letter read from it and
whether it is right; filters (wrong only, parse failures, task); the run's accuracy table and
plots at the top. ``predictions.jsonl`` records the options, answer and output; the question,
biography and clip come from the record when it carries them, else from the dataset the run
names in ``run.json`` (or ``--dataset``), read with the same item builder the runner used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossomni import TASKS
from evaluation.items import Item, MCQColumns, PreflightError, crossomni_items, mcq_items
from evaluation.report import PAPER_COLUMNS, SUMMARY_COLUMNS, load_run, percent, run_label
from evaluation.web.server import ApiError, ServedFiles, contained_file

RUN_ROOT = "run"
MEDIA_KINDS = ("tvqa_root", "media_root")  # the roots eval takes, also the names they are served under


@dataclass(frozen=True)
class ItemText:
    """What the page shows of an item besides the prediction record."""

    question: str = ""
    biography: str = ""
    video: str | None = None
    audio: str | None = None
    start: float | None = None
    end: float | None = None


def _without_media(dataset: Any) -> Any:
    """The dataset with its media columns emptied (the text of each item is still shown)."""
    drop = [c for c in ("video", "audio") if c in dataset.column_names]
    dataset = dataset.remove_columns(drop)
    for column in drop:
        dataset = dataset.add_column(column, [None] * len(dataset))
    return dataset


def dataset_items(
    meta: Mapping[str, Any], run_dir: Path, dataset: str | None, tvqa_root: str | None, media_root: str | None
) -> tuple[dict[str, ItemText], list[str]]:
    """Question, biography and clip per item id from the run's dataset, and notes for the page."""
    import datasets

    identity = meta.get("identity", {})
    source = dataset or identity.get("dataset")
    if not source:
        return {}, ["the run names no dataset (it was given in memory): pass --dataset to show questions and clips"]
    split = identity.get("split") or "test"
    adapter = identity.get("adapter", "crossomni")
    rows = datasets.load_dataset(source, identity.get("config"), split=split)
    notes: list[str] = []

    def items_of(rows: Any) -> list[Item]:
        if adapter != "crossomni":
            return mcq_items(rows, MCQColumns(**adapter), run_dir / "media", root=media_root)
        if tvqa_root:
            import crossomni

            rows = crossomni.resolve_media(rows, tvqa_root)
        return crossomni_items(rows, run_dir / "media", root=media_root)

    try:
        items = items_of(rows)
    except (PreflightError, FileNotFoundError) as err:
        notes.append(f"clips not shown ({str(err).splitlines()[0]}): pass --tvqa-root (or --media-root)")
        items = items_of(_without_media(rows))
    found = {i.id: ItemText(i.question, i.biography, i.video, i.audio, i.start, i.end) for i in items}
    return found, notes


def recorded_roots(meta: Mapping[str, Any]) -> dict[str, str]:
    """The media roots ``run.json`` records (``tvqa_root``, ``media_root``; absolute, as eval resolved them)."""
    roots = meta.get("media_roots")
    if not isinstance(roots, Mapping):
        return {}
    return {kind: value for kind, value in roots.items() if kind in MEDIA_KINDS and isinstance(value, str) and value}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _seconds(value: Any, fallback: float | None) -> float | None:
    """A time of the record when it is a finite number (the page computes with it), else ``fallback``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return fallback


def _relative(path: Path, base: str | Path) -> str | None:
    """``path`` relative to ``base`` (as written, then with symlinks resolved), or None when it is not under it."""
    try:
        pairs = [(path, Path(base)), (path.resolve(), Path(base).resolve())]
    except (OSError, RuntimeError, ValueError):  # a NUL byte, a symlink loop: not a file the page can show
        return None
    for candidate, root in pairs:
        try:
            return candidate.relative_to(root).as_posix()
        except ValueError:
            continue
    return None


class ViewerApp:
    """Answers the run viewer: the run's summary, table and plots, the item list, one item in full.

    It serves the run's plots and the clips its records name, nothing else: a clip under the media
    root the run recorded (or the one given instead, when the media moved), or embedded in the run's
    ``media/`` folder.
    """

    page = "viewer.html"

    def __init__(
        self,
        run_dir: str | Path,
        dataset: str | None = None,
        tvqa_root: str | None = None,
        media_root: str | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.meta, self.metrics, records = load_run(self.run_dir)
        self.records = {r["id"]: r for r in records}
        self.recorded = recorded_roots(self.meta)
        given = {kind: value for kind, value in zip(MEDIA_KINDS, (tvqa_root, media_root), strict=True) if value}
        self.media_roots = {kind: Path(value) for kind, value in {**self.recorded, **given}.items()}
        self.files = ServedFiles({RUN_ROOT: self.run_dir, **self.media_roots})
        self.notes: list[str] = []
        self.texts: dict[str, ItemText] = {}
        if any("question" not in r or "video" not in r for r in records):
            roots = {kind: str(path) for kind, path in self.media_roots.items()}
            self.texts, self.notes = dataset_items(
                self.meta, self.run_dir, dataset, roots.get("tvqa_root"), roots.get("media_root")
            )
        self.plots = [self.files.add(RUN_ROOT, path.relative_to(self.run_dir)) for path in self._plot_files()]
        self.urls: dict[str, str | None] = {}
        for record in records:
            text = self.texts.get(record["id"], ItemText())
            for path in (self._video(record, text), self._audio(record, text)):
                if path and path not in self.urls:
                    self.urls[path] = self._register(Path(path))

    def _plot_files(self) -> list[Path]:
        folder = self.run_dir / "plots"
        return sorted(p for p in folder.glob("*.png") if p.is_file()) if folder.is_dir() else []

    @staticmethod
    def _video(record: Mapping[str, Any], text: ItemText) -> str | None:
        return record["video"] if isinstance(record.get("video"), str) and record["video"] else text.video

    @staticmethod
    def _audio(record: Mapping[str, Any], text: ItemText) -> str | None:
        return record["audio"] if isinstance(record.get("audio"), str) and record["audio"] else text.audio

    def _register(self, path: Path) -> str | None:
        """Allow one clip file of the run; its URL, or None when it is under no root the page serves."""
        for kind, root in self.media_roots.items():
            for base in dict.fromkeys([root, *([self.recorded[kind]] if kind in self.recorded else [])]):
                relative = _relative(path, base)  # under the recorded root: the same file under the given one
                if relative is not None and contained_file(root, relative) is not None:
                    return self.files.add(kind, relative)
        if path.parent.name == "media":  # embedded in the run (also after the run folder was moved)
            relative = f"media/{path.name}"
            if contained_file(self.run_dir, relative) is not None:
                return self.files.add(RUN_ROOT, relative)
        return None

    def _missing(self, record: Mapping[str, Any], video: str | None) -> str:
        clip = f"clip {record.get('clip_id') or '?'}: "
        if not video:
            return clip + "no clip known (see the notes at the top)"
        if not self.media_roots:
            return clip + (
                f"{video} is not served: the run records no media root (an older run, or an in-memory dataset); "
                "pass --tvqa-root or --media-root"
            )
        roots = ", ".join(str(root) for root in self.media_roots.values())
        return clip + f"{video} is not a file under the media root {roots} (pass --tvqa-root or --media-root)"

    def table(self) -> dict[str, Any]:
        """The run's accuracy table: the paper's columns for CrossOmni runs, categories otherwise."""
        metrics = self.metrics
        if "single" in metrics:
            keys = [*PAPER_COLUMNS, *SUMMARY_COLUMNS]
            header = [TASKS[k].short if k in TASKS else k.capitalize() for k in keys]
            counts = [metrics.get(f"count_{k}", "") if k in TASKS else "" for k in keys]
        else:
            categories = sorted(key[4:] for key in metrics if key.startswith("acc_"))
            keys = [f"acc_{c}" for c in categories] + ["overall"]
            header = [*categories, "Overall"]
            counts = [metrics.get(f"count_{c}", "") for c in categories] + [metrics.get("count", "")]
        return {
            "header": ["", *header],
            "rows": [["accuracy (%)", *(percent(metrics.get(k)) for k in keys)], ["items", *counts]],
        }

    def state(self) -> dict[str, Any]:
        records = list(self.records.values())
        correct = sum(bool(r["correct"]) for r in records)
        unparsed = sum(r.get("extracted") is None for r in records)
        identity = self.meta.get("identity", {})
        return {
            "title": f"Run {run_label(self.meta, self.run_dir)}: {identity.get('model', '?')}",
            "summary": f"{len(records):,} items, {correct:,} correct, {len(records) - correct:,} wrong "
            f"({unparsed:,} parse failures); status {self.meta.get('status', '?')}",
            "table": self.table(),
            "plots": self.plots,
            "tasks": sorted({r["task_type"] for r in records}, key=lambda t: (t not in TASKS, t)),
            "items": [
                {
                    "id": r["id"],
                    "task_type": r["task_type"],
                    "correct": bool(r["correct"]),
                    "parsed": r.get("extracted") is not None,
                }
                for r in records
            ],
            "notes": self.notes,
        }

    def item(self, item_id: str) -> dict[str, Any]:
        record = self.records.get(item_id)
        if record is None:
            raise ApiError(f"unknown item {item_id!r}", 404)
        text = self.texts.get(item_id, ItemText())
        video, audio = self._video(record, text), self._audio(record, text)
        url = self.urls.get(video) if video else None
        audio_url = self.urls.get(audio) if audio and audio != video else None
        return {
            "id": item_id,
            "task_type": record["task_type"],
            "task": {"short": TASKS[record["task_type"]].short} if record["task_type"] in TASKS else None,
            "clip_id": record.get("clip_id", ""),
            "question": _text(record.get("question")) or text.question or "(question not recorded; see the notes)",
            "biography": _text(record.get("biography")) or text.biography,
            "options": record["options"],
            "answer": record["answer"],
            "raw_output": record["raw_output"],
            "extracted": record.get("extracted"),
            "correct": bool(record["correct"]),
            "start": _seconds(record.get("start"), text.start),
            "end": _seconds(record.get("end"), text.end),
            "clip": {
                "url": url,
                "audio_url": audio_url,
                "duration": None,
                "missing": None if url else self._missing(record, video),
            },
        }

    def api_get(self, name: str, query: Mapping[str, str]) -> Any:
        if name == "state":
            return self.state()
        if name == "item":
            return self.item(query.get("id", ""))
        raise ApiError(f"no such endpoint: {name}", 404)

    def api_post(self, name: str, body: Mapping[str, Any]) -> Any:
        raise ApiError("the run viewer is read-only", 405)
