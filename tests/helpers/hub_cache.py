"""A Hugging Face Hub cache on disk holding a few JSON files of a repo, for offline "is this the Hub model?" checks.

``fake_hub_config(monkeypatch, root, "org/name", config)`` (``fake_hub_files`` for other files) lays out
the cache the way ``huggingface_hub`` does (``models--org--name/snapshots/<rev>/config.json`` +
``refs/main``) and points the cache at ``root``; ``AutoConfig.from_pretrained("org/name",
local_files_only=True)`` then finds it with no network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REVISION = "0123456789abcdef0123456789abcdef01234567"


def fake_hub_config(monkeypatch: pytest.MonkeyPatch, root: Path, repo_id: str, config: dict[str, Any]) -> Path:
    """Write ``config`` as the cached ``config.json`` of ``repo_id`` under ``root/hub``; returns the snapshot."""
    return fake_hub_files(monkeypatch, root, repo_id, {"config.json": config})


def fake_hub_files(monkeypatch: pytest.MonkeyPatch, root: Path, repo_id: str, files: dict[str, Any]) -> Path:
    """Cache JSON ``files`` (name -> payload) as the snapshot of ``repo_id`` under ``root/hub``; returns it."""
    import huggingface_hub.constants

    hub = root / "hub"
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (snapshot / name).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION, encoding="utf-8")
    monkeypatch.setenv("HF_HOME", str(root))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    # huggingface_hub reads the variables once, at import: its constant is what lookups use.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    return snapshot
