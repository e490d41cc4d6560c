"""Readers of a TVQA root: QA files, subtitles, clip media and show names.

Names are loaded from their submodule on first use, so that importing one light submodule
(``builder.tvqa.layout`` from the build configuration, say) does not pull in the media stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("ClipMedia", "MediaLayout", "locate_media", "lookup_media"), "layout"),
    **dict.fromkeys(("audio_duration", "mux_frames", "probe_duration"), "media"),
    **dict.fromkeys(("TvqaQuestion", "find_qa_files", "iter_qa_files", "read_qa_file", "safe_vid_name"), "qa"),
    **dict.fromkeys(("ClipInputs", "TvqaRoot", "TvqaRootError", "timestamp_problem"), "root"),
    **dict.fromkeys(("SHOWS", "resolve_show", "show_name", "show_prefix"), "shows"),
    **dict.fromkeys(("Cue", "SubtitleError", "SubtitleIndex", "read_subtitles"), "subtitles"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
