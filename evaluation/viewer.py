"""``crossomni eval view RUN_DIR``: a local page over one evaluation run, item by item.

Per item: the clip, question, options, the model's raw output, the letter read from it and
whether it is right; filters (wrong only, parse failures, task); the run's accuracy table and
plots at the top. ``predictions.jsonl`` records the options, answer and output; the question,
biography and clip come from the record when it carries them, else from the dataset the run
names in ``run.json`` (or ``--dataset``), read with the same item builder the runner used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crossomni import TASKS
from evaluation.items import Item, MCQColumns, PreflightError, crossomni_items, mcq_items
from evaluation.report import PAPER_COLUMNS, SUMMARY_COLUMNS, load_run, percent, run_label
from evaluation.web.server import ApiError, contained_file, file_url

RUN_ROOT, MEDIA_ROOT = "run", "media"


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


class ViewerApp:
    """Answers the run viewer: the run's summary, table and plots, the item list, one item in full."""

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
        self.roots = {RUN_ROOT: self.run_dir}
        media = tvqa_root or media_root
        if media:
            self.roots[MEDIA_ROOT] = Path(media)
        self.notes: list[str] = []
        self.texts: dict[str, ItemText] = {}
        if any("question" not in r or "video" not in r for r in records):
            self.texts, self.notes = dataset_items(self.meta, self.run_dir, dataset, tvqa_root, media_root)

    def _url(self, path: str | None) -> str | None:
        """The served URL of a local media file, when it lies under one of the served roots."""
        if not path:
            return None
        for name, root in self.roots.items():
            try:
                relative = Path(path).resolve().relative_to(root.resolve())
            except ValueError:
                continue
            if contained_file(root, relative.as_posix()) is not None:
                return file_url(name, relative)
        return None

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
        plots = sorted((self.run_dir / "plots").glob("*.png")) if (self.run_dir / "plots").is_dir() else []
        identity = self.meta.get("identity", {})
        return {
            "title": f"Run {run_label(self.meta, self.run_dir)}: {identity.get('model', '?')}",
            "summary": f"{len(records):,} items, {correct:,} correct, {len(records) - correct:,} wrong "
            f"({unparsed:,} parse failures); status {self.meta.get('status', '?')}",
            "table": self.table(),
            "plots": [file_url(RUN_ROOT, p.relative_to(self.run_dir)) for p in plots],
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
        video = record.get("video") if isinstance(record.get("video"), str) else text.video
        url = self._url(video)
        missing = None
        if url is None:
            missing = f"clip {record.get('clip_id', '?')}: " + (
                f"{video} is not under the served roots (pass --tvqa-root or --media-root)"
                if video
                else "no clip known (see the notes at the top)"
            )
        audio = text.audio if text.audio and text.audio != video else None
        return {
            "id": item_id,
            "task_type": record["task_type"],
            "task": {"short": TASKS[record["task_type"]].short} if record["task_type"] in TASKS else None,
            "clip_id": record.get("clip_id", ""),
            "question": record.get("question") or text.question or "(question not recorded; see the notes)",
            "biography": record.get("biography") or text.biography,
            "options": record["options"],
            "answer": record["answer"],
            "raw_output": record["raw_output"],
            "extracted": record.get("extracted"),
            "correct": bool(record["correct"]),
            "start": record.get("start", text.start),
            "end": record.get("end", text.end),
            "clip": {"url": url, "audio_url": self._url(audio), "duration": None, "missing": missing},
        }

    def api_get(self, name: str, query: Mapping[str, str]) -> Any:
        if name == "state":
            return self.state()
        if name == "item":
            return self.item(query.get("id", ""))
        raise ApiError(f"no such endpoint: {name}", 404)

    def api_post(self, name: str, body: Mapping[str, Any]) -> Any:
        raise ApiError("the run viewer is read-only", 405)
