"""``crossomni lmms-tasks``: where the lmms-eval task folder is (optionally a copy reading another dataset)."""

import hashlib
import os
import re
from pathlib import Path

import typer

from crossomni import check_not_release
from evaluation.lmms_tasks import TASKS_DIR, check_media, write_task_folder
from model_calls.outputs import check_output_dir, claim_output_dir
from model_calls.sources import is_repo_id


def default_copy_dir(dataset: str) -> Path:
    """A stable per-dataset folder under the user's cache (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(dataset).name or "dataset")
    digest = hashlib.sha256(dataset.encode("utf-8")).hexdigest()[:10]
    return cache / "crossomni" / "lmms_tasks" / f"{label}-{digest}"


def lmms_tasks(
    dataset: str = typer.Option(
        None,
        help="Hub dataset id (ORG/crossomni) or exported folder the tasks read; without it, the shipped folder "
        "(it reads ./crossomni, the default export).",
    ),
    out: str = typer.Option(None, help="Folder for the configured copy (default: under ~/.cache/crossomni)."),
    check_media_files: bool = typer.Option(
        True,
        "--check-media/--no-check-media",
        help="First check that every clip the tasks read is under CROSSOMNI_MEDIA_ROOT (exit 1 naming the first "
        "missing one); --no-check-media when lmms-eval runs on another machine.",
    ),
) -> None:
    """Print the lmms-eval task folder for `lmms-eval --include_path` (media root: CROSSOMNI_MEDIA_ROOT)."""
    if dataset is None:
        if out is not None:
            raise typer.BadParameter("--out needs --dataset")
        typer.echo(str(TASKS_DIR))
        return
    local = Path(dataset).expanduser()
    if not local.is_dir() and not is_repo_id(dataset):
        raise typer.BadParameter(f"{dataset!r} is neither an exported dataset folder nor a Hub id ORG/NAME")
    check_not_release(dataset)
    if out:  # a folder the user named: new, empty or an earlier copy (lmms-eval reads every YAML in it)
        check_output_dir(out, "lmms-tasks", flag=None)
    if check_media_files:
        check_media(dataset)  # a missing clip: one `error:` line from the command root, exit 1
    key = str(local.resolve()) if local.is_dir() else dataset
    if out:
        claim_output_dir(out, "lmms-tasks", flag=None)
    typer.echo(str(write_task_folder(Path(out) if out else default_copy_dir(key), dataset)))
