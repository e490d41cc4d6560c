"""The main job on the embedded sample, end to end: generate the TVQA-format sample, export its
annotation release as a Hub-ready folder, load it back with ``datasets.load_dataset``, check the
media decode, score the no-model baselines with the ``crossomni_acc`` metric, print the table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crossomni
from model_calls.outputs import check_output_dir

SAMPLE_RELEASE = Path(__file__).resolve().parent / "sample" / "release"


@dataclass
class DemoResult:
    """What the demo produced: where things are, and the metric dict per baseline."""

    tvqa_root: Path
    export_dir: Path
    num_rows: dict[str, int]
    media_check: dict[str, Any]
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


def load_metric():
    """The ``crossomni_acc`` metric module, loaded by path with ``evaluate``."""
    import evaluate

    from builder.export import METRIC_DIR

    return evaluate.load(str(METRIC_DIR))


def run_demo(
    workdir: str | Path = "build/demo", split: str = "test", config: str = "all", overwrite: bool = False
) -> DemoResult:
    """Run the sample end to end in ``workdir`` and return the scores. ``overwrite`` lets the export replace
    a ``workdir/crossomni`` folder it did not write (one from before export left its marker)."""
    if split not in crossomni.SPLITS:
        raise ValueError(f"--split {split!r} is not one of {', '.join(crossomni.SPLITS)}")
    from datasets import load_dataset

    from builder.export import export_release
    from builder.sample.generate import generate_sample_tvqa
    from evaluation.baselines import BASELINES

    started = time.perf_counter()
    workdir = Path(workdir)
    export_dir = workdir / "crossomni"
    # Checked before anything is written, with the demo's own spellings in the message.
    check_output_dir(export_dir, "export", overwrite=overwrite, replace=True, option="the demo's export folder")
    tvqa_root = generate_sample_tvqa(workdir / "tvqa", option="the demo's sample TVQA root")
    export_release(SAMPLE_RELEASE, export_dir, tvqa_root=tvqa_root, overwrite=overwrite)
    loaded = load_dataset(str(export_dir), config)
    dataset = crossomni.resolve_media(loaded[split], tvqa_root)
    first = dataset[0]
    frames = first["video"].get_frames_in_range(0, 3).data
    audio = first["audio"].get_all_samples()
    media_check = {
        "clip_id": first["clip_id"],
        "frames": tuple(frames.shape),
        "audio_seconds": round(audio.data.shape[-1] / audio.sample_rate, 2),
        "sample_rate": audio.sample_rate,
    }
    metric = load_metric()
    # Text columns only: the baselines never look at the media.
    rows = dataset.select_columns(["question", "options", "biography", "answer", "task_type", "clip_id"])
    names = rows.features["task_type"].names
    task_types = [names[i] for i in rows["task_type"]]
    result = DemoResult(tvqa_root, export_dir, {s: len(loaded[s]) for s in loaded}, media_check)
    for name, baseline in BASELINES.items():
        predictions = [baseline(row) for row in rows]
        result.scores[name] = metric.compute(
            predictions=predictions, references=rows["answer"], task_types=task_types, clip_ids=rows["clip_id"]
        )
    result.seconds = time.perf_counter() - started
    return result


def render_table(scores: dict[str, dict[str, Any]]):
    """A rich table in the paper's layout: task columns grouped by source, then single/cross/overall."""
    from rich.table import Table

    table = Table(title="CrossOmni sample — no-model baselines (accuracy %)")
    table.add_column("metric", no_wrap=True)
    for name in scores:  # long baseline names wrap at their underscores instead of being cut at 80 columns
        table.add_column(name.replace("_", " "), justify="right", overflow="fold")
    keys = [task for group in crossomni.PAPER_COLUMN_GROUPS.values() for task in group]
    for key in [*keys, "single", "cross", "overall", "parse_failure_rate"]:
        label = crossomni.TASKS[key].short if key in crossomni.TASKS else key.replace("_", " ")
        table.add_row(label, *(f"{100 * scores[name][key]:.1f}" for name in scores))
    return table
