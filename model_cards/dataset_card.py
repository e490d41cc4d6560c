"""The dataset card (``README.md``) of an exported CrossOmni folder, from ``DatasetCardData``
and the shipped Jinja template; its YAML ``configs:`` are what ``load_dataset`` reads."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import datasets

import crossomni
from model_cards import save_card

TEMPLATE = "dataset_card.md.jinja"
FIELD_MEANINGS: dict[str, str] = {
    "id": "unique instance id",
    "clip_id": "TVQA clip name (`vid_name`)",
    "show": "TV show",
    "start": "segment start within the clip, seconds",
    "end": "segment end within the clip, seconds",
    "video": "the clip: its frames and its audio track",
    "audio": "the clip's audio track, 16 kHz mono",
    "biography": "text biographies of the people in the clip and of as many people of the show who are not in it",
    "question": "the question",
    "options": "four answer options, A–D in order",
    "answer": "the correct letter, A–D",
    "rationale": "four-step reasoning chain (train only; empty on test)",
    "task_type": "one of the nine task types",
    "source_modality": "modality the referent is found in",
    "target_modality": "modality the answer is read from",
    "is_cross": "source ≠ target",
    "referent": "name of the person the question is about",
}


@dataclass
class DatasetCardFacts:
    """What the card reports about an export: media mode, counts per split and task, files per config."""

    media: str
    counts: dict[str, Counter] = field(default_factory=dict)  # split -> task -> instances
    files: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # config -> split -> its tasks' shards
    # True: every config reads the same clip-grouped shards per split (embed mode), not its tasks' own shards
    shared_shards: bool = False
    # config -> the task types it keeps from those shared shards (a config of every task written keeps all)
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clips: dict[str, int] = field(default_factory=dict)  # split -> distinct clips
    num_bytes: dict[tuple[str, str], int] = field(default_factory=dict)  # (config, split) -> parquet bytes
    review: dict[str, dict[str, int]] | None = None  # task -> instances, reviewed, rejected (None: no review)
    # the build's shortcut audit (builder/audit.py), when the export does not pass it: release.json's
    shortcut_audit: dict[str, Any] | None = None
    # config -> the splits it has no rows in (left out of its data_files; a config with none is left out)
    empty: dict[str, list[str]] = field(default_factory=dict)


def size_category(n: int) -> str:
    """The Hub's size bucket for ``n`` rows."""
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return label
    return "n>1M"


def _dtype(feature: Any) -> str:
    """A short human name for a feature type, for the card's field table."""
    ds = datasets
    if isinstance(feature, ds.Value):
        return feature.dtype
    if isinstance(feature, ds.ClassLabel):
        return f"ClassLabel ({feature.num_classes} names)"
    if isinstance(feature, ds.Audio):
        return f"Audio ({feature.sampling_rate} Hz)"
    if isinstance(feature, ds.List):
        return f"list of {feature.length} {_dtype(feature.feature)}"
    return type(feature).__name__


def card_data(summary: DatasetCardFacts, manifest: dict[str, Any]):
    """The YAML metadata of the card: configs (data files per split), features, licence, sizes."""
    from huggingface_hub import DatasetCardData

    features_yaml = datasets.DatasetInfo(features=crossomni.FEATURES)._to_yaml_dict()["features"]
    configs = []
    infos = []
    for config, splits in summary.files.items():
        entry: dict[str, Any] = {"config_name": config}
        if config == crossomni.DEFAULT_CONFIG_NAME:
            entry["default"] = True
        # Rows are stored once: a config lists the shards of its tasks, and keeps only its tasks' rows
        # of shards it shares (``filters``: a parquet builder parameter, applied by ``load_dataset``).
        entry["data_files"] = [{"split": split, "path": list(paths)} for split, paths in splits.items()]
        if config in summary.filters:
            entry["filters"] = [["task_type", "in", [crossomni.TASK_NAMES.index(t) for t in summary.filters[config]]]]
        configs.append(entry)
        tasks = crossomni.CONFIG_TASKS[config]
        infos.append(
            {
                "config_name": config,
                "features": copy.deepcopy(features_yaml),
                "splits": [
                    {
                        "name": split,
                        "num_bytes": summary.num_bytes[(config, split)],
                        "num_examples": sum(summary.counts[split][t] for t in tasks),
                    }
                    for split in splits
                ],
            }
        )
    total = sum(sum(c.values()) for c in summary.counts.values())
    return DatasetCardData(
        pretty_name=manifest.get("pretty_name", "CrossOmni"),
        language=["en"],
        license="cc-by-4.0",
        task_categories=["video-text-to-text", "question-answering", "multiple-choice"],
        size_categories=[size_category(total)],
        source_datasets=["original"] if manifest.get("synthetic") else ["extended|tvqa"],
        tags=["omni-modal", "audio-visual", "cross-modal-coreference", "multiple-choice"]
        + ([crossomni.SYNTHETIC_TAG] if manifest.get("synthetic") else ["tvqa"]),
        configs=configs,
        dataset_info=infos,
    )


def render_dataset_card(summary: DatasetCardFacts, manifest: dict[str, Any], repo_id: str = "ORG/crossomni"):
    """A ``DatasetCard`` for an export summary."""
    from huggingface_hub import DatasetCard

    template = resources.files("model_cards.templates").joinpath(TEMPLATE)
    with resources.as_file(template) as template_path:
        return DatasetCard.from_template(
            card_data(summary, manifest),
            template_path=str(template_path),
            repo_id=repo_id,
            homepage="https://arxiv.org/abs/2604.05522",
            release_description=manifest.get("description", ""),
            synthetic=bool(manifest.get("synthetic", False)),
            media=summary.media,
            media_root=manifest.get("media_root", "tvqa"),
            configs=[(name, crossomni.CONFIG_DESCRIPTIONS[name]) for name in summary.files],
            configs_written=list(summary.files),
            empty=summary.empty,
            config_tasks={name: crossomni.CONFIG_TASKS[name] for name in summary.files},
            shared_shards=summary.shared_shards,
            filters=summary.filters,
            tasks=crossomni.TASK_TYPES,
            splits=list(crossomni.SPLITS),
            counts=summary.counts,
            totals={split: sum(summary.counts[split].values()) for split in crossomni.SPLITS},
            clips=summary.clips,
            review=summary.review,
            fields=[(name, _dtype(f), FIELD_MEANINGS.get(name, "")) for name, f in crossomni.FEATURES.items()],
            citation=crossomni._CITATION.strip(),
            shortcut_audit=summary.shortcut_audit or manifest.get("shortcut_audit"),
        )


def write_dataset_card(folder: str | Path, summary: DatasetCardFacts, manifest: dict[str, Any]) -> Path:
    """Render the card into ``folder/README.md`` (replacing an older one) and return its path."""
    card = render_dataset_card(summary, manifest, manifest.get("repo_id", "ORG/crossomni"))
    return save_card(card, Path(folder) / "README.md")
