"""Where a model or dataset name points: a local folder, or a Hub id that may be unreachable.

Used before loading, so a typo gives "no such folder" instead of a long Hub connection traceback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# ORG/NAME or a bare legacy NAME; the Hub's own rule is stricter, this only tells paths from ids.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?$")


def is_repo_id(name: str) -> bool:
    """``ORG/NAME`` on the Hub (a namespaced repo id), not a path on this machine.

    >>> is_repo_id("Qwen/Qwen2.5-Omni-3B"), is_repo_id("/tmp/model"), is_repo_id("gpt2")
    (True, False, False)
    """
    parts = name.split("/")
    return len(parts) == 2 and looks_like_hub_id(name) and not Path(name).expanduser().exists()


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def looks_like_hub_id(name: str) -> bool:
    return bool(_HUB_ID.match(name)) and not name.startswith((".", "/", "~"))


def check_source(name: str, what: str) -> None:
    """Raise ``FileNotFoundError`` naming ``what`` when ``name`` is neither a folder nor a reachable Hub id.

    A Hub id is only refused when the Hub is switched off (``HF_HUB_OFFLINE``) and the id is not in the
    local cache; with a network the loader itself decides.
    """
    path = Path(name).expanduser()
    if path.exists():
        return
    if not looks_like_hub_id(name):
        raise FileNotFoundError(f"{what} {name!r}: no such folder (and not a Hub id like ORG/NAME)")
    if hub_offline() and not _in_hub_cache(name):
        raise FileNotFoundError(
            f"{what} {name!r}: no such folder, and the Hub is offline (HF_HUB_OFFLINE=1) with no cached copy"
        )


def _in_hub_cache(name: str) -> bool:
    from huggingface_hub import constants

    folder = name.replace("/", "--")
    root = Path(constants.HF_HUB_CACHE)
    return any((root / f"{kind}--{folder}").is_dir() for kind in ("models", "datasets", "spaces"))
