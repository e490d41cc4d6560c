"""CrossOmni splits for training: loading (export folder, Hub id or release), media files, GRPO prompts, sampling."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossomni
from model_calls.media import embedded_media_file

logger = logging.getLogger(__name__)

BALANCE_KEYS: tuple[str, ...] = ("task_type", "source_modality", "target_modality")


@dataclass
class DataSource:
    """Where a CrossOmni split comes from.

    ``dataset_name`` is an exported folder or Hub dataset id (``load_dataset``); alternatively
    ``release_dir`` is an annotation release read with the ``CrossOmni`` builder. ``tvqa_root``
    resolves reference-mode media (clip paths relative to the user's TVQA copy).
    """

    dataset_name: str | None = None
    dataset_config: str = crossomni.DEFAULT_CONFIG_NAME
    split: str = "train"
    release_dir: str | None = None
    tvqa_root: str | None = None
    cache_dir: str | None = None


def is_synthetic(source: DataSource) -> bool:
    """Whether the split is the project's generated sample: ``synthetic`` in the release's ``release.json``, or
    the ``synthetic`` tag of the export's dataset card (a local folder or a Hub repo; unreadable: not known, False)."""
    import json

    if source.release_dir:
        manifest = Path(source.release_dir) / "release.json"
        return manifest.is_file() and bool(json.loads(manifest.read_text(encoding="utf-8")).get("synthetic"))
    if not source.dataset_name:
        return False
    from huggingface_hub import DatasetCard

    local = Path(source.dataset_name).expanduser()
    card_path = local / "README.md" if local.is_dir() else None
    if local.exists() and card_path is None:
        return False
    try:
        card = DatasetCard.load(card_path or source.dataset_name, repo_type="dataset")
    except (OSError, ValueError) as err:  # offline, no card, a card without YAML
        logger.info("cannot read the dataset card of %s (%s): not marked synthetic", source.dataset_name, err)
        return False
    return crossomni.SYNTHETIC_TAG in (card.data.to_dict().get("tags") or [])


def load_split(source: DataSource):
    """The split as a ``datasets.Dataset`` with undecoded media (``{"path", "bytes"}``) and a ``task_name`` column."""
    import datasets

    if source.dataset_config not in crossomni.CONFIG_NAMES:
        raise ValueError(
            f"unknown dataset_config {source.dataset_config!r}; expected one of {', '.join(crossomni.CONFIG_NAMES)}"
        )
    if source.release_dir:
        builder = crossomni.CrossOmni(
            config_name=source.dataset_config,
            release_dir=source.release_dir,
            data_dir=source.tvqa_root,
            cache_dir=source.cache_dir,
        )
        builder.download_and_prepare()
        dataset = builder.as_dataset(split=source.split)
    elif source.dataset_name:
        crossomni.check_not_release(source.dataset_name, "dataset_name")
        dataset = datasets.load_dataset(
            source.dataset_name, source.dataset_config, split=source.split, cache_dir=source.cache_dir
        )
        if source.tvqa_root:
            dataset = crossomni.resolve_media(dataset, source.tvqa_root)
    else:
        raise ValueError("set dataset_name (exported folder or Hub id) or release_dir (annotation release)")
    dataset = dataset.cast_column("video", datasets.Video(decode=False))
    dataset = dataset.cast_column("audio", datasets.Audio(decode=False))
    names = dataset.features["task_type"]
    if isinstance(names, datasets.ClassLabel):
        dataset = dataset.map(lambda row: {"task_name": names.int2str(row["task_type"])}, desc="task names")
    else:
        dataset = dataset.map(lambda row: {"task_name": row["task_type"]}, desc="task names")
    return dataset


def media_file(media: dict[str, Any], row_id: str, cache_dir: str | Path) -> str:
    """A local path for a media value: its own path, or (embed mode) its bytes written once under ``cache_dir``."""
    if media.get("bytes"):
        return str(embedded_media_file(media["bytes"], media.get("path"), cache_dir))
    if media.get("path") and Path(media["path"]).is_file():
        return str(media["path"])
    raise FileNotFoundError(
        f"instance {row_id}: media {media.get('path')!r} not found; pass tvqa_root for a reference-mode export"
    )


def balanced_sample(dataset, size: int, seed: int, by: str = "task_type"):
    """``size`` rows spread as evenly as possible over the values of ``by``; the same seed gives the same rows.

    Groups smaller than their share give their remainder to the others (largest groups first).
    """
    if by not in BALANCE_KEYS:
        raise ValueError(f"balance_by must be one of {BALANCE_KEYS}, got {by!r}")
    column = "task_name" if by == "task_type" else by
    groups: dict[str, list[int]] = defaultdict(list)
    for index, value in enumerate(dataset[column]):
        groups[str(value)].append(index)
    if size >= len(dataset):
        if size > len(dataset):
            logger.warning("asked for %d instances but the split has %d: using all of them", size, len(dataset))
        return dataset.shuffle(seed=seed)
    rng = random.Random(seed)
    for value in sorted(groups):
        rng.shuffle(groups[value])
    quota = dict.fromkeys(groups, 0)
    remaining = size
    open_groups = sorted(groups)
    while remaining > 0 and open_groups:
        share = max(1, remaining // len(open_groups))
        for value in list(open_groups):
            take = min(share, len(groups[value]) - quota[value], remaining)
            quota[value] += take
            remaining -= take
            if quota[value] == len(groups[value]):
                open_groups.remove(value)
            if remaining == 0:
                break
    chosen = [index for value in sorted(groups) for index in groups[value][: quota[value]]]
    rng.shuffle(chosen)
    return dataset.select(chosen)


def arrow_safe(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages whose every content is a list of parts (an Arrow column cannot mix strings and lists)."""
    return [
        {**m, "content": [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]}
        for m in messages
    ]


def with_prompts(dataset, media_cache: str | Path, prompt: Any, preset: Any):
    """Add the conversational ``prompt`` column GRPO generates from (media as local paths); drop the media columns.

    ``prompt`` is a ``training.prompting.TrainingPrompt``, ``preset`` the run's input preset: the
    conversations are those evaluation sends for the same rows.
    """

    def build(row: dict[str, Any]) -> dict[str, Any]:
        path = media_file(row["video"], row["id"], media_cache)
        return {"prompt": arrow_safe(prompt.messages(row, path, preset))}

    return dataset.map(build, remove_columns=["video", "audio"], desc="GRPO prompts")
