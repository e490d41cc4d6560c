"""Upload an exported CrossOmni folder to the Hub as a dataset repo (token from the environment
or ``hf auth login``; it is never printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def push_dataset(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload CrossOmni export",
    api: Any = None,
) -> str:
    """Create ``repo_id`` (a dataset repo) if needed and upload ``folder``; returns the repo URL.

    ``api`` defaults to ``huggingface_hub.HfApi()``, which reads ``HF_TOKEN`` or the stored login.
    """
    folder = Path(folder)
    if "/" not in repo_id:
        raise ValueError(f"repo id {repo_id!r} must look like ORG/NAME")
    if not (folder / "README.md").is_file() or not (folder / "data").is_dir():
        raise FileNotFoundError(
            f"{folder}: not an exported CrossOmni folder (needs README.md and data/); run `crossomni export`"
        )
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    repo = api.create_repo(repo_id=repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message=commit_message,
        allow_patterns=["README.md", "data/**"],
    )
    return str(getattr(repo, "url", repo))
