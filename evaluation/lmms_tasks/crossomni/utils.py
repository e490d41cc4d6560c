"""lmms-eval hooks of the CrossOmni tasks: the clip's mp4, our default prompt, our answer reader, accuracy.

lmms-eval loads this file next to the task YAMLs (``!function utils.NAME``). The media root is
read from ``CROSSOMNI_MEDIA_ROOT`` (YAML values do not expand environment variables): a
``reference`` export stores clip paths relative to the TVQA root, and every path is resolved and
checked once, in ``process_docs``, before the model sees anything. A path that names a place
outside the root (absolute, or climbing out with ``..``) is refused.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import datasets

import crossomni
from evaluation.crossomni_acc.answer_extraction import extract_choice
from evaluation.crossomni_acc.scoring import task_name
from evaluation.prompting import DEFAULT_VERSION, render_prompt
from model_calls.media import embedded_media_file

MEDIA_ROOT_ENV = "CROSSOMNI_MEDIA_ROOT"
# Qwen2.5-Omni's lmms-eval wrapper feeds the audio track only for a path with one of these suffixes.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov")
MEDIA_PATH = "media_path"
EMBED_CACHE = Path(tempfile.gettempdir()) / "crossomni-lmms-media"


def media_root() -> Path | None:
    """The folder named by ``CROSSOMNI_MEDIA_ROOT`` (None when unset); a missing folder is an error."""
    value = os.environ.get(MEDIA_ROOT_ENV, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{MEDIA_ROOT_ENV}={value}: not a folder (it must be the TVQA root of the export)")
    return root


def contained_path(relative: str, root: Path, clip_id: str) -> Path:
    """``root / relative`` if that stays inside ``root`` (``crossomni.contained_path``) and is a file."""
    try:
        joined = crossomni.contained_path(root, relative, f"clip {clip_id}")
    except crossomni.UnsafePathError:
        raise ValueError(f"clip {clip_id}: media path {relative!r} leaves the media root {root}; refused") from None
    if not joined.is_file():
        raise FileNotFoundError(f"clip {clip_id}: media file {relative!r} not found under {MEDIA_ROOT_ENV}={root}")
    return joined


def clip_media_path(clip_id: str, video: dict[str, Any], audio: dict[str, Any], root: Path | None) -> str:
    """Absolute path of the one file carrying the clip's frames and its audio track."""
    video_name, audio_name = str(video.get("path") or ""), str(audio.get("path") or "")
    # an embed export keeps the whole clip in ``video`` and a copy of its audio track as <clip>.m4a
    track_copy = bool(video.get("bytes")) and audio_name == str(Path(video_name).with_suffix(".m4a"))
    separate_bytes = audio.get("bytes") and video.get("bytes") and audio["bytes"] != video["bytes"]
    if not track_copy and (audio_name != video_name or separate_bytes):
        raise ValueError(
            f"clip {clip_id}: audio {audio.get('path')!r} is not the video's own track {video.get('path')!r}; "
            "the lmms-eval task hands the model one video file with its audio (mux them first)"
        )
    if video.get("bytes"):
        path = embedded_media_file(video["bytes"], video.get("path"), EMBED_CACHE)
    else:
        if root is None:
            raise ValueError(
                f"clip {clip_id}: media are referenced ({video.get('path')!r}); "
                f"set {MEDIA_ROOT_ENV} to the TVQA root the clip paths are relative to"
            )
        path = contained_path(video["path"], root, clip_id)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"clip {clip_id}: {path.name} is not an {'/'.join(VIDEO_SUFFIXES)} file")
    return str(path)


def process_docs(dataset: datasets.Dataset) -> datasets.Dataset:
    """Resolve every clip once: drop the media columns (never decoded) for a ``media_path`` string."""
    raw = dataset.cast_column("video", datasets.Video(decode=False)).cast_column("audio", datasets.Audio(decode=False))
    root = media_root()
    paths: dict[tuple[str, str | None], str] = {}
    column: list[str] = []
    for row in raw.select_columns(["clip_id", "video", "audio"]):
        key = (row["clip_id"], row["video"].get("path"))
        if key not in paths:
            paths[key] = clip_media_path(row["clip_id"], row["video"], row["audio"], root)
        column.append(paths[key])
    return raw.remove_columns(["video", "audio"]).add_column(MEDIA_PATH, column)


def doc_to_visual(doc: dict[str, Any]) -> list[str]:
    """The clip's video file (with its audio track): one string path, as the omni wrappers expect."""
    return [doc[MEDIA_PATH]]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """Our prompt for the instance (``crossomni eval --prompting default`` renders the same text)."""
    kwargs = lmms_eval_specific_kwargs or {}
    return render_prompt(doc, kwargs.get("prompting", "default"), kwargs.get("prompt_version", DEFAULT_VERSION))


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    """Read the letter with the ``crossomni_acc`` extractor; the record is what lmms-eval logs per sample."""
    response = results[0] if results else None
    choice = extract_choice(response, list(doc["options"]))
    return {
        "acc": {
            "id": doc["id"],
            "task": task_name(doc["task_type"], 0),
            "clip_id": doc["clip_id"],
            "answer": doc["answer"],
            "extracted": choice,
            "correct": choice is not None and choice == doc["answer"],
        }
    }


def accuracy(records: list[dict[str, Any]]) -> float:
    """Fraction of records whose extracted letter is the answer (an unreadable response is wrong)."""
    if not records:
        return float("nan")
    return sum(bool(record["correct"]) for record in records) / len(records)
